/**
 * What `requireCloudTrailConfirmation` adds to the deny latency, on the local stack: `tsx bench/confirmation.ts`
 * measures it with the setting on, `-- --off` without (the functions read the setting once, at cold start, so each
 * run is a process and a stack of its own). Both runs deliver each crossing call's invocation log and put its
 * CloudTrail event to EventBridge at the same moment, as AWS produces both; the clock stops when `BudgeteerDeny` is on
 * the user. Off, the log alone suspends; on, the suspension waits for the sighting to come through the CloudTrail
 * route (the rule, the queue with its batching window of CLOUDTRAIL_BATCH_WINDOW, ingest) and confirm the spend.
 * In AWS add CloudTrail's own delay in delivering the event to EventBridge, which no local run has.
 */
Object.assign(process.env, {
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_METRICS_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
});

import { parseArgs } from 'node:util';
import { LocalStack } from '../local/stack';
import { measureDenyLatency } from './deny';
import { percentile } from './latency';

const { values: flags } = parseArgs({
  options: { off: { type: 'boolean', default: false }, samples: { type: 'string', default: '30' } },
});

async function main() {
  const required = !flags.off;
  const samples = Number(flags.samples);
  // The account's own budget is high: only each sample principal's $15 limit decides.
  const stack = await LocalStack.start({
    context: { accountBudgetUsd: '1000000', requireCloudTrailConfirmation: required },
  });
  try {
    const latencies = await measureDenyLatency(stack, samples, () => {}, { sighting: true });
    const sorted = [...latencies].sort((a, b) => a - b);
    const ms = (p: number) => `${Math.round(percentile(sorted, p))} ms`;
    console.log(
      `\nDeny latency, requireCloudTrailConfirmation ${required ? 'on' : 'off'} (${samples} samples, local)\n`,
    );
    console.log('| p50 | p90 | p99 | max |\n| --- | --- | --- | --- |');
    console.log(`| ${[50, 90, 99, 100].map(ms).join(' | ')} |`);
  } finally {
    await stack.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
