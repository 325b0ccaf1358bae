/**
 * Alert latency on the local stack: from the invocation log that crosses 80% entering ingest to the alert being
 * in a queue subscribed to the alerts topic (as an admin's e-mail would be). Each sample is a fresh principal
 * with a $15 limit and one Claude Opus 4 call of 810,000 input tokens ($12.15, 81%). The local stream mapping
 * polls every 50 ms; in AWS a DynamoDB stream mapping adds its own polling delay (typically well under a second).
 */
Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' });

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { openInbox } from '../local/inbox';
import { LocalStack } from '../local/stack';
import { BudgetStore } from '../shared/budgets';
import { usd } from '../shared/money';
import { invocationLog } from '../test/fixtures';
import { printLatency } from './latency';

const SAMPLES = 40;

async function main() {
  const stack = await LocalStack.start();
  try {
    const inbox = await openInbox(stack.local.clientConfig, [stack.output('AlertsTopicArn')]);
    const documents = DynamoDBDocumentClient.from(new DynamoDBClient(stack.local.clientConfig), {
      unmarshallOptions: { wrapNumbers: true },
    });
    const store = new BudgetStore(documents, stack.output('BudgetsTableName'), {
      configuredDefault: usd('50'),
      configuredAccount: usd('1000000'),
    });
    const latencies: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const name = `latency-${Date.now()}-${i}`;
      await store.setLimit(`user/${name}`, usd('15'), 'system:bench');
      await stack.settle();
      const started = performance.now();
      await stack.deliverLogs([
        invocationLog(`${name}-call`, `arn:aws:iam::111122223333:user/${name}`, {
          timestamp: new Date().toISOString(),
          modelId: 'anthropic.claude-opus-4-20250514-v1:0',
          input: { inputTokenCount: 810_000 },
          output: { outputTokenCount: 0 },
        }),
      ]);
      while (!(await inbox.read()).some((n) => n.attributes.principal === `user/${name}`)) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      latencies.push(performance.now() - started);
    }
    printLatency('Alert latency, crossing log into ingest -> alert in a subscribed queue', latencies);
  } finally {
    await stack.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
