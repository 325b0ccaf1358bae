/**
 * `npm run bench`: what ingestion costs and how fast it is, measured on the local stack (moto on loopback).
 *
 * - DynamoDB requests per 1,000 Bedrock calls by 50 principals, each call arriving twice (CloudTrail through
 *   EventBridge -> SQS in batches of the deployed batch size, and its invocation log through the Logs
 *   subscription in deliveries of N records). Counted on the SDK client the handlers use, so every request the
 *   code makes is seen. This is the figure of merit: it is what DynamoDB bills for (each transaction is one
 *   request, with two write units per item).
 * - Wall time of ingesting the same on this machine, for orientation only: moto is not DynamoDB.
 */
Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' });

import { LocalStack } from '../local/stack';
import { dynamo } from '../shared/clients';
import { cloudTrailEvent, invocationLog } from '../test/fixtures';

const CALLS = 1000;
const PRINCIPALS = 50;
const LOG_DELIVERY_SIZES = [25, 100, 500];

let requests = 0;
let transactItems = 0;
dynamo.middlewareStack.add(
  (next) => async (args) => {
    requests++;
    const input = args.input as { TransactItems?: unknown[] };
    transactItems += input.TransactItems?.length ?? 1;
    return next(args);
  },
  { step: 'initialize', name: 'benchRequestCounter' },
);

function calls(run: string) {
  return Array.from({ length: CALLS }, (_, i) => {
    const arn = `arn:aws:iam::111122223333:user/bench-${run}-${i % PRINCIPALS}`;
    const requestId = `${run}-${i}`;
    const timestamp = '2026-11-20T12:00:00Z';
    return { event: cloudTrailEvent(requestId, arn), log: invocationLog(requestId, arn, { timestamp }) };
  });
}

async function main() {
  const stack = await LocalStack.start();
  const rows: string[][] = [];
  try {
    for (const size of LOG_DELIVERY_SIZES) {
      const run = `n${size}-${Date.now()}`;
      const batch = calls(run);
      // CloudTrail first (as it usually arrives first), then the logs.
      requests = 0;
      transactItems = 0;
      let started = performance.now();
      await stack.putEvents(batch.map((c) => c.event));
      await stack.settle(300_000);
      const cloudTrail = { requests, items: transactItems, ms: performance.now() - started };
      process.stderr.write(
        `  delivery size ${size}: CloudTrail route done in ${(cloudTrail.ms / 1000).toFixed(1)} s\n`,
      );
      requests = 0;
      transactItems = 0;
      started = performance.now();
      for (let i = 0; i < batch.length; i += size) await stack.deliverLogs(batch.slice(i, i + size).map((c) => c.log));
      const logs = { requests, items: transactItems, ms: performance.now() - started };
      rows.push([
        String(size),
        String(cloudTrail.requests),
        String(logs.requests),
        String(cloudTrail.requests + logs.requests),
        String(cloudTrail.items + logs.items),
        `${Math.round((CALLS / (cloudTrail.ms + logs.ms)) * 1000)}`,
      ]);
    }
  } finally {
    await stack.stop();
  }
  const header = [
    'log delivery size',
    'requests: CloudTrail',
    'requests: logs',
    'requests total',
    'items written',
    'calls/s (local)',
  ];
  console.log(
    `DynamoDB requests per ${CALLS} Bedrock calls by ${PRINCIPALS} principals (CloudTrail + invocation log each)\n`,
  );
  console.log(`| ${header.join(' | ')} |\n|${header.map(() => ' --- ').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
