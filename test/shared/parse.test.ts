import { decodeLogsSubscription, expandDocument, PayloadError, parseRecord } from '../../shared/events/parse';
import { cloudTrailEvent, fixture, invocationLog, logsSubscription } from '../fixtures';

const rules = { perSessionRoles: ['AWSReservedSSO_*'] };

describe('parsing CloudTrail events from EventBridge', () => {
  it('reads an IAM user InvokeModel call without tokens', () => {
    const parsed = parseRecord(fixture('eventbridge-cloudtrail-invokemodel-iamuser'), rules);
    expect(parsed).toEqual({
      status: 'call',
      call: expect.objectContaining({
        requestId: '0a1b2c3d-0001-4e5f-8a9b-111111111111',
        source: 'cloudtrail',
        operation: 'InvokeModel',
        modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
        region: 'us-east-1',
        time: '2026-11-20T14:03:09.000Z',
        principal: expect.objectContaining({ id: 'user/alice' }),
      }),
    });
    expect(parsed.status === 'call' && parsed.call.tokens).toBeUndefined();
  });

  it('charges a role session to the role, targeting the role ARN from the session issuer', () => {
    const parsed = parseRecord(fixture('eventbridge-cloudtrail-converse-assumedrole'), rules);
    expect(parsed.status === 'call' && parsed.call.principal).toMatchObject({
      id: 'role/summarizer-app',
      arn: 'arn:aws:iam::111122223333:role/summarizer-app',
    });
  });

  it('identifies a long-term API key caller', () => {
    const parsed = parseRecord(fixture('eventbridge-cloudtrail-apikey'), rules);
    expect(parsed.status === 'call' && parsed.call.principal).toMatchObject({ kind: 'api-key' });
  });

  it('ignores calls that failed (they are not billed) and non-runtime operations', () => {
    const failed = cloudTrailEvent('r-1', 'arn:aws:iam::111122223333:user/alice') as {
      detail: Record<string, unknown>;
    };
    failed.detail.errorCode = 'AccessDenied';
    expect(parseRecord(failed, rules)).toEqual({ status: 'ignored', reason: 'call failed with AccessDenied' });
    const listing = cloudTrailEvent('r-2', 'arn:aws:iam::111122223333:user/alice') as {
      detail: Record<string, unknown>;
    };
    listing.detail.eventName = 'ListFoundationModels';
    expect(parseRecord(listing, rules).status).toBe('ignored');
  });

  it('accepts a bare CloudTrail record as EventBridge would wrap it', () => {
    const { detail } = fixture<{ detail: unknown }>('eventbridge-cloudtrail-apikey');
    expect(parseRecord(detail, rules).status).toBe('call');
  });

  it('rejects an event without request id with a reason naming the field', () => {
    const event = cloudTrailEvent('', 'arn:aws:iam::111122223333:user/alice');
    expect(parseRecord(event, rules)).toEqual({ status: 'invalid', error: expect.stringMatching(/detail\.requestID/) });
  });
});

describe('parsing model invocation logs', () => {
  it('reads tokens of an Anthropic InvokeModel record', () => {
    const parsed = parseRecord(fixture('invocation-log-invokemodel-anthropic'), rules);
    expect(parsed.status === 'call' && parsed.call).toMatchObject({
      source: 'invocation-log',
      principal: { id: 'user/alice' },
      tokens: { input: 1200, output: 340, cacheRead: 0, cacheWrite: 0 },
    });
  });

  it('takes cache reads and writes apart from input tokens, and ignores requestMetadata', () => {
    const parsed = parseRecord(fixture('invocation-log-converse-cache'), rules);
    expect(parsed.status === 'call' && parsed.call).toMatchObject({
      principal: { id: 'role/summarizer-app' },
      modelId: 'arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0',
      tokens: { input: 350, output: 900, cacheRead: 8000, cacheWrite: 2000 },
    });
  });

  it('falls back to the usage block for cache counts and splits out 1-hour cache writes', () => {
    const record = invocationLog('r-cache', 'arn:aws:iam::111122223333:user/alice', {
      output: {
        outputTokenCount: 10,
        outputBodyJson: {
          usage: {
            input_tokens: 5,
            output_tokens: 10,
            cache_read_input_tokens: 700,
            cache_creation_input_tokens: 300,
            cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
          },
        },
      },
    });
    const parsed = parseRecord(record, rules);
    expect(parsed.status === 'call' && parsed.call.tokens).toEqual({
      input: 1000,
      output: 10,
      cacheRead: 700,
      cacheWrite: 100,
      cacheWrite1h: 200,
    });
  });

  it('charges an SSO session to the human behind it', () => {
    const parsed = parseRecord(fixture('invocation-log-sso-session'), rules);
    expect(parsed.status === 'call' && parsed.call.principal.id).toBe(
      'role/AWSReservedSSO_DataScientist_0123456789abcdef/maria@example.com',
    );
  });

  it.each([
    ['negative tokens', { input: { inputTokenCount: -1 } }, /input\.inputTokenCount/],
    ['fractional tokens', { output: { outputTokenCount: 1.5 } }, /output\.outputTokenCount/],
    ['a missing identity', { identity: {} }, /identity\.arn/],
    ['an identity that is not a principal', { identity: { arn: 'arn:aws:s3:::b' } }, /principal ARN/],
    ['a bad timestamp', { timestamp: 'yesterday' }, /timestamp/],
  ])('rejects %s with a clear reason', (_, overrides, reason) => {
    const parsed = parseRecord(invocationLog('r-bad', 'arn:aws:iam::111122223333:user/alice', overrides), rules);
    expect(parsed.status).toBe('invalid');
    expect(parsed.status === 'invalid' && parsed.error).toMatch(reason);
  });

  it('rejects what is neither source', () => {
    expect(parseRecord({ hello: 'world' }, rules)).toEqual({
      status: 'invalid',
      error: expect.stringMatching(/unrecognised/),
    });
    expect(parseRecord('text', rules)).toEqual({ status: 'invalid', error: 'event is not a JSON object' });
  });
});

describe('CloudWatch Logs subscription payloads', () => {
  it('decodes the gzip+base64 fixture into one record per log event', () => {
    const { awslogs } = fixture<{ awslogs: { data: string } }>('cloudwatch-logs-subscription');
    const records = decodeLogsSubscription(awslogs.data);
    expect(records.map((r) => r.id)).toEqual([
      '37000000000000000000000000000000000000000000000000000000',
      '37000000000000000000000000000000000000000000000000000001',
    ]);
    expect(records.map((r) => parseRecord(r.body, rules).status)).toEqual(['call', 'call']);
  });

  it('turns a non-JSON log message into an invalid record without losing its neighbours', () => {
    const payload = logsSubscription(['not json', invocationLog('r-ok', 'arn:aws:iam::111122223333:user/alice')]);
    const records = expandDocument(payload, 'x');
    expect(records.map((r) => parseRecord(r.body, rules).status)).toEqual(['invalid', 'call']);
  });

  it('yields nothing for a control message', () => {
    expect(expandDocument(logsSubscription([], 'CONTROL_MESSAGE'), 'x')).toEqual([]);
  });

  it('reports undecodable data as a payload error', () => {
    expect(() => decodeLogsSubscription('not-base64-gzip')).toThrow(PayloadError);
  });
});
