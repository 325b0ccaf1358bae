import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, invocationLog } from '../fixtures';

const BIN = join(__dirname, '..', '..', 'bin', 'budgeteer.cjs');

/** `npm start` with a scenario and budgets of one's own: its own local AWS, end to end, as a user runs it. */
/** Replays `lines` (one JSON document each) with `budgets` through `budgeteer local --json`. */
function replay(lines: readonly unknown[], budgets: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'budgeteer-local-'));
  writeFileSync(join(dir, 'events.jsonl'), `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
  writeFileSync(join(dir, 'budgets.json'), JSON.stringify(budgets));
  return spawnSync(
    BIN,
    ['local', '--scenario', join(dir, 'events.jsonl'), '--budgets', join(dir, 'budgets.json'), '--json'],
    { encoding: 'utf8', timeout: 120_000 },
  );
}
const secondsAgo = (seconds: number) => new Date(Date.now() - 60_000 + seconds * 1000).toISOString();

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
      {
        principal: 'role/summarizer-app',
        spendUsd: '0.02445',
        limitUsd: '1',
        percent: '2.44',
        alerts: [],
        state: 'active',
        generation: 0,
      },
      // 0.000725 + 0.000375 = 0.0011 of 0.00125: 88%, so the 80% alert went out.
      {
        principal: 'user/alice',
        spendUsd: '0.0011',
        limitUsd: '0.00125',
        percent: '88.00',
        alerts: [80],
        state: 'active',
        generation: 0,
      },
    ]);
    // 0.0011 (alice) + 0.02445 (summarizer-app)
    expect(summary.account).toEqual({
      spendUsd: '0.02555',
      limitUsd: '10',
      percent: '0.25',
      alerts: [],
      state: 'active',
      generation: 0,
    });
    expect(summary.rejected).toEqual([
      { line: 6, error: 'line is not valid JSON' },
      { line: 7, error: expect.stringMatching(/^invalid invocation log record: timestamp/) },
    ]);
    // Three budgets set and one alert, each audited; and the scheduled Price List fetch's first versions, each
    // audited price.changed: the four model prices local/price-list serves (Nova Lite and Nova 2.0 Pro in us-east-1,
    // Claude Sonnet 4.5 in us-east-1 and through a global profile).
    expect(summary.auditEntries).toBe(8);
  });

  it('decides a pending override from a scenario line, as an admin following the link would', () => {
    const alice = 'arn:aws:iam::111122223333:user/alice';
    const run = replay(
      [
        invocationLog('ovr-1', alice, { timestamp: secondsAgo(1) }),
        { budgeteer: 'override', principal: 'alice', decision: 'raise', amountUsd: '1', reason: 'demo' },
        { budgeteer: 'override', principal: 'alice', decision: 'lift' },
      ],
      { alice: '0.0001' },
    );

    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout);
    // Suspended by the first call; the raise lifted it (limit 0.0001 + 1) and started a new generation.
    expect(summary.principals).toEqual([
      expect.objectContaining({ principal: 'user/alice', state: 'active', limitUsd: '1.0001', generation: 1 }),
    ]);
    // The second override finds nothing pending any more: rejected with its line and reason.
    expect(summary.rejected).toEqual([
      { line: 3, error: 'scenario action override: no decision is pending for user/alice' },
    ]);
    expect(summary.approvals).toEqual([]);
  });

  it('applies admin actions at their place in a scenario, and rejects a malformed one with its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'budgeteer-local-'));
    const alice = 'arn:aws:iam::111122223333:user/alice';
    const at = (seconds: number) => new Date(Date.now() - 60_000 + seconds * 1000).toISOString();
    const lines = [
      JSON.stringify(invocationLog('act-1', alice, { timestamp: at(1) })),
      JSON.stringify(invocationLog('act-2', alice, { timestamp: at(2) })),
      JSON.stringify({ budgeteer: 'lift', principal: 'alice', reason: 'demo day' }),
      JSON.stringify(invocationLog('act-3', alice, { timestamp: at(3) })),
      JSON.stringify({ budgeteer: 'budget set', principal: 'alice' }),
    ];
    writeFileSync(join(dir, 'events.jsonl'), `${lines.join('\n')}\n`);
    writeFileSync(join(dir, 'budgets.json'), JSON.stringify({ alice: '0.0001' }));

    const run = spawnSync(
      BIN,
      ['local', '--scenario', join(dir, 'events.jsonl'), '--budgets', join(dir, 'budgets.json'), '--json'],
      { encoding: 'utf8', timeout: 120_000 },
    );

    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout);
    // Suspended after the first calls, lifted by the admin action: allowed until the period ends, despite act-3.
    expect(summary.principals).toEqual([
      expect.objectContaining({ principal: 'user/alice', state: 'active', generation: 1 }),
    ]);
    expect(summary.rejected).toEqual([{ line: 5, error: expect.stringMatching(/^invalid scenario action: usd/) }]);

    const inspected = spawnSync(BIN, ['inspect', join(dir, 'events.jsonl')], { encoding: 'utf8' });
    expect(inspected.stdout.trim().split('\n')).toHaveLength(3);
    expect(inspected.stderr).toMatch(/skipped 2 scenario action line/);
  });

  it('replays the bundled scenario, streams and one-hour cache writes included, to the cent', () => {
    const run = spawnSync(BIN, ['local', '--json'], { encoding: 'utf8', timeout: 180_000 });

    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout) as { principals: { principal: string; spendUsd: string }[] };
    const spend = Object.fromEntries(summary.principals.map((p) => [p.principal, p.spendUsd]));
    const sso = 'role/AWSReservedSSO_DataScientist_0123456789abcdef';
    // The sweep charges maria's three unlogged calls once they are 15 minutes old; in the first hour of a month the
    // compressed timeline can leave them younger than that.
    const monthStart = new Date();
    monthStart.setUTCDate(1);
    monthStart.setUTCHours(0, 0, 0, 0);
    const swept = Date.now() - monthStart.getTime() > 3_600_000;
    expect(spend).toEqual({
      // 16 x Sonnet 4 (100000 x 3 + 2000 x 15 per M = 0.33)
      'user/alice': '5.28',
      // 40 x Nova Lite streamed (20000 x 0.06 + 1500 x 0.24 = 0.00156)
      'user/BedrockAPIKey-4xq9': '0.0624',
      // 30 x Sonnet 4 Converse with cache (350 x 3 + 900 x 15 + 80000 x 0.30 + 2000 x 3.75 = 0.04605)
      'role/summarizer-app': '1.3815',
      // 12 x Nova Pro ConverseStream (25000 x 0.80 + 700 x 3.20 = 0.02224) + 3 unlogged calls swept at 0.50
      [`${sso}/maria@example.com`]: swept
        ? '1.76688'
        : expect.stringMatching(/^(0\.26688|0\.76688|1\.26688|1\.76688)$/),
      // 20 x Llama 3.1 70B (8000 x 0.72 + 1000 x 0.72 = 0.00648) + 10 x Claude 3 Haiku (12000 x 0.25 + 400 x 1.25 = 0.0035)
      [`${sso}/li@example.com`]: '0.1646',
      // 20 x Haiku 4.5 streamed, array bodies (900 x 1.10 + 350 x 5.50 + 6000 x 0.11 = 0.003575) = 0.0715
      // + 12 x Sonnet 4.5 global Converse with 1h writes
      //   (400 x 3 + 1200 x 15 + 30000 x 0.30 + 8000 x 3.75 + 16000 x 6 = 0.1542) = 1.8504
      // + 8 x Haiku 4.5 ConverseStream, 1h writes (500 x 1.10 + 300 x 5.50 + 10000 x 2.20 = 0.0242) = 0.1936
      'role/chat-frontend': '2.1155',
      // The leaked key: 4 x Sonnet 4 a minute apart from mid-period (0.33 each); the fourth puts its rolling hour
      // above its $1 and the guard cuts it off there.
      'user/BedrockAPIKey-leak1': '1.32',
      // 10 x Converse through the support bot's application inference profile, priced as its model, Haiku 4.5
      // (4000 x 1.10 + 600 x 5.50 = 0.0077), not at the fallback (0.105 each)
      'role/support-bot': '0.077',
    });
    // 5.28 + 0.0624 + 1.3815 + 1.76688 + 0.1646 + 2.1155 + 1.32 + 0.077
    if (swept) expect(JSON.parse(run.stdout).account.spendUsd).toBe('12.16788');
    // The data-science team: the SSO role's two sessions by pattern and the API key by its IAM tag, summed in the
    // group's own counter (1.76688 + 0.1646 + 0.0624), 83.07% of its $2.40: alerted at 80%, not stopped.
    expect(JSON.parse(run.stdout).groups).toEqual([
      {
        group: 'data-science',
        spendUsd: swept ? '1.99388' : expect.stringMatching(/^(0\.49388|0\.99388|1\.49388|1\.99388)$/),
        limitUsd: '2.4',
        percent: swept ? '83.07' : expect.any(String),
        state: 'active',
        members: [`${sso}/li@example.com`, `${sso}/maria@example.com`, 'user/BedrockAPIKey-4xq9'],
      },
    ]);
    // alice passed her $5 budget and was suspended; the scenario's admin then raised her limit to $6 above her spend:
    // the deny was lifted and a new generation started.
    const rows = summary.principals as unknown as {
      principal: string;
      state: string;
      generation: number;
      limitUsd: string;
    }[];
    expect(rows.find((p) => p.principal === 'user/alice')).toMatchObject({
      state: 'active',
      generation: 1,
      limitUsd: '6',
    });
    // The leaked key was suspended for its rate at $1.32 of its $10 (13.20%, no threshold alert). Its calls were
    // at mid-period: once their hour has passed (the month is more than about 2 h 20 min old), the workflow has
    // lifted it by itself (no new generation); before that it is still suspended, reason rate.
    const leakFellBack = Date.now() - monthStart.getTime() > 3 * 3_600_000;
    const leak = (summary.principals as unknown as Record<string, unknown>[]).find(
      (p) => p.principal === 'user/BedrockAPIKey-leak1',
    );
    expect(leak).toMatchObject({ limitUsd: '10', percent: '13.20', alerts: [], generation: 0 });
    if (leakFellBack) expect(leak).toMatchObject({ state: 'active' });
    else expect(leak).toMatchObject({ state: 'suspended', reason: 'rate' });
    // The summarizer role passes its $1.35 with its last call: suspended when the replay ends, its decision pending,
    // with a signed link in the summary.
    expect(rows.filter((p) => p.state !== 'active' && p.principal !== 'user/BedrockAPIKey-leak1')).toEqual([
      expect.objectContaining({ principal: 'role/summarizer-app', state: 'suspended', reason: 'budget' }),
    ]);
    expect(JSON.parse(run.stdout).account.state).toBe('active');
    // The leaked key's decision lapses when its hour falls back: only the summarizer's is left then.
    const approvals = JSON.parse(run.stdout).approvals as { principal: string }[];
    if (!leakFellBack) expect(approvals.map((a) => a.principal)).toContain('user/BedrockAPIKey-leak1');
    expect(leakFellBack ? approvals : approvals.filter((a) => a.principal !== 'user/BedrockAPIKey-leak1')).toEqual([
      {
        id: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/),
        principal: 'role/summarizer-app',
        kind: 'suspension',
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/d\/[A-Za-z0-9_-]{16}\?e=\d+&s=[A-Za-z0-9_-]{43}$/),
      },
    ]);
    // The replay's spend report: one page with the summarizer role's chart, its suspension marked on it.
    const report = JSON.parse(run.stdout).report as string;
    expect(report).toMatch(/\.local\/report\.html$/);
    const page = readFileSync(report, 'utf8');
    expect(page).toContain(`<title>Bedrock spend, ${JSON.parse(run.stdout).period}</title>`);
    expect(page).toMatch(
      /Cumulative spend of role\/summarizer-app over [^:]+: \$1\.38 of a \$1\.35 limit, \d+ event\(s\) marked/,
    );
    expect(page).toContain('<td class="wrap">suspended</td>');
  });
});

describe('budgeteer local: the summary covers every period of the replay', () => {
  const alice = 'arn:aws:iam::111122223333:user/alice';

  it('summarises each period touched, oldest first, and keeps the latest at the top level', () => {
    // Two November calls (83% of $0.0009: the 80% alert) and one on 1 December (42%, a new period, no alert).
    const run = replay(
      [
        invocationLog('per-1', alice, { timestamp: '2026-11-10T10:00:00Z' }),
        invocationLog('per-2', alice, { timestamp: '2026-11-20T10:00:00Z' }),
        invocationLog('per-3', alice, { timestamp: '2026-12-01T00:00:10Z' }),
      ],
      { alice: '0.0009', account: '1' },
    );

    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout);
    const november = {
      period: '2026-11',
      principals: [expect.objectContaining({ principal: 'user/alice', spendUsd: '0.00075', alerts: [80] })],
      account: expect.objectContaining({ spendUsd: '0.00075', limitUsd: '1', alerts: [] }),
    };
    const december = {
      period: '2026-12',
      principals: [expect.objectContaining({ principal: 'user/alice', spendUsd: '0.000375', alerts: [] })],
      account: expect.objectContaining({ spendUsd: '0.000375', limitUsd: '1' }),
    };
    expect(summary.periods).toEqual([november, december]);
    expect(summary).toMatchObject({ period: '2026-12', principals: december.principals, account: december.account });
  });

  it('says that nothing was counted and exits 1 when every line is rejected (no summary of 1970-01)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'budgeteer-local-'));
    writeFileSync(join(dir, 'events.jsonl'), '{"not": "a record"}\n{"this is": not json\n');
    writeFileSync(join(dir, 'budgets.json'), '{"account": "10"}');
    const args = ['local', '--scenario', join(dir, 'events.jsonl'), '--budgets', join(dir, 'budgets.json')];

    const human = spawnSync(BIN, args, { encoding: 'utf8', timeout: 120_000 });
    const json = spawnSync(BIN, [...args, '--json'], { encoding: 'utf8', timeout: 120_000 });

    expect(human.stdout).toContain('Nothing was counted');
    expect(human.stdout).not.toContain('Summary for');
    expect(human.stdout).toContain('2 record(s) rejected, not counted');
    // Piped output carries no progress line (a terminal's line is redrawn with a carriage return).
    expect(human.stdout).not.toContain('\r');
    expect(human.status).toBe(1);
    expect(json.stderr).toContain("budgeteer: nothing was counted: none of the scenario's 2 lines was charged");
    const summary = JSON.parse(json.stdout);
    expect(summary).toEqual(expect.objectContaining({ periods: [], rejected: [expect.anything(), expect.anything()] }));
    expect(summary.period).toBeUndefined();
    expect(json.status).toBe(1);
  });
});

describe('budgeteer local --scenario without --budgets', () => {
  it("runs a scenario of one's own with the configured budgets, though no principal is named like the bundled ones", () => {
    const dir = mkdtempSync(join(tmpdir(), 'budgeteer-local-'));
    const bob = 'arn:aws:iam::111122223333:user/bob';
    writeFileSync(
      join(dir, 'events.jsonl'),
      `${JSON.stringify(invocationLog('own-1', bob, { timestamp: secondsAgo(1) }))}\n`,
    );

    const run = spawnSync(BIN, ['local', '--scenario', join(dir, 'events.jsonl'), '--json'], {
      encoding: 'utf8',
      timeout: 120_000,
    });

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout);
    // The configured defaultBudgetUsd and accountBudgetUsd (infra/config.ts), none of the bundled scenario's limits.
    expect(summary.principals).toEqual([
      expect.objectContaining({ principal: 'user/bob', spendUsd: '0.000375', limitUsd: '50' }),
    ]);
    expect(summary.account).toEqual(expect.objectContaining({ limitUsd: '1000' }));
  });
});
