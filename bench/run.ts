/**
 * `npm run bench [-- --quick]`: every figure of merit in one run, printed as a table and written to
 * bench/results.json. Counts (DynamoDB requests and write units, bundle bytes) do not depend on the machine; times
 * (latency, init, CPU) do, and are reported as measured here. See docs/performance.md.
 */
Object.assign(process.env, {
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_METRICS_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
});

import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { LocalStack, synthTemplate } from '../local/stack';
import { invocationLog } from '../test/fixtures';
import { measureAlertLatency } from './alerts';
import { type BundleResult, measureBundles } from './bundles';
import { costPerMillionCalls, type FunctionUse } from './cost';
import { measureIngestCpu } from './cpu';
import { measureDenyLatency } from './deny';
import { type IngestCost, measureIngestCost } from './ingest';
import { percentile } from './latency';

/** The reference system's measured DynamoDB requests per 1,000 calls (it keeps no exactly-once guarantee). */
const REFERENCE_REQUESTS_PER_1000_CALLS = 3000;
const GOALS = {
  ingestCpuRatio: 3,
  requestsPer1000Calls: 30,
  writeUnitsPer1000Calls: 2500,
  alertP99Ms: 1000,
  denyP99Ms: 3000,
  bundleBytes: 250 * 1024,
  initMs: 150,
  costPerMillionCallsUsd: 1,
};

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    calls: { type: 'string' },
    principals: { type: 'string' },
    sizes: { type: 'string' },
    samples: { type: 'string' },
    'cpu-events': { type: 'string' },
    out: { type: 'string' },
  },
});
const quick = flags.quick ?? false;
const options = {
  calls: Number(flags.calls ?? 1000),
  principals: Number(flags.principals ?? 50),
  deliverySizes: (flags.sizes ?? '25,100,500').split(',').map(Number),
  // At least 50 principals for the latencies: one principal per sample.
  samples: Math.max(50, Number(flags.samples ?? (quick ? 50 : 100))),
  cpuEvents: Number(flags['cpu-events'] ?? (quick ? 20_000 : 100_000)),
  out: flags.out ?? path.join(__dirname, 'results.json'),
};

const began = performance.now();
const progress = (line: string) =>
  process.stderr.write(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

/** Lambda invocations and their durations, from the local Lambda front's start/end lines. */
class LambdaUse {
  private readonly started = new Map<string, { name: string; at: number }>();
  private use = new Map<string, { invocations: number; ms: number }>();
  see(line: string): void {
    const match = /^lambda (\S+) (start|end|failed) ([^\s:]+)/.exec(line);
    if (!match) return;
    const [, name = '', what, id = ''] = match;
    if (what === 'start') {
      this.started.set(id, { name, at: performance.now() });
      return;
    }
    const start = this.started.get(id);
    if (!start) return;
    this.started.delete(id);
    const use = this.use.get(name) ?? { invocations: 0, ms: 0 };
    use.invocations++;
    use.ms += performance.now() - start.at;
    this.use.set(name, use);
  }
  take(): Map<string, { invocations: number; ms: number }> {
    const use = this.use;
    this.use = new Map();
    return use;
  }
}

const latency = (samples: readonly number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    samples: samples.length,
  };
};

async function main() {
  progress(`bench${quick ? ' (quick)' : ''}: ${cpus().length} cores, load average ${loadavg()[0]?.toFixed(1)}`);
  progress(`ingest CPU: ${options.cpuEvents} events in process`);
  const cpu = await measureIngestCpu(options.cpuEvents);
  progress(`ingest CPU: ${cpu.ratio.toFixed(1)}x JSON.parse`);

  // The account's own budget is high: the latency samples' $12 and $15 calls must not take the account past its
  // thresholds (an emergency stop would suspend every principal and make every later sample wait for it).
  const context = { accountBudgetUsd: '1000000' };
  // One synthesis for the bundles' list of functions and their memory sizes (the local stack makes its own).
  const template = synthTemplate(context);
  progress('bundles: esbuild with the house construct options, cold init x5 each');
  const bundles = await measureBundles(template, progress, { sdkExternalInit: !quick });

  const lambda = new LambdaUse();
  progress('local stack: starting');
  const stack = await LocalStack.start({ context, log: (line) => lambda.see(line) });
  let ingest: IngestCost[];
  let alerts: number[];
  let denies: number[];
  let functionUse: Record<string, FunctionUse> = {};
  try {
    // Latencies first, on a stack at rest: before the ingest measurement installs its write meter (two reads
    // around every write) and fills the tables.
    progress(`alert latency: ${options.samples} principals`);
    alerts = await measureAlertLatency(stack, options.samples, (done) => {
      if (done % 10 === 0) progress(`alert latency: ${done}/${options.samples}`);
    });
    progress(`deny latency: ${options.samples} principals`);
    denies = await measureDenyLatency(stack, options.samples, (done) => {
      if (done % 10 === 0) progress(`deny latency: ${done}/${options.samples}`);
    });
    await stack.settle(300_000);
    lambda.take();
    ingest = await measureIngestCost(stack, { ...options, progress, cloudTrailQueue: quick ? 'none' : 'first' });
    const batches = options.calls * options.deliverySizes.length;
    for (const [name, use] of lambda.take()) {
      const fn = Object.values(stack.deployment.functions).find((f) => f.name === name);
      if (!fn) continue;
      const memoryMb = Number(template.Resources?.[fn.logicalId]?.Properties?.MemorySize ?? 128);
      functionUse[path.basename(path.dirname(fn.entry))] = {
        invocations: (use.invocations * 1000) / batches,
        ms: (use.ms * 1000) / batches,
        memoryMb,
      };
    }
  } finally {
    await stack.stop();
  }
  functionUse = Object.fromEntries(Object.entries(functionUse).sort(([a], [b]) => a.localeCompare(b)));

  const worst = (pick: (r: IngestCost) => number) => Math.max(...ingest.map(pick));
  const mean = (pick: (r: IngestCost) => number) => ingest.reduce((sum, r) => sum + pick(r), 0) / ingest.length;
  const sample = invocationLog('00000000-0000-0000-0000-000000000000', 'arn:aws:iam::111122223333:user/someone');
  const cost = costPerMillionCalls({
    lambda: functionUse,
    writeUnits: mean((r) => r.writeUnitsPer1000Calls),
    readItems: mean((r) => r.readItems),
    // EventBridge sends one message per event; the mapping receives and deletes in tens.
    sqsRequests: 1000 * 1.2,
    logRecordBytes: Buffer.byteLength(JSON.stringify(sample)),
    tokensPerCall: 1100,
  });
  const results = {
    measuredAt: new Date().toISOString(),
    quick,
    machine: {
      cores: cpus().length,
      memoryGiB: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
      loadAverage: loadavg(),
    },
    options: { ...options, out: undefined },
    ingestCpuRatio: cpu.ratio,
    ingestCpu: cpu,
    ddbRequestsPer1000Calls: worst((r) => r.requestsPer1000Calls),
    ddbWriteUnitsPer1000Calls: worst((r) => r.writeUnitsPer1000Calls),
    naiveDdbRequestsPer1000Calls: worst((r) => r.naiveRequestsPer1000Calls),
    naiveDdbWriteUnitsPer1000Calls: worst((r) => r.naiveWriteUnitsPer1000Calls),
    referenceDdbRequestsPer1000Calls: REFERENCE_REQUESTS_PER_1000_CALLS,
    ddbByDeliverySize: ingest,
    alertLatencyMs: latency(alerts),
    denyLatencyMs: latency(denies),
    bundles,
    lambdaPer1000Calls: functionUse,
    costPerMillionCallsUsd: cost.totalUsd,
    invocationLoggingCostPerMillionCallsUsd: cost.invocationLoggingUsd,
    cost,
    goals: GOALS,
  };
  writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  progress(`done: ${options.out}`);
  printTable(results, ingest, bundles);
}

function printTable(
  r: {
    ingestCpuRatio: number;
    alertLatencyMs: ReturnType<typeof latency>;
    denyLatencyMs: ReturnType<typeof latency>;
    costPerMillionCallsUsd: number;
    invocationLoggingCostPerMillionCallsUsd: number;
    naiveDdbRequestsPer1000Calls: number;
    naiveDdbWriteUnitsPer1000Calls: number;
  },
  ingest: readonly IngestCost[],
  bundles: Readonly<Record<string, BundleResult>>,
): void {
  const rows: [string, string, string][] = [];
  const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const n = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits });
  rows.push(['ingest CPU vs JSON.parse', `${r.ingestCpuRatio.toFixed(1)}x`, `<= 3x: ${mark(r.ingestCpuRatio <= 3)}`]);
  for (const c of ingest) {
    rows.push([
      `DynamoDB per 1,000 calls, deliveries of ${c.deliverySize}`,
      `${n(c.requestsPer1000Calls)} requests (CloudTrail ${c.cloudTrail.requests}, logs ${c.logs.requests}), ${n(c.writeUnitsPer1000Calls)} write units`,
      `<= 30 / <= 2,500: ${mark(c.requestsPer1000Calls <= 30)} / ${mark(c.writeUnitsPer1000Calls <= 2500)}`,
    ]);
  }
  rows.push([
    'naive design (put + counter update per call)',
    `${n(r.naiveDdbRequestsPer1000Calls)} requests, ${n(r.naiveDdbWriteUnitsPer1000Calls)} write units`,
    `reference: ${n(REFERENCE_REQUESTS_PER_1000_CALLS)} requests`,
  ]);
  const ms = (l: ReturnType<typeof latency>) => `p50 ${n(l.p50)} / p90 ${n(l.p90)} / p99 ${n(l.p99)} ms`;
  rows.push(['alert latency (local)', ms(r.alertLatencyMs), `p99 <= 1 s: ${mark(r.alertLatencyMs.p99 <= 1000)}`]);
  rows.push(['deny latency (local)', ms(r.denyLatencyMs), `p99 <= 3 s: ${mark(r.denyLatencyMs.p99 <= 3000)}`]);
  for (const [name, b] of Object.entries(bundles)) {
    rows.push([
      `bundle ${name}`,
      `${n(b.bytes / 1024)} KB, init ${n(b.initMs)} ms (SDK external: ${n(b.sdkExternal.bytes / 1024)} KB${
        b.sdkExternal.initMs === undefined ? '' : `, init ${n(b.sdkExternal.initMs)} ms`
      })`,
      `${mark(b.bytes <= GOALS.bundleBytes)} / ${mark(b.initMs <= GOALS.initMs)}`,
    ]);
  }
  rows.push([
    'system cost per 1M calls',
    `$${r.costPerMillionCallsUsd.toFixed(2)}`,
    `<= $1: ${mark(r.costPerMillionCallsUsd <= 1)}`,
  ]);
  rows.push([
    'invocation logging per 1M calls',
    `$${r.invocationLoggingCostPerMillionCallsUsd.toFixed(2)}`,
    'beside it',
  ]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  const line = (row: readonly string[]) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ');
  console.log(`\n${line(['figure', 'measured', 'goal'])}`);
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
