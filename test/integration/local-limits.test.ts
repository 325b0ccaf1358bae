import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { invocationLog } from '../fixtures';

const BIN = join(__dirname, '..', '..', 'bin', 'budgeteer.cjs');

/** The local replay reads records with the deployed ingest's parser, so it keeps the same input limits. */
describe('budgeteer local on input over AWS limits', () => {
  it('rejects a record whose principal no DynamoDB key can hold, counts the one beside it, and warns of a typo', () => {
    const dir = mkdtempSync(join(tmpdir(), 'budgeteer-limits-'));
    const alice = 'arn:aws:iam::111122223333:user/alice';
    const zed = 'arn:aws:iam::111122223333:user/zed';
    const huge = `arn:aws:iam::111122223333:user/${'a'.repeat(3000)}`;
    const at = new Date(Date.now() - 60_000).toISOString();
    writeFileSync(
      join(dir, 'events.jsonl'),
      `${[
        invocationLog('r-huge', huge, { timestamp: at }),
        invocationLog('r-alice', alice, { timestamp: at }),
        invocationLog('r-zed', zed, { timestamp: at }),
      ]
        .map((line) => JSON.stringify(line))
        .join('\n')}\n`,
    );
    writeFileSync(join(dir, 'budgets.json'), JSON.stringify({ alice: '1', zed: '0', 'user/typo-nobody': '5' }));

    const run = spawnSync(
      BIN,
      ['local', '--scenario', join(dir, 'events.jsonl'), '--budgets', join(dir, 'budgets.json'), '--json'],
      { encoding: 'utf8', timeout: 120_000 },
    );

    expect(run.stderr).toContain(
      'budgeteer: warning: user/typo-nobody is no principal of the scenario: its limit is set, but nothing in ' +
        'this replay spends against it',
    );
    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout);
    // 1000 x $0.25/M + 100 x $1.25/M
    // A zero limit: zed may not spend, shown as blocked (never as a percent of zero).
    expect(summary.principals).toEqual([
      expect.objectContaining({ principal: 'user/alice', spendUsd: '0.000375', percent: '0.03' }),
      expect.objectContaining({ principal: 'user/zed', spendUsd: '0.000375', limitUsd: '0', percent: 'blocked' }),
    ]);
    expect(summary.rejected).toEqual([
      {
        line: 1,
        error: 'invalid invocation log record: the principal ARN is 3031 characters; IAM ARNs have at most 2048',
      },
    ]);
  });

  it('refuses a budgets file with a JSON number before starting anything, exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'budgeteer-limits-'));
    writeFileSync(join(dir, 'budgets.json'), '{"carol": 1e0}');

    const run = spawnSync(BIN, ['local', '--budgets', join(dir, 'budgets.json')], { encoding: 'utf8' });

    expect(run.stderr).toBe(
      `budgeteer: ${join(dir, 'budgets.json')}: the limit for carol: write the limit as a quoted decimal string, ` +
        '"1" rather than 1\n',
    );
    expect(run.status).toBe(2);
  });
});
