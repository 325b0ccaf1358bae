import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { invocationLog } from '../fixtures';

const ROOT = join(__dirname, '..', '..');

/** The command of the README's line that starts with `prefix` (its comment dropped), as a reader would copy it. */
function readmeCommand(prefix: string): string {
  const line = readFileSync(join(ROOT, 'README.md'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(prefix));
  if (!line) throw new Error(`the README has no line starting with ${prefix}`);
  return line.replace(/\s+#.*$/, '');
}

/** Runs a command line through the shell, from the repository's root, as a person following the README does. */
const shell = (command: string) =>
  spawnSync('sh', ['-c', command], { cwd: ROOT, encoding: 'utf8', timeout: 240_000, maxBuffer: 64 * 1024 * 1024 });

describe("the README's examples of the local run, run as written", () => {
  it('the --json example prints one JSON document on stdout, nothing of npm', () => {
    const command = readmeCommand('npm start --silent -- --json');

    const run = shell(command);

    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary).toEqual(
      expect.objectContaining({
        period: expect.any(String),
        periods: expect.any(Array),
        principals: expect.any(Array),
      }),
    );
  });

  it("the --scenario example replays a file of one's own with no --budgets", () => {
    const dir = mkdtempSync(join(tmpdir(), 'budgeteer-readme-'));
    const events = join(dir, 'events.jsonl');
    const carol = 'arn:aws:iam::111122223333:user/carol';
    const at = new Date(Date.now() - 60_000).toISOString();
    writeFileSync(events, `${JSON.stringify(invocationLog('readme-1', carol, { timestamp: at }))}\n`);
    const command = readmeCommand('npm start -- --scenario events.jsonl');

    const run = shell(command.replace('events.jsonl', events));

    expect(run.stderr).not.toMatch(/budgeteer:/);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/Summary for \d{4}-\d{2}/);
    // carol's call, against the configured $50 default.
    expect(run.stdout).toMatch(/user\/carol\s+\$0\.00\s+\$50\.00/);
  });
});
