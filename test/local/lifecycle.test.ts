import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { processExists } from './support';

jest.setTimeout(30_000);

/** Runs fixtures/hold-local-aws.ts in a separate Node process; resolves once its moto answers. */
async function holdLocalAws(): Promise<{ node: ChildProcess; motoPid: number }> {
  const node = spawn(
    process.execPath,
    ['--require', require.resolve('tsx/cjs'), path.join(__dirname, 'fixtures', 'hold-local-aws.ts')],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(node.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  return { node, motoPid: (JSON.parse(line.toString()) as { motoPid: number }).motoPid };
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (processExists(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

describe('moto does not outlive the process that started it', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'is killed when that process gets %s, which still ends it',
    async (signal) => {
      const { node, motoPid } = await holdLocalAws();
      expect(processExists(motoPid)).toBe(true);

      node.kill(signal);
      const [, exitSignal] = (await once(node, 'exit')) as [number | null, NodeJS.Signals | null];

      expect(exitSignal).toBe(signal);
      expect(await gone(motoPid, 2_000)).toBe(true);
    },
  );

  it('exits by itself when that process is killed outright', async () => {
    const { node, motoPid } = await holdLocalAws();

    node.kill('SIGKILL');
    await once(node, 'exit');

    expect(await gone(motoPid, 3_000)).toBe(true);
  });
});
