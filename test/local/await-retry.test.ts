import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateStateMachineCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { type LocalAws, startLocalAws } from '../../local/aws';
import { finishedExecution, ROLE_ARN } from './support';

jest.setTimeout(30_000);

/**
 * The suspension workflow's real definition on the local Step Functions, with a stand-in for the suspend function
 * whose every attempt to wait fails at first (its table unavailable, say): the workflow must not fall back to a
 * plain wait that no decision can end, but wait again after the retry delay, and end on a decision then.
 */
describe('suspend-principal workflow after a failed wait', () => {
  let local: LocalAws;
  let sfn: SFNClient;

  beforeAll(async () => {
    local = await startLocalAws();
    sfn = new SFNClient(local.clientConfig);
  });

  afterAll(() => local.stop());

  it('reports the failure, waits again after the retry delay, and lifts on the decision the next attempt receives', async () => {
    const steps: { action: string; retries?: number }[] = [];
    let failing = true;
    local.registerFunction('suspend', async (event: unknown) => {
      const step = event as {
        action: string;
        taskToken?: string;
        input: { wait?: { retries?: number; seconds?: number } };
      };
      steps.push({ action: step.action, retries: step.input.wait?.retries });
      switch (step.action) {
        case 'apply':
          return { outcome: 'applied', waitSeconds: 30 };
        case 'await':
          if (failing) throw new Error('Pending table unavailable');
          // The decision an admin took meanwhile, which the real step sends to this attempt's token.
          await sfn.send(
            new SendTaskSuccessCommand({
              taskToken: String(step.taskToken),
              output: JSON.stringify({ decision: 'lift', reason: 'admin', actor: 'arn:aws:iam::1:user/ops' }),
            }),
          );
          return {};
        case 'failed':
          // The table is back by the next attempt.
          failing = false;
          return { seconds: 20, retrySeconds: 1, untilEnd: 21, lastChance: false, retries: 1 };
        default:
          return {};
      }
    });
    const asl = JSON.parse(
      readFileSync(join(__dirname, '..', '..', 'statemachines', 'suspend-principal.asl.json'), 'utf8').replaceAll(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the CDK substitution's placeholder, as the definition spells it
        '${SuspendFunction}',
        local.functionArn('suspend'),
      ),
    );
    // The wait's own quick retries (15 s of backoff) are Step Functions' business, not this loop's: left out here.
    asl.States.WaitForDecision.Retry = [];
    const definition = JSON.stringify(asl);
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({ name: 'suspend-principal', definition, roleArn: ROLE_ARN }),
    );

    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn,
        name: 'user-alice-2026-11-g1',
        input: JSON.stringify({ principal: 'user/alice', period: '2026-11', graceSeconds: 0 }),
      }),
    );
    const execution = await finishedExecution(sfn, executionArn ?? '', 20_000);

    expect(execution.status).toBe('SUCCEEDED');
    const actions = steps.map((s) => s.action);
    // The first wait fails; the failure is reported; one more wait, after the delay, gets the decision.
    expect(actions).toEqual(['apply', 'await', 'failed', 'await', 'lift']);
    expect(steps.at(-2)?.retries).toBe(1);
    const output = JSON.parse(execution.output ?? '{}') as { decision?: { reason?: string } };
    expect(output.decision).toMatchObject({ decision: 'lift', reason: 'admin' });
  });
});
