/**
 * Alert latency on the local stack: from the invocation log that crosses 80% entering ingest to the alert being
 * in a queue subscribed to the alerts topic (as an admin's e-mail would be). Each sample is a fresh principal
 * with a $15 limit and one Claude Opus 4 call of 810,000 input tokens ($12.15, 81%). The local stream mapping
 * polls every 50 ms; in AWS a DynamoDB stream mapping adds its own polling delay (typically well under a second).
 */
import { openInbox } from '../local/inbox';
import type { LocalStack } from '../local/stack';
import { crossingLatencies } from './latency';

/** Latencies in ms, one per sample; each sample is a principal of its own. */
export async function measureAlertLatency(
  stack: LocalStack,
  samples: number,
  progress: (done: number) => void,
): Promise<number[]> {
  const inbox = await openInbox(stack.local.clientConfig, [stack.output('AlertsTopicArn')]);
  const seen = new Set<string>();
  return crossingLatencies(stack, {
    samples,
    prefix: 'latency',
    inputTokens: 810_000,
    arrived: async (name) => {
      for (const n of await inbox.read()) seen.add(String(n.attributes.principal));
      return seen.has(`user/${name}`);
    },
    progress,
  });
}
