import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { CreateStateMachineCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { type LocalAws, startLocalAws } from '../../local/aws';
import { finishedExecution, PASS_MACHINE, ROLE_ARN } from './support';

jest.setTimeout(30_000);

async function startTwoExecutions(sfn: SFNClient, machineName: string) {
  const { stateMachineArn } = await sfn.send(
    new CreateStateMachineCommand({ name: machineName, definition: PASS_MACHINE, roleArn: ROLE_ARN }),
  );
  const outcomes: string[] = [];
  for (const name of ['first', 'second']) {
    try {
      const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: '{}' }));
      outcomes.push((await finishedExecution(sfn, executionArn ?? '')).status ?? 'no status');
    } catch (error) {
      outcomes.push(`HTTP ${(error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode}`);
    }
  }
  return outcomes;
}

describe('local/moto_server.py', () => {
  let local: LocalAws;

  beforeAll(async () => {
    local = await startLocalAws();
  });

  afterAll(() => local.stop());

  it('lets two named executions of one state machine both succeed', async () => {
    const sfn = new SFNClient(local.clientConfig);

    const outcomes = await startTwoExecutions(sfn, 'twice');

    expect(outcomes).toEqual(['SUCCEEDED', 'SUCCEEDED']);
  });
});

describe('unpatched moto server (why the launcher exists)', () => {
  it('fails the second StartExecution of a state machine with HTTP 500', async () => {
    const probe = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => probe.once('listening', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const moto = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
      cwd: path.join(__dirname, '..', '..'),
      stdio: 'ignore',
    });
    try {
      const endpoint = `http://127.0.0.1:${port}`;
      for (let ready = false; !ready; ) {
        ready = await fetch(`${endpoint}/moto-api/config`, {
          method: 'POST',
          body: JSON.stringify({ stepfunctions: { execute_state_machine: true } }),
        }).then(
          (response) => response.ok,
          () => new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 50)),
        );
      }
      const sfn = new SFNClient({
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        maxAttempts: 1,
      });

      const outcomes = await startTwoExecutions(sfn, 'twice');

      expect(outcomes).toEqual(['SUCCEEDED', 'HTTP 500']);
    } finally {
      moto.kill('SIGKILL');
    }
  });
});
