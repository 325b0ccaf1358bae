import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import {
  decodeLogsSubscription,
  EnvelopeError,
  expandDocument,
  PayloadError,
  parseRecord,
} from '../../shared/events/parse';
import { resolveModelId } from '../../shared/pricing';
import { cloudTrailEvent, fixture, fixtureCases, invocationLog, logsSubscription } from '../fixtures';

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
    expect(parseRecord(event, rules)).toEqual({
      status: 'invalid',
      error: expect.stringMatching(/detail\.requestID/),
      kind: 'invalid-cloudtrail-event',
    });
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
      kind: 'unrecognised-event',
    });
    expect(parseRecord('text', rules)).toEqual({
      status: 'invalid',
      error: 'event is not a JSON object',
      kind: 'unrecognised-event',
    });
  });
});

describe('every fixture parses to the outcome written beside it', () => {
  it.each(fixtureCases('invocation-log-').map((c) => [c.name, c]))('%s', (_name, { record, expected }) => {
    const parsed = parseRecord(record, rules);

    if (expected.rejected) {
      expect(parsed).toMatchObject({ status: 'invalid', kind: expected.rejected });
      return;
    }
    expect(parsed.status).toBe('call');
    const call = parsed.status === 'call' ? parsed.call : undefined;
    expect(call?.tokens).toEqual(expected.tokens);
    expect(resolveModelId(call?.modelId ?? '')).toBe(expected.model);
    expect(call?.errorCode).toBe(expected.errorCode);
  });

  it.each(fixtureCases('eventbridge-').map((c) => [c.name, c]))('%s', (_name, { record, expected }) => {
    const parsed = parseRecord(record, rules);

    expect(parsed.status).toBe('call');
    const call = parsed.status === 'call' ? parsed.call : undefined;
    expect(call?.tokens).toBeUndefined();
    expect(resolveModelId(call?.modelId ?? '')).toBe(expected.model);
  });
});

describe('streamed and cached invocation logs', () => {
  const alice = 'arn:aws:iam::111122223333:user/alice';
  const streamed = (overrides: Record<string, unknown>) =>
    invocationLog('r-stream', alice, { operation: 'InvokeModelWithResponseStream', ...overrides });

  it('reads an InvokeModelWithResponseStream record whose body is the array of stream events', () => {
    const parsed = parseRecord(fixture('invocation-log-invokemodel-stream'), rules);

    expect(parsed).toMatchObject({
      status: 'call',
      call: { operation: 'InvokeModelWithResponseStream', tokens: { input: 812, output: 143, cacheRead: 4096 } },
    });
  });

  it('takes the 1-hour share of Converse cache writes from usage.cacheDetails', () => {
    const parsed = parseRecord(fixture('invocation-log-converse-cache-1h'), rules);

    expect(parsed.status === 'call' && parsed.call.tokens).toEqual({
      input: 250,
      output: 120,
      cacheRead: 0,
      cacheWrite: 16000,
      cacheWrite1h: 32000,
    });
  });

  it('takes the 1-hour share of a streamed Anthropic call from the message_start event', () => {
    const parsed = parseRecord(fixture('invocation-log-invokemodel-stream-cache-1h'), rules);

    expect(parsed.status === 'call' && parsed.call.tokens).toMatchObject({ cacheWrite: 6000, cacheWrite1h: 12000 });
  });

  it('rejects, with a reason, a record whose stream totals contradict its envelope', () => {
    expect(parseRecord(fixture('invocation-log-stream-contradiction'), rules)).toEqual({
      status: 'invalid',
      kind: 'self-contradicting-log',
      error:
        "invocation log record contradicts itself: output.outputTokenCount is 143 but the stream's amazon-bedrock-invocationMetrics.outputTokenCount is 1430",
    });
  });

  it('rejects a record whose body claims more 1-hour cache writes than the record has', () => {
    const record = invocationLog('r-1h', alice, {
      input: { inputTokenCount: 10, cacheWriteInputTokenCount: 100 },
      output: { outputTokenCount: 1, outputBodyJson: { usage: { cacheDetails: [{ inputTokens: 500, ttl: '1h' }] } } },
    });

    expect(parseRecord(record, rules)).toMatchObject({ status: 'invalid', kind: 'self-contradicting-log' });
  });

  it('takes the counts from the stream totals or the body when the envelope has none', () => {
    const record = streamed({
      input: {},
      output: {
        outputBodyJson: [
          { type: 'message_start', message: { usage: { input_tokens: 30, cache_read_input_tokens: 7 } } },
          { type: 'message_delta', usage: { output_tokens: 12 } },
          'not an event',
          { type: 'message_stop', 'amazon-bedrock-invocationMetrics': { outputTokenCount: 12 } },
        ],
      },
    });

    expect(parseRecord(record, rules)).toMatchObject({
      call: { tokens: { input: 30, output: 12, cacheRead: 7, cacheWrite: 0 } },
    });
  });

  it.each([
    [
      'with prompt_tokens including them',
      { prompt_tokens: 6000, prompt_tokens_details: { cached_tokens: 4000 } },
      6000,
    ],
    ['with input_tokens including them', { input_tokens: 6000, input_tokens_details: { cached_tokens: 4000 } }, 6000],
    ['whose envelope left them out', { prompt_tokens: 6000, prompt_tokens_details: { cached_tokens: 4000 } }, 2000],
  ])('moves OpenAI-style cached prompt tokens to cache reads, %s', (_name, usage, inputTokenCount) => {
    const record = invocationLog('r-oss', alice, {
      modelId: 'openai.gpt-oss-20b-1:0',
      input: { inputTokenCount },
      output: { outputTokenCount: 5, outputBodyJson: { usage } },
    });

    expect(parseRecord(record, rules)).toMatchObject({
      call: { tokens: { input: 2000, cacheRead: 4000, output: 5 } },
    });
  });

  it('counts a record with no token counts at all (guardrail, error) as a call of zero tokens', () => {
    const record = invocationLog('r-none', alice, { input: {}, output: {}, errorCode: 'ThrottlingException' });

    expect(parseRecord(record, rules)).toMatchObject({
      status: 'call',
      call: { tokens: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, errorCode: 'ThrottlingException' },
    });
  });

  it('leaves the tokens unknown when a record without counts had its body offloaded to S3', () => {
    const record = invocationLog('r-s3', alice, {
      input: { inputBodyS3Path: 's3://logs/in.json' },
      output: { outputBodyS3Path: 's3://logs/out.json' },
    });
    const parsed = parseRecord(record, rules);

    expect(parsed.status).toBe('call');
    expect(parsed.status === 'call' && parsed.call.tokens).toBeUndefined();
  });

  it('keeps a record with a valid envelope parseable whatever its bodies hold', () => {
    const envelope = fc.record({
      input: fc.nat({ max: 1_000_000 }),
      output: fc.nat({ max: 1_000_000 }),
      cacheRead: fc.nat({ max: 1_000_000 }),
      cacheWrite: fc.nat({ max: 1_000_000 }),
    });
    const body = fc.option(fc.jsonValue(), { nil: undefined });
    fc.assert(
      fc.property(envelope, body, body, fc.boolean(), (counts, inputBody, outputBody, streamed) => {
        const record = invocationLog('r-any', alice, {
          operation: streamed ? 'InvokeModelWithResponseStream' : 'Converse',
          input: {
            inputTokenCount: counts.input,
            cacheReadInputTokenCount: counts.cacheRead,
            cacheWriteInputTokenCount: counts.cacheWrite,
            ...(inputBody === undefined ? {} : { inputBodyJson: inputBody }),
          },
          output: {
            outputTokenCount: counts.output,
            ...(outputBody === undefined ? {} : { outputBodyJson: streamed ? [outputBody] : outputBody }),
          },
        });
        const parsed = parseRecord(record, rules);
        if (parsed.status === 'invalid') {
          // Only a body that contradicts the envelope may reject the record, and it says so.
          expect(parsed.kind).toBe('self-contradicting-log');
          return;
        }
        expect(parsed.status).toBe('call');
        const tokens = parsed.status === 'call' ? parsed.call.tokens : undefined;
        // The body may split the prompt differently (cache TTLs, cached prompt tokens), never bill less of it.
        expect(tokens?.output).toBe(counts.output);
        const prompt =
          (tokens?.input ?? 0) + (tokens?.cacheRead ?? 0) + (tokens?.cacheWrite ?? 0) + (tokens?.cacheWrite1h ?? 0);
        expect(prompt).toBeGreaterThanOrEqual(counts.input + counts.cacheRead + counts.cacheWrite);
      }),
      { numRuns: 500 },
    );
  });
});

describe('bedrock-mantle CloudTrail events', () => {
  it('reads a CreateInference data event as a sighting of the model the mantle names', () => {
    const parsed = parseRecord(fixture('eventbridge-cloudtrail-mantle-createinference'), rules);

    expect(parsed).toMatchObject({
      status: 'call',
      call: {
        source: 'cloudtrail',
        operation: 'CreateInference',
        modelId: 'openai.gpt-oss-120b',
        principal: { id: 'user/BedrockAPIKey-4xq9', kind: 'api-key' },
      },
    });
  });

  it('ignores mantle management events and failed inferences', () => {
    const event = fixture<{ detail: Record<string, unknown> }>('eventbridge-cloudtrail-mantle-createinference');
    const listing = { ...event, detail: { ...event.detail, eventName: 'ListModels' } };
    const failed = { ...event, detail: { ...event.detail, errorCode: 'AccessDeniedException' } };

    expect(parseRecord(listing, rules).status).toBe('ignored');
    expect(parseRecord(failed, rules)).toEqual({ status: 'ignored', reason: 'call failed with AccessDeniedException' });
  });

  it('does not take a runtime operation name from the mantle, nor the mantle operation from the runtime', () => {
    const event = fixture<{ detail: Record<string, unknown> }>('eventbridge-cloudtrail-mantle-createinference');
    const runtime = cloudTrailEvent('r-x', 'arn:aws:iam::111122223333:user/alice') as {
      detail: Record<string, unknown>;
    };

    expect(parseRecord({ ...event, detail: { ...event.detail, eventName: 'InvokeModel' } }, rules).status).toBe(
      'ignored',
    );
    expect(parseRecord({ ...runtime, detail: { ...runtime.detail, eventName: 'CreateInference' } }, rules).status).toBe(
      'ignored',
    );
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

describe('envelopes ingest believes', () => {
  const trusted = { account: '111122223333', invocationLogGroup: '/aws/bedrock/modelinvocations' };
  const alice = 'arn:aws:iam::111122223333:user/alice';
  const viaEventBridge = { route: 'eventbridge' as const, trusted };
  const viaLogs = { route: 'logs-subscription' as const, trusted };
  /** A Logs delivery as CloudWatch Logs would send it, with its envelope fields replaced. */
  const delivery = (envelope: Record<string, string>) => ({
    messageType: 'DATA_MESSAGE',
    owner: '111122223333',
    logGroup: '/aws/bedrock/modelinvocations',
    logEvents: [{ id: 'e-0', timestamp: 0, message: JSON.stringify(invocationLog('r-1', alice)) }],
    ...envelope,
  });

  it("believes a CloudTrail event from the deployment's account, with the source AWS gives its event source", () => {
    expect(parseRecord(cloudTrailEvent('r-1', alice), rules, viaEventBridge).status).toBe('call');
    expect(parseRecord(fixture('eventbridge-cloudtrail-mantle-createinference'), rules, viaEventBridge).status).toBe(
      'call',
    );
  });

  it('rejects a CloudTrail event from another account, with both accounts in the reason', () => {
    const foreign = { ...cloudTrailEvent('r-1', alice), account: '999988887777' };

    expect(parseRecord(foreign, rules, viaEventBridge)).toEqual({
      status: 'invalid',
      kind: 'untrusted-envelope',
      error:
        "untrusted CloudTrail event: the event is from account 999988887777, not this deployment's account 111122223333",
    });
  });

  it('rejects a CloudTrail event without an account, which EventBridge always sets', () => {
    const { account: _account, ...unsigned } = cloudTrailEvent('r-1', alice) as Record<string, unknown>;

    expect(parseRecord(unsigned, rules, viaEventBridge)).toMatchObject({
      kind: 'untrusted-envelope',
      error: expect.stringMatching(/from account \(none\)/),
    });
  });

  it('rejects an event whose source does not go with its event source, even where no account is expected', () => {
    const event = cloudTrailEvent('r-1', alice) as { detail: Record<string, unknown> };
    const mixed = { ...event, source: 'aws.bedrock-mantle' };

    expect(parseRecord(mixed, rules)).toEqual({
      status: 'invalid',
      kind: 'untrusted-envelope',
      error:
        'untrusted CloudTrail event: source aws.bedrock-mantle does not send bedrock.amazonaws.com events (AWS sends them as aws.bedrock)',
    });
  });

  it('rejects a source that is not a Bedrock one, and an event source ingest does not meter', () => {
    const event = cloudTrailEvent('r-1', alice) as { detail: Record<string, unknown> };

    expect(parseRecord({ ...event, source: 'aws.s3' }, rules, viaEventBridge)).toMatchObject({
      status: 'invalid',
      error: expect.stringMatching(/source: not a Bedrock event source/),
    });
    expect(
      parseRecord({ ...event, detail: { ...event.detail, eventSource: 's3.amazonaws.com' } }, rules, viaEventBridge),
    ).toMatchObject({ status: 'invalid', error: expect.stringMatching(/detail\.eventSource/) });
  });

  it('rejects an invocation log record or a bare CloudTrail record that came by EventBridge', () => {
    const { detail } = fixture<{ detail: unknown }>('eventbridge-cloudtrail-apikey');

    expect(parseRecord(invocationLog('r-1', alice), rules, viaEventBridge)).toMatchObject({
      kind: 'untrusted-envelope',
      error: expect.stringMatching(/only EventBridge CloudTrail events come this way/),
    });
    expect(parseRecord(detail, rules, viaEventBridge)).toMatchObject({ kind: 'untrusted-envelope' });
  });

  it('rejects a CloudTrail event that came by the Logs subscription', () => {
    expect(parseRecord(cloudTrailEvent('r-1', alice), rules, viaLogs)).toMatchObject({
      kind: 'untrusted-envelope',
      error: expect.stringMatching(/delivers model invocation log records only/),
    });
    expect(parseRecord(invocationLog('r-1', alice), rules, viaLogs).status).toBe('call');
  });

  it("unpacks a Logs delivery from the deployment's account and invocation log group, its records on that route", () => {
    expect(expandDocument(delivery({}), 'x', trusted)).toEqual([
      {
        id: 'e-0',
        body: expect.objectContaining({ requestId: 'r-1' }),
        route: 'logs-subscription',
        account: '111122223333',
      },
    ]);
  });

  it('refuses a whole Logs delivery from another account or another log group, naming what it came from', () => {
    expect(() => expandDocument(delivery({ owner: '999988887777' }), 'x', trusted)).toThrow(
      "untrusted CloudWatch Logs delivery: its owner is account 999988887777, not this deployment's account 111122223333",
    );
    expect(() => expandDocument(delivery({ logGroup: '/my/own/group' }), 'x', trusted)).toThrow(
      /from log group \/my\/own\/group, not the invocation log group \/aws\/bedrock\/modelinvocations/,
    );
    const { awslogs } = logsSubscription([invocationLog('r-1', alice)]);
    expect(() => decodeLogsSubscription(awslogs.data, { ...trusted, account: '999988887777' })).toThrow(EnvelopeError);
  });

  describe('in an organization deployment', () => {
    const central = { ...trusted, organizationId: 'o-a1b2c3d4e5' };
    const home = { ...rules, homeAccount: '111122223333' };
    const bob = 'arn:aws:iam::222233334444:user/bob';

    it("believes a member account's CloudTrail event and keys its principal by that account", () => {
      const forwarded = { ...cloudTrailEvent('r-1', bob), account: '222233334444' };

      expect(parseRecord(forwarded, home, { route: 'eventbridge', trusted: central })).toMatchObject({
        status: 'call',
        call: { principal: { id: '222233334444:user/bob', accountId: '222233334444' } },
      });
    });

    it("believes a member account's Logs delivery (the destination's policy admits only the organization)", () => {
      const records = expandDocument(delivery({ owner: '222233334444' }), 'x', central);

      expect(records).toHaveLength(1);
    });

    it("refuses a member account's record of another account's principal: each speaks for its own", () => {
      const [record] = expandDocument(delivery({ owner: '222233334444' }), 'x', central);
      const origin = { route: 'logs-subscription' as const, trusted: central, account: record?.account };

      // alice is of 111122223333; the delivery came from 222233334444.
      expect(parseRecord(record?.body, home, origin)).toEqual({
        status: 'invalid',
        kind: 'untrusted-envelope',
        error:
          'untrusted record: it names arn:aws:iam::111122223333:user/alice of account 111122223333, but came from account 222233334444',
      });
      const forwarded = { ...cloudTrailEvent('r-1', alice), account: '222233334444' };
      expect(parseRecord(forwarded, home, { route: 'eventbridge', trusted: central })).toMatchObject({
        kind: 'untrusted-envelope',
      });
      const own = {
        ...delivery({ owner: '222233334444' }),
        logEvents: [{ id: 'e-1', timestamp: 0, message: JSON.stringify(invocationLog('r-2', bob)) }],
      };
      const [mine] = expandDocument(own, 'x', central);
      expect(parseRecord(mine?.body, home, { ...origin, account: mine?.account }).status).toBe('call');
    });

    it("takes CloudWatch Logs' check of the destination as nothing to meter, not as an untrusted envelope", () => {
      // As CloudWatch Logs sends it when a member subscribes: owner CloudwatchLogs, no log group.
      const check = {
        messageType: 'CONTROL_MESSAGE',
        owner: 'CloudwatchLogs',
        logGroup: '',
        logStream: '',
        logEvents: [],
      };

      const data = gzipSync(JSON.stringify(check)).toString('base64');

      expect(decodeLogsSubscription(data, central)).toEqual([]);
      expect(decodeLogsSubscription(data, trusted)).toEqual([]);
    });

    it('still rejects an envelope without an account id, and a delivery from another log group', () => {
      const { account: _account, ...unsigned } = cloudTrailEvent('r-1', bob) as Record<string, unknown>;

      expect(parseRecord(unsigned, home, { route: 'eventbridge', trusted: central })).toMatchObject({
        kind: 'untrusted-envelope',
        error: expect.stringMatching(/not an account id of organization o-a1b2c3d4e5/),
      });
      expect(() => expandDocument(delivery({ owner: '222233334444', logGroup: '/x' }), 'x', central)).toThrow(
        EnvelopeError,
      );
    });
  });
});
