import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { recordsFromText } from '../../cli/documents';
import { inspect } from '../../cli/inspect';
import { cloudTrailEvent, fixture, fixtureCases, invocationLog, logsSubscription } from '../fixtures';

const rules = { perSessionRoles: ['AWSReservedSSO_*'] };
const run = (text: string) => inspect(recordsFromText(text), rules);
const BIN = join(__dirname, '..', '..', 'bin', 'budgeteer.cjs');
const FIXTURES = join(__dirname, '..', 'fixtures');

describe('budgeteer inspect', () => {
  it('prints requestId, principal, resolved model, tokens, exact cost and source for a log record', () => {
    const { lines, invalid } = run(JSON.stringify(fixture('invocation-log-converse-cache')));
    expect(invalid).toBe(0);
    expect(lines).toEqual([
      {
        requestId: '0a1b2c3d-0002-4e5f-8a9b-222222222222',
        principal: 'role/summarizer-app',
        principalArn: 'arn:aws:iam::111122223333:role/summarizer-app',
        model: 'anthropic.claude-sonnet-4-20250514-v1:0',
        tokens: { input: 350, output: 900, cacheRead: 8000, cacheWrite: 2000 },
        costUsd: '0.02445',
        source: 'invocation-log',
      },
    ]);
  });

  it('merges the CloudTrail event and the invocation log of one request into one line', () => {
    const text = [
      fixture('eventbridge-cloudtrail-invokemodel-iamuser'),
      fixture('invocation-log-invokemodel-anthropic'),
    ]
      .map((d) => JSON.stringify(d))
      .join('\n');
    const { lines } = run(text);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ costUsd: '0.000725', source: 'cloudtrail+invocation-log' });
  });

  it('reads a JSON array, a Logs subscription payload, and shows repeats once', () => {
    const log = invocationLog('r-1', 'arn:aws:iam::111122223333:user/alice');
    const { lines } = run(JSON.stringify([logsSubscription([log, log]), log]));
    expect(lines.map((l) => l.requestId)).toEqual(['r-1']);
  });

  it('shows a CloudTrail-only call as known but not yet priced', () => {
    const { lines } = run(JSON.stringify(cloudTrailEvent('r-2', 'arn:aws:iam::111122223333:user/bob')));
    expect(lines[0]).toMatchObject({ requestId: 'r-2', principal: 'user/bob', tokens: null, costUsd: null });
  });

  it('names the resolved base model on a CloudTrail-only line, as on a priced one', () => {
    const { lines } = run(JSON.stringify(fixture('eventbridge-cloudtrail-conversestream-sso')));
    expect(lines[0]).toMatchObject({ model: 'anthropic.claude-3-5-sonnet-20241022-v2:0', costUsd: null });
  });

  it('prices every invocation log fixture as written beside it, streams and 1-hour cache writes included', () => {
    const cases = fixtureCases('invocation-log-').filter((c) => c.expected.costUsd !== undefined);
    const { lines, invalid } = run(cases.map((c) => JSON.stringify(c.record)).join('\n'));
    expect(invalid).toBe(0);
    expect(lines.map((l) => [l.model, l.costUsd])).toEqual(cases.map((c) => [c.expected.model, c.expected.costUsd]));
  });

  it('shows one-hour cache writes apart from five-minute ones, and the error of a call that cost nothing', () => {
    const text = ['invocation-log-converse-cache-1h', 'invocation-log-error'].map((n) => JSON.stringify(fixture(n)));
    const [cached, failed] = run(text.join('\n')).lines;
    expect(cached?.tokens).toEqual({ input: 250, output: 120, cacheRead: 0, cacheWrite: 16000, cacheWrite1h: 32000 });
    expect(failed).toMatchObject({ costUsd: '0', errorCode: 'ValidationException' });
  });

  it('flags an unknown model and never prices it at zero', () => {
    const log = invocationLog('r-3', 'arn:aws:iam::111122223333:user/alice', { modelId: 'acme.mystery-v9:0' });
    const [line] = run(JSON.stringify(log)).lines;
    expect(line).toMatchObject({ unknownModel: true, model: 'acme.mystery-v9:0' });
    expect(Number(line?.costUsd)).toBeGreaterThan(0);
  });

  it('prints an error line naming the problem for each invalid event, keeping the valid ones', () => {
    const text = [
      '{oops',
      JSON.stringify({ schemaType: 'ModelInvocationLog' }),
      JSON.stringify(fixture('invocation-log-sso-session')),
    ].join('\n');
    const { lines, invalid } = run(text);
    expect(invalid).toBe(2);
    expect(lines[0]).toEqual({ line: 1, error: 'line is not valid JSON' });
    expect(lines[1]).toMatchObject({
      line: 2,
      error: expect.stringMatching(/invalid invocation log record: .*timestamp/),
    });
    expect(lines[2]).toMatchObject({
      principal: 'role/AWSReservedSSO_DataScientist_0123456789abcdef/maria@example.com',
    });
  });

  it('runs as a command: exits 0 when all is valid and 1 when anything is invalid', () => {
    const out = execFileSync(BIN, ['inspect', join(FIXTURES, 'cloudwatch-logs-subscription.json')], {
      encoding: 'utf8',
    });
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).requestId),
    ).toHaveLength(2);
    const bad = spawnSync(BIN, ['inspect', '-'], { input: '{"hello":1}\n', encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ line: 1, error: expect.stringMatching(/unrecognised event/) });
  });
});
