import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { invocationLog } from '../fixtures';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'budgeteer.cjs');

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

/** Resolves once `child` has printed `text` on stdout. */
const printed = (child: ChildProcess, text: string, timeoutMs: number) =>
  new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });

/** `npm start -- --serve` in one terminal, `npm start` (or `npm test`) in another, from the same folder. */
describe('a serving local run beside other runs', () => {
  let serving: ChildProcess | undefined;
  afterEach(async () => {
    if (serving && serving.exitCode === null) {
      serving.kill('SIGINT');
      await exited(serving);
    }
  });

  it('keeps its state file valid while another run starts and ends, and removes it when it stops', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'budgeteer-state-'));
    const at = new Date(Date.now() - 60_000).toISOString();
    const events = join(dir, 'events.jsonl');
    writeFileSync(
      events,
      `${JSON.stringify(invocationLog('state-1', 'arn:aws:iam::111122223333:user/dana', { timestamp: at }))}\n`,
    );
    const budgets = join(dir, 'budgets.json');
    writeFileSync(budgets, '{"dana": "5"}');
    // A state file of this test's own, so a developer's serving run is never touched.
    const stateFile = join(dir, 'stack.json');
    const env = { ...process.env, BUDGETEER_LOCAL_STATE: stateFile };
    serving = spawn(process.execPath, [BIN, 'local', '--scenario', events, '--budgets', budgets, '--serve'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await printed(serving, '▸ serving at', 150_000);
    const status = () =>
      spawnSync(process.execPath, [BIN, 'status', '--local', '--json'], { cwd: ROOT, env, encoding: 'utf8' });
    const before = status();
    expect(before.stderr).toBe('');

    const other = spawnSync(process.execPath, [BIN, 'local', '--scenario', events, '--budgets', budgets, '--json'], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 150_000,
    });

    expect(other.status).toBe(0);
    const after = status();
    expect(after.stderr).toBe('');
    expect(JSON.parse(after.stdout).principals).toEqual([expect.objectContaining({ principal: 'user/dana' })]);
    expect(existsSync(stateFile)).toBe(true);

    serving.kill('SIGINT');
    expect(await exited(serving)).toBe(0);
    expect(existsSync(stateFile)).toBe(false);
  }, 360_000);
});
