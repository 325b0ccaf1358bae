import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../local/stack';
import { BudgetStore } from '../shared/budgets';
import { usd } from '../shared/money';
import { invocationLog } from '../test/fixtures';

/** The percentile of sorted samples (nearest rank). */
export const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;

export interface Crossing {
  readonly samples: number;
  /** Names the sample principals (`<prefix>-<time>-<i>`, IAM users). */
  readonly prefix: string;
  /** Claude Opus 4 input tokens of the one call that crosses the $15 limit ($15 per million). */
  readonly inputTokens: number;
  /** Before the limit is set (creating the IAM user, say). */
  readonly prepare?: (name: string) => Promise<void>;
  /** Whether what the crossing causes has arrived; polled every 5 ms. */
  readonly arrived: (name: string) => Promise<boolean>;
  /** What else the call sends as the log is delivered (its CloudTrail event), on the clock too. */
  readonly alongside?: (call: {
    readonly requestId: string;
    readonly arn: string;
    readonly time: string;
  }) => Promise<void>;
  readonly progress: (done: number) => void;
}

/**
 * Latency from one invocation log entering ingest to what it causes, in ms: each sample a principal of its own with a
 * $15 limit, at rest before its crossing call is delivered.
 */
export async function crossingLatencies(stack: LocalStack, crossing: Crossing): Promise<number[]> {
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient(stack.local.clientConfig), {
    unmarshallOptions: { wrapNumbers: true },
  });
  const store = new BudgetStore(documents, stack.output('BudgetsTableName'), {
    configuredDefault: usd('50'),
    configuredAccount: usd('1000000'),
  });
  // Every sample's principal and limit first, then one crossing at a time, each from a stack at rest.
  const stamp = Date.now();
  const names = Array.from({ length: crossing.samples }, (_, i) => `${crossing.prefix}-${stamp}-${i}`);
  for (const name of names) {
    await crossing.prepare?.(name);
    await store.setLimit(`user/${name}`, usd('15'), 'system:bench');
  }
  const latencies: number[] = [];
  for (const name of names) {
    await stack.settle();
    const started = performance.now();
    const call = {
      requestId: `${name}-call`,
      arn: `arn:aws:iam::111122223333:user/${name}`,
      time: new Date().toISOString(),
    };
    await Promise.all([
      stack.deliverLogs([
        invocationLog(call.requestId, call.arn, {
          timestamp: call.time,
          modelId: 'anthropic.claude-opus-4-20250514-v1:0',
          input: { inputTokenCount: crossing.inputTokens },
          output: { outputTokenCount: 0 },
        }),
      ]),
      crossing.alongside?.(call),
    ]);
    while (!(await crossing.arrived(name))) await new Promise((resolve) => setTimeout(resolve, 5));
    latencies.push(performance.now() - started);
    crossing.progress(latencies.length);
  }
  return latencies;
}
