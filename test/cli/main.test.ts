import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { version } from '../../package.json';

const BIN = join(__dirname, '..', '..', 'bin', 'budgeteer.cjs');

/** The CLI as a person runs it, from a folder with no local stack and no AWS credentials. */
function budgeteer(...args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: mkdtempSync(join(tmpdir(), 'budgeteer-cli-')),
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_REGION: 'us-east-1' },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

jest.setTimeout(120_000);

describe('budgeteer on the command line', () => {
  it('prints the version of package.json with --version, exit 0', () => {
    const { status, stdout } = budgeteer('--version');

    expect(status).toBe(0);
    expect(stdout).toBe(`${version}\n`);
  });

  it.each([
    [['budget', 'set', 'user/alice', '1e3'], /value '1e3' is invalid for argument 'usd'.*1000, not 1e3/],
    [['budget', 'set', 'user/alice', '10.123456789012'], /at most 6 decimal places/],
    [['budget', 'set', '--period', 'yearly', 'user/alice', '5'], /Allowed choices are monthly, weekly, daily/],
    [['status', '--no-such-option'], /unknown option '--no-such-option'/],
    [['no-such-command'], /unknown command 'no-such-command'/],
    [['report'], /report needs --html <file> \(or --json\)/],
    [['report', '--html', 'r.html', '--top', '0'], /--top 0 is not a whole number from 1 to 100/],
  ])('exits 2 with a usage message for %j, as its own usage errors do', (args, message) => {
    const { status, stderr } = budgeteer(...args);

    expect(stderr).toMatch(message);
    expect(status).toBe(2);
  });
});
