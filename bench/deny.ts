/**
 * Deny latency on the local stack: from the invocation log that takes a principal past 100% entering ingest to the
 * `BudgeteerDeny` policy being present on its IAM user (read from IAM itself, polled every 5 ms). Each sample is a
 * fresh IAM user with a $15 limit and one Claude Opus 4 call of 1,010,000 input tokens ($15.15, 101%). The path:
 * ingest -> Budgets stream (local mapping polls every 50 ms) -> evaluator claim and StartExecution -> moto's ASL
 * interpreter -> suspend function (in process) -> PutUserPolicy. In AWS add the stream mapping's polling delay and
 * Step Functions' own start latency.
 */
import { CreateUserCommand, GetUserPolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import type { LocalStack } from '../local/stack';
import { cloudTrailEvent } from '../test/fixtures';
import { crossingLatencies } from './latency';

/**
 * Latencies in ms, one per sample; each sample is a principal of its own. With `sighting`, the call's CloudTrail
 * event is put to EventBridge as its log is delivered, and goes the CloudTrail route (the rule, the queue and its
 * batching window, ingest): what a deployment with `requireCloudTrailConfirmation` waits for.
 */
export async function measureDenyLatency(
  stack: LocalStack,
  samples: number,
  progress: (done: number) => void,
  options: { readonly sighting?: boolean } = {},
): Promise<number[]> {
  const iam = new IAMClient(stack.local.clientConfig);
  try {
    return await crossingLatencies(stack, {
      samples,
      prefix: 'deny',
      inputTokens: 1_010_000,
      prepare: async (name) => {
        await iam.send(new CreateUserCommand({ UserName: name }));
      },
      arrived: (name) =>
        iam
          .send(new GetUserPolicyCommand({ UserName: name, PolicyName: 'BudgeteerDeny' }))
          .then(() => true)
          .catch(() => false),
      ...(options.sighting
        ? {
            alongside: async ({ requestId, arn, time }) => {
              const event = cloudTrailEvent(requestId, arn) as { detail: Record<string, unknown> };
              event.detail.eventTime = time;
              await stack.putEvents([event]);
            },
          }
        : {}),
      progress,
    });
  } finally {
    iam.destroy();
  }
}
