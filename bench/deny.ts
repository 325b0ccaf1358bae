/**
 * Deny latency on the local stack: from the invocation log that takes a principal past 100% entering ingest to the
 * `BudgeteerDeny` policy being present on its IAM user (read from IAM itself, polled every 5 ms). Each sample is a
 * fresh IAM user with a $15 limit and one Claude Opus 4 call of 1,010,000 input tokens ($15.15, 101%). The path:
 * ingest -> Budgets stream (local mapping polls every 50 ms) -> evaluator claim and StartExecution -> moto's ASL
 * interpreter -> suspend function (in process) -> PutUserPolicy. In AWS add the stream mapping's polling delay and
 * Step Functions' own start latency.
 */
Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' });

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateUserCommand, GetUserPolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LocalStack } from '../local/stack';
import { BudgetStore } from '../shared/budgets';
import { usd } from '../shared/money';
import { invocationLog } from '../test/fixtures';
import { printLatency } from './latency';

const SAMPLES = Number(process.env.DENY_SAMPLES ?? 50);

async function main() {
  const stack = await LocalStack.start();
  const iam = new IAMClient(stack.local.clientConfig);
  try {
    const documents = DynamoDBDocumentClient.from(new DynamoDBClient(stack.local.clientConfig), {
      unmarshallOptions: { wrapNumbers: true },
    });
    const store = new BudgetStore(documents, stack.output('BudgetsTableName'), {
      configuredDefault: usd('50'),
      configuredAccount: usd('1000000'),
    });
    const latencies: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const name = `deny-${Date.now()}-${i}`;
      await iam.send(new CreateUserCommand({ UserName: name }));
      await store.setLimit(`user/${name}`, usd('15'), 'system:bench');
      await stack.settle();
      const started = performance.now();
      await stack.deliverLogs([
        invocationLog(`${name}-call`, `arn:aws:iam::111122223333:user/${name}`, {
          timestamp: new Date().toISOString(),
          modelId: 'anthropic.claude-opus-4-20250514-v1:0',
          input: { inputTokenCount: 1_010_000 },
          output: { outputTokenCount: 0 },
        }),
      ]);
      for (;;) {
        const denied = await iam
          .send(new GetUserPolicyCommand({ UserName: name, PolicyName: 'BudgeteerDeny' }))
          .then(() => true)
          .catch(() => false);
        if (denied) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      latencies.push(performance.now() - started);
    }
    printLatency('Deny latency, crossing log into ingest -> BudgeteerDeny in IAM', latencies);
  } finally {
    iam.destroy();
    await stack.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
