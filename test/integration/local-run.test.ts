import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, invocationLog } from '../fixtures';

const BIN = join(__dirname, '..', '..', 'bin', 'budgeteer.cjs');

/** `npm start` with a scenario and budgets of one's own: its own local AWS, end to end, as a user runs it. */
describe('budgeteer local --scenario --budgets --json', () => {
  it('replays an unordered file with repeats and bad lines and prints the exact summary', () => {
    const dir = mkdtempSync(join(tmpdir(), 'budgeteer-local-'));
    const alice = 'arn:aws:iam::111122223333:user/alice';
    const lines = [
      // Out of order: a later call first.
      JSON.stringify(invocationLog('r-2', alice, { timestamp: '2026-11-20T15:00:00Z' })),
      JSON.stringify(fixture('invocation-log-invokemodel-anthropic')), // alice, 0.000725, 2026-11-20T14:03:09Z
      JSON.stringify(fixture('eventbridge-cloudtrail-invokemodel-iamuser')), // the same request from CloudTrail
      JSON.stringify(fixture('invocation-log-invokemodel-anthropic')), // delivered twice
      JSON.stringify(fixture('invocation-log-converse-cache')), // role/summarizer-app, 0.02445
      '{"this is": not json',
      JSON.stringify({ schemaType: 'ModelInvocationLog', requestId: 'r-bad' }),
    ];
    writeFileSync(join(dir, 'events.jsonl'), `${lines.join('\n')}\n`);
    writeFileSync(
      join(dir, 'budgets.json'),
      JSON.stringify({ alice: '0.00125', 'summarizer-app': '1', account: '10' }),
    );

    const run = spawnSync(
      BIN,
      ['local', '--scenario', join(dir, 'events.jsonl'), '--budgets', join(dir, 'budgets.json'), '--json'],
      { encoding: 'utf8', timeout: 120_000 },
    );

    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.principals).toEqual([
      { principal: 'role/summarizer-app', spendUsd: '0.02445', limitUsd: '1', percent: '2.44', alerts: [] },
      // 0.000725 + 0.000375 = 0.0011 of 0.00125: 88%, so the 80% alert went out.
      { principal: 'user/alice', spendUsd: '0.0011', limitUsd: '0.00125', percent: '88.00', alerts: [80] },
    ]);
    // 0.0011 (alice) + 0.02445 (summarizer-app)
    expect(summary.account).toEqual({ spendUsd: '0.02555', limitUsd: '10', percent: '0.25', alerts: [] });
    expect(summary.rejected).toEqual([
      { line: 6, error: 'line is not valid JSON' },
      { line: 7, error: expect.stringMatching(/^invalid invocation log record: timestamp/) },
    ]);
    // Three budgets set and one alert, each audited.
    expect(summary.auditEntries).toBe(4);
  });
});
