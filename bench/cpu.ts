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

export interface CpuResult {
  readonly events: number;
  readonly ingestMs: number;
  readonly jsonParseMs: number;
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
  const run = async (upTo: number) => {
    let charged = 0;
    const start = process.cpuUsage();
    for (let i = 0; i < upTo; i += BATCH) {
      const batch = records
        .slice(i, Math.min(i + BATCH, upTo))
        .map((r, j) => ({ id: String(i + j), body: JSON.parse(r.bytes), route: r.route }));
      const outcome = await ingest(batch, ledger, rules, trusted);
      charged += outcome.charged.length + outcome.sighted;
    }
    const used = process.cpuUsage(start);
    if (charged !== upTo) throw new Error(`ingest counted ${charged} of ${upTo} records`);
    return (used.user + used.system) / 1000;
  };
  const parse = () => {
    for (const r of records) JSON.parse(r.bytes);
  };
  // Warm both paths up first (JIT) on a tenth of the records, then one run of ingest (the long one) and the best
  // of three of JSON.parse: process CPU time, so waiting for the CPU on a busy machine is not counted.
  await run(Math.min(records.length, 10 * BATCH));
  parse();
  const ingestMs = await run(records.length);
  const jsonParseMs = Math.min(cpuMs(parse), cpuMs(parse), cpuMs(parse));
  return { events, ingestMs, jsonParseMs, ratio: ingestMs / jsonParseMs };
}
