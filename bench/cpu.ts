/**
 * Ingest CPU per event, in process: parse, identify, price and aggregate (the ledger's packing into transactions,
 * with its DynamoDB client stubbed to answer at once) a mix of CloudTrail events and invocation log records, against
 * only `JSON.parse` of the same bytes. The ratio of the two is the figure; the times are for orientation.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ingest } from '../functions/ingest/ingest';
import type { RawRecord, TrustedSources } from '../shared/events/parse';
import { Ledger } from '../shared/ledger';
import { cloudTrailEvent, invocationLog } from '../test/fixtures';
import { seededRandom } from './random';

const ACCOUNT = '111122223333';
const MODELS = [
  'anthropic.claude-3-haiku-20240307-v1:0',
  'anthropic.claude-opus-4-20250514-v1:0',
  'amazon.nova-lite-v1:0',
  'meta.llama3-70b-instruct-v1:0',
];
const PRINCIPALS = [
  (i: number) => `arn:aws:iam::${ACCOUNT}:user/cpu-${i}`,
  (i: number) => `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Dev_0123456789abcdef/person-${i}@example.com`,
  (i: number) => `arn:aws:sts::${ACCOUNT}:assumed-role/app-role-${i % 20}/session-${i}`,
];
const BATCH = 1000;
const ROUNDS = 5;

export interface CpuResult {
  readonly events: number;
  readonly ingestMs: number;
  readonly jsonParseMs: number;
  /** The median of the rounds' ratios. */
  readonly ratio: number;
}

/** The same mixed records every time: half CloudTrail events, half invocation logs, four models, three kinds. */
function mixedRecords(count: number): { bytes: string; route: RawRecord['route'] }[] {
  const random = seededRandom(10);
  return Array.from({ length: count }, (_, i) => {
    const arn = PRINCIPALS[i % PRINCIPALS.length]?.(Math.floor(random() * 500)) ?? '';
    const modelId = MODELS[Math.floor(random() * MODELS.length)] ?? '';
    const requestId = `cpu-${i}`;
    if (i % 2 === 0) {
      return {
        bytes: JSON.stringify({ ...cloudTrailEvent(requestId, arn, modelId), account: ACCOUNT }),
        route: 'eventbridge',
      };
    }
    const log = invocationLog(requestId, arn, {
      modelId,
      input: { inputContentType: 'application/json', inputTokenCount: 1 + Math.floor(random() * 4000) },
      output: { outputContentType: 'application/json', outputTokenCount: 1 + Math.floor(random() * 800) },
    });
    return { bytes: JSON.stringify(log), route: 'logs-subscription' };
  });
}

/** CPU time (user + system) of `work`, in ms. */
function cpuMs(work: () => void): number {
  const start = process.cpuUsage();
  work();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

export async function measureIngestCpu(events: number): Promise<CpuResult> {
  const records = mixedRecords(events);
  const stub = { send: async () => ({}) } as unknown as DynamoDBDocumentClient;
  const ledger = new Ledger(stub, {
    usageTable: 'Usage',
    budgetsTable: 'Budgets',
    periodKind: 'monthly',
    usageTtlDays: 400,
    accountShard: 0,
  });
  const rules = { perSessionRoles: ['AWSReservedSSO_*'] };
  const trusted: TrustedSources = { account: ACCOUNT, invocationLogGroup: '/aws/bedrock/modelinvocations' };
  const run = async (from: number, to: number) => {
    let charged = 0;
    const start = process.cpuUsage();
    for (let i = from; i < to; i += BATCH) {
      const batch = records
        .slice(i, Math.min(i + BATCH, to))
        .map((r, j) => ({ id: String(i + j), body: JSON.parse(r.bytes), route: r.route }));
      const outcome = await ingest(batch, ledger, rules, { trusted });
      charged += outcome.charged.length + outcome.sighted;
    }
    const used = process.cpuUsage(start);
    if (charged !== to - from) throw new Error(`ingest counted ${charged} of ${to - from} records`);
    return (used.user + used.system) / 1000;
  };
  const parse = (from: number, to: number) => () => {
    for (let i = from; i < to; i++) JSON.parse(records[i]?.bytes ?? '');
  };
  // Warm both paths up (JIT) on the first round's records, then rounds that each time ingest and then JSON.parse
  // (best of three) on the same slice; the median round's ratio is the figure, so a burst of other work on the
  // machine during one round does not make it. Process CPU time: waiting for a busy CPU is not counted.
  const size = Math.ceil(records.length / ROUNDS);
  await run(0, Math.min(size, records.length));
  parse(0, size)();
  const rounds: { ingestMs: number; jsonParseMs: number }[] = [];
  for (let from = 0; from < records.length; from += size) {
    const to = Math.min(from + size, records.length);
    const ingestMs = await run(from, to);
    const once = parse(from, to);
    rounds.push({ ingestMs, jsonParseMs: Math.min(cpuMs(once), cpuMs(once), cpuMs(once)) });
  }
  const ratios = rounds.map((r) => r.ingestMs / r.jsonParseMs).sort((a, b) => a - b);
  const sum = (pick: (r: (typeof rounds)[number]) => number) => rounds.reduce((total, r) => total + pick(r), 0);
  return {
    events,
    ingestMs: sum((r) => r.ingestMs),
    jsonParseMs: sum((r) => r.jsonParseMs),
    ratio: ratios[Math.floor(ratios.length / 2)] ?? 0,
  };
}
