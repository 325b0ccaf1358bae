/**
 * `npm run bench:organization [-- --calls 4000 --principals 300 --size 50 --rate 2 --seconds 20]`: the organization's
 * invocation log path on the local stack, end to end: member accounts' CloudWatch Logs deliveries put on the central
 * Logs destination's Kinesis stream (LocalOrganization.deliverInvocationLogs: one gzip subscription payload per
 * delivery, one Kinesis record), the template's Kinesis event source mapping (batch size, batching window,
 * 4 on-demand shards in moto) invoking the real ingest, which meters into DynamoDB. Measures:
 * - throughput: every call of the run put as fast as the puts go, then the stack settled (the mapping delivers what
 *   it holds at once when settling, as its window would have let it a few seconds later): calls counted a second;
 * - latency to counter: deliveries paced at `--rate` a second for `--seconds`, the window left to act as in AWS; per
 *   delivery, from its PutRecord's answer to the end of the ingest invocation that holds it (ingest writes the
 *   principal's counter in the same transaction as the call's row, so that is when the counter has it);
 * - DynamoDB requests and write units per 1,000 calls on this path (the write meter of bench/ingest.ts);
 * - Kinesis bytes per call: the gzip subscription payload's size (without prompt and response text);
 * and from those, with bench/design-load.ts, what the design load takes.
 * Writes bench/organization.json. See docs/performance.md, "An organization: the Kinesis path and the design load".
 */
Object.assign(process.env, {
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_METRICS_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
});

import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { KinesisStreamEvent } from 'aws-lambda';
import { loadHandler } from '../local/handlers';
import { MANAGEMENT_ACCOUNT_ID, MEMBER_ACCOUNT_IDS } from '../local/organization';
import { LocalStack } from '../local/stack';
import { invocationLog } from '../test/fixtures';
import { designLoad, ORGANIZATION_DESIGN_LOAD } from './design-load';
import { meterHandlerWrites, routeCost } from './ingest';
import { percentile } from './latency';

const { values: flags } = parseArgs({
  options: {
    calls: { type: 'string' },
    principals: { type: 'string' },
    size: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    out: { type: 'string' },
  },
});
const options = {
  calls: Number(flags.calls ?? 4000),
  principals: Number(flags.principals ?? 300),
  /** Log events per CloudWatch Logs delivery (one Kinesis record). */
  deliverySize: Number(flags.size ?? 50),
  /** Paced deliveries a second in the latency phase. */
  rate: Number(flags.rate ?? 2),
  seconds: Number(flags.seconds ?? 20),
  out: flags.out ?? path.join(__dirname, 'organization.json'),
};
/** The accounts with the member stack: the two members and the management account. */
const ACCOUNTS = [...MEMBER_ACCOUNT_IDS, MANAGEMENT_ACCOUNT_ID];
const PUT_CONCURRENCY = 8;

const began = performance.now();
const progress = (line: string) =>
  process.stderr.write(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The calls of a run: principal i lives in account i mod 3, call j is principal j mod P's. */
function calls(run: string, count: number) {
  return Array.from({ length: count }, (_, j) => {
    const index = j % options.principals;
    const account = ACCOUNTS[index % ACCOUNTS.length] ?? MANAGEMENT_ACCOUNT_ID;
    const arn = `arn:aws:iam::${account}:user/bench-org-${index}`;
    return { account, record: invocationLog(`${run}-${String(j).padStart(7, '0')}`, arn, { accountId: account }) };
  });
}

/** Deliveries of `size` calls of one account each, as one account's log group delivers them. */
function deliveries(all: ReturnType<typeof calls>, size: number) {
  const byAccount = new Map<string, unknown[]>();
  for (const call of all) byAccount.set(call.account, [...(byAccount.get(call.account) ?? []), call.record]);
  return [...byAccount].flatMap(([account, records]) =>
    Array.from({ length: Math.ceil(records.length / size) }, (_, i) => ({
      account,
      records: records.slice(i * size, (i + 1) * size),
    })),
  );
}

/** A subscription payload's gzip size for `size` calls (no prompt or response text), as CloudWatch Logs puts it. */
function payloadBytes(size: number): number {
  const logEvents = calls('bytes', size).map(({ record }, i) => ({
    id: `${Date.now()}${String(i).padStart(6, '0')}`,
    timestamp: Date.now(),
    message: JSON.stringify(record),
  }));
  const payload = { messageType: 'DATA_MESSAGE', owner: ACCOUNTS[0], logGroup: '/aws/bedrock/modelinvocations' };
  return gzipSync(JSON.stringify({ ...payload, logStream: 'aws/bedrock/modelinvocations', logEvents })).length;
}

async function main() {
  progress(`organization bench: ${cpus().length} cores, load average ${loadavg()[0]?.toFixed(1)}`);
  const stack = await LocalStack.start({
    organization: true,
    // Nobody is stopped: the bench measures metering, not enforcement.
    context: { accountBudgetUsd: '100000000', defaultBudgetUsd: '100000' },
  });
  const org = stack.organization;
  if (!org) throw new Error('no organization');
  // Ingest as deployed, with the end of each invocation noted per Kinesis sequence number.
  const ingest = Object.values(stack.deployment.functions).find((f) => f.entry === 'functions/ingest/handler.ts');
  if (!ingest) throw new Error('no ingest function');
  const real = loadHandler(ingest.entry, ingest.environment, stack.local);
  /** When the ingest invocation holding each Kinesis record (by its eventID) ended. */
  const finished = new Map<string, number>();
  const invocations: number[] = [];
  stack.local.registerFunction(
    ingest.name,
    async (event, context) => {
      const result = await real(event, context);
      const records = (event as Partial<KinesisStreamEvent>).Records ?? [];
      if (records[0]?.eventSource === 'aws:kinesis') {
        invocations.push(records.length);
        const at = performance.now();
        for (const record of records) finished.set(record.eventID, at);
      }
      return result;
    },
    { timeoutSeconds: 900 },
  );
  const meter = await meterHandlerWrites(stack);
  try {
    // Throughput: everything put at once (8 puts in flight), then settled.
    const batch = deliveries(calls(`t${Date.now() % 1e9}`, options.calls), options.deliverySize);
    progress(`throughput: ${options.calls} calls of ${options.principals} principals in ${batch.length} deliveries`);
    meter.take();
    invocations.length = 0;
    const started = performance.now();
    for (let i = 0; i < batch.length; i += PUT_CONCURRENCY) {
      await Promise.all(
        batch.slice(i, i + PUT_CONCURRENCY).map((d) => org.deliverInvocationLogs(d.account, d.records)),
      );
    }
    const putSeconds = (performance.now() - started) / 1000;
    await stack.settle(600_000);
    const seconds = (performance.now() - started) / 1000;
    const cost = routeCost(meter.take());
    const per1000 = (n: number) => (n * 1000) / options.calls;
    const throughput = {
      calls: options.calls,
      deliveries: batch.length,
      putSeconds,
      seconds,
      callsPerSecond: options.calls / seconds,
      ingestInvocations: invocations.length,
      kinesisRecordsPerInvocation: invocations.reduce((a, b) => a + b, 0) / Math.max(1, invocations.length),
      ddbRequestsPer1000Calls: per1000(cost.requests),
      ddbWriteUnitsPer1000Calls: per1000(cost.writeUnits),
      ddbItemsPer1000Calls: per1000(cost.items),
    };
    progress(`throughput: ${throughput.callsPerSecond.toFixed(0)} calls/s, ${JSON.stringify(throughput)}`);

    // Latency: paced deliveries, the batching window acting as in AWS (no settle until the end).
    const paced = deliveries(
      calls(`l${Date.now() % 1e9}`, options.rate * options.seconds * options.deliverySize),
      options.deliverySize,
    );
    progress(`latency: ${paced.length} deliveries at ${options.rate}/s`);
    const put = new Map<string, number>();
    const pacedStart = performance.now();
    await Promise.all(
      paced.map(async (d, i) => {
        await sleep(Math.max(0, pacedStart + (i * 1000) / options.rate - performance.now()));
        const sent = await org.deliverInvocationLogs(d.account, d.records);
        // Keyed as Lambda's eventID (moto numbers each shard's records from 1).
        if (sent) put.set(`${sent.shardId}:${sent.sequenceNumber}`, performance.now());
      }),
    );
    for (let waited = 0; [...put.keys()].some((s) => !finished.has(s)) && waited < 60_000; waited += 100) {
      await sleep(100);
    }
    const latencies = [...put].flatMap(([sequence, at]) => {
      const end = finished.get(sequence);
      return end === undefined ? [] : [end - at];
    });
    const sorted = [...latencies].sort((a, b) => a - b);
    const latency = {
      deliveries: put.size,
      measured: latencies.length,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1],
    };
    progress(`latency: ${JSON.stringify(latency)}`);
    const bytes = {
      deliverySize: options.deliverySize,
      perCall: payloadBytes(options.deliverySize) / options.deliverySize,
      perCallAtDesignDeliverySize:
        payloadBytes(ORGANIZATION_DESIGN_LOAD.deliverySize) / ORGANIZATION_DESIGN_LOAD.deliverySize,
      rawRecord: Buffer.byteLength(JSON.stringify(calls('raw', 1)[0]?.record)),
    };
    const design = designLoad({ ...ORGANIZATION_DESIGN_LOAD, payloadBytesPerCall: bytes.perCallAtDesignDeliverySize });
    const results = {
      measuredAt: new Date().toISOString(),
      machine: { cores: cpus().length, node: process.version, loadAverage: loadavg() },
      options: { ...options, out: undefined },
      throughput,
      latencyMs: latency,
      kinesisBytes: bytes,
      designLoad: design,
    };
    writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
    console.log(JSON.stringify(results, null, 2));
  } finally {
    await stack.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
