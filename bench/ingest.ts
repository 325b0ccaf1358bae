/**
 * What ingestion costs in DynamoDB per 1,000 Bedrock calls by 50 principals, measured on the local stack.
 *
 * Each call arrives twice, as in AWS: its CloudTrail event through EventBridge -> SQS -> ingest (the local mapping
 * batches as the deployed one: the template's batch size and batching window), then its invocation log record
 * through the Logs subscription in deliveries of N records (one invocation per delivery, as CloudWatch Logs
 * invokes). Every write request the handlers make is counted on their own SDK client, and its write units computed
 * from the items' sizes before and after (see capacity.ts). These are counts: they do not depend on the machine.
 *
 * The naive design (one conditional put per record and one counter update per charged call, no transactions, no
 * batching) is priced from the same items: its rows are the same rows, at 1 unit per started KB.
 */
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CLOUDTRAIL_BATCH_SIZE } from '../infra/constructs/ingestion';
import type { LocalStack } from '../local/stack';
import { dynamo } from '../shared/clients';
import { cloudTrailEvent, invocationLog } from '../test/fixtures';
import { type IndexShape, meterWrites } from './capacity';

export interface RouteCost {
  readonly requests: number;
  readonly items: number;
  readonly writeUnits: number;
  /** Of the write units, those of the Usage table's unmetered index. */
  readonly indexWriteUnits: number;
}

export interface IngestCost {
  readonly deliverySize: number;
  readonly calls: number;
  readonly cloudTrail: RouteCost;
  readonly logs: RouteCost;
  /** Both routes, per 1,000 calls. */
  readonly requestsPer1000Calls: number;
  readonly writeUnitsPer1000Calls: number;
  readonly naiveRequestsPer1000Calls: number;
  readonly naiveWriteUnitsPer1000Calls: number;
  /** Reads the evaluator made meanwhile (stream batches follow timing: for the cost estimate, not a count). */
  readonly readRequests: number;
  readonly readItems: number;
  readonly seconds: number;
}

export interface IngestCostOptions {
  readonly calls: number;
  readonly principals: number;
  readonly deliverySizes: readonly number[];
  readonly progress: (line: string) => void;
  /**
   * Which delivery sizes' CloudTrail events go through EventBridge and SQS: the first size's (`first`), or none
   * (--quick). The others are handed to ingest as the batches the mapping forms (its batch size, one invocation
   * each): the same requests, without moto's SQS time (moto's SendMessage reads every queue attribute, a scan of the
   * queue, per message: a thousand events take 40 s to send here). @default 'first'
   */
  readonly cloudTrailQueue?: 'first' | 'none';
}

export interface Phase {
  requests: number;
  rows: { items: number; writeUnits: number; plainWriteUnits: number; indexWriteUnits: number };
  counters: { items: number; writeUnits: number; plainWriteUnits: number; indexWriteUnits: number };
  readRequests: number;
  readItems: number;
}

const emptyPhase = (): Phase => ({
  requests: 0,
  rows: { items: 0, writeUnits: 0, plainWriteUnits: 0, indexWriteUnits: 0 },
  counters: { items: 0, writeUnits: 0, plainWriteUnits: 0, indexWriteUnits: 0 },
  readRequests: 0,
  readItems: 0,
});

/** What the handlers' client did since the last reset; rows (Usage) and counters (Budgets) apart. */
let phase = emptyPhase();
let usageTable = '';
let installed = false;

function install(stack: LocalStack, keys: Map<string, string[]>, indexes: Map<string, IndexShape[]>): void {
  usageTable = stack.output('UsageTableName');
  if (installed) return;
  installed = true;
  const reader = new DynamoDBClient(stack.local.clientConfig);
  meterWrites(
    dynamo,
    reader,
    (table) => keys.get(table) ?? [],
    (table) => indexes.get(table) ?? [],
    (write) => {
      phase.requests++;
      for (const item of write.items) {
        const into = item.table === usageTable ? phase.rows : phase.counters;
        into.items++;
        into.writeUnits += item.writeUnits;
        into.plainWriteUnits += item.plainWriteUnits;
        into.indexWriteUnits += item.indexWriteUnits;
      }
    },
  );
  dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = String(context.commandName ?? '').replace(/Command$/, '');
      const input = args.input as { RequestItems?: Record<string, { Keys?: unknown[] }> };
      if (['GetItem', 'Get', 'Query', 'Scan'].includes(operation)) {
        phase.readRequests++;
        phase.readItems++;
      } else if (operation === 'BatchGetItem' || operation === 'BatchGet') {
        phase.readRequests++;
        for (const table of Object.values(input.RequestItems ?? {})) phase.readItems += table.Keys?.length ?? 0;
      }
      return next(args);
    },
    { step: 'initialize', name: 'benchReads' },
  );
}

export const routeCost = (p: Phase): RouteCost => ({
  requests: p.requests,
  items: p.rows.items + p.counters.items,
  writeUnits: p.rows.writeUnits + p.counters.writeUnits,
  indexWriteUnits: p.rows.indexWriteUnits + p.counters.indexWriteUnits,
});

function calls(run: string, count: number, principals: number) {
  return Array.from({ length: count }, (_, i) => {
    const arn = `arn:aws:iam::111122223333:user/bench-${run}-${i % principals}`;
    const requestId = `${run}-${String(i).padStart(6, '0')}`;
    return { event: cloudTrailEvent(requestId, arn), log: invocationLog(requestId, arn) };
  });
}

/** What the SQS mapping hands ingest for these events: SQS records in batches of the template's batch size. */
async function invokeAsTheMappingDoes(stack: LocalStack, events: readonly unknown[]): Promise<void> {
  const ingest = Object.values(stack.deployment.functions).find((f) => f.entry === 'functions/ingest/handler.ts');
  const mapping = stack.deployment.eventSourceMappings.find((m) => m.functionName === ingest?.name);
  const batchSize = mapping?.batchSize ?? CLOUDTRAIL_BATCH_SIZE;
  for (let i = 0; i < events.length; i += batchSize) {
    const Records = events.slice(i, i + batchSize).map((event, j) => ({
      messageId: `bench-${i + j}`,
      receiptHandle: `bench-${i + j}`,
      body: JSON.stringify({ ...(event as object), account: stack.local.accountId }),
      attributes: {},
      messageAttributes: {},
      eventSource: 'aws:sqs',
      eventSourceARN: mapping?.eventSourceArn ?? '',
      awsRegion: stack.local.region,
    }));
    await stack.local.invoke(ingest?.name ?? '', { Records });
  }
}

/**
 * Installs the write meter on the handlers' DynamoDB client (once per process): from then on `take` answers what
 * they wrote (and read) since the last `take`, rows (Usage) and counters (Budgets) apart.
 */
export async function meterHandlerWrites(stack: LocalStack): Promise<{ take(): Phase }> {
  const reader = new DynamoDBClient(stack.local.clientConfig);
  const keys = new Map<string, string[]>();
  const indexes = new Map<string, IndexShape[]>();
  const names = (schema: { AttributeName?: string }[] = []) => schema.map((k) => k.AttributeName ?? '');
  for (const table of [stack.output('UsageTableName'), stack.output('BudgetsTableName')]) {
    const { Table } = await reader.send(new DescribeTableCommand({ TableName: table }));
    keys.set(table, names(Table?.KeySchema));
    indexes.set(
      table,
      (Table?.GlobalSecondaryIndexes ?? []).map((index) => ({
        keys: names(index.KeySchema),
        projection: (index.Projection?.ProjectionType ?? 'ALL') as IndexShape['projection'],
        include: index.Projection?.NonKeyAttributes ?? [],
        tableKeys: names(Table?.KeySchema),
      })),
    );
  }
  reader.destroy();
  install(stack, keys, indexes);
  phase = emptyPhase();
  return {
    take() {
      const taken = phase;
      phase = emptyPhase();
      return taken;
    },
  };
}

export async function measureIngestCost(stack: LocalStack, options: IngestCostOptions): Promise<IngestCost[]> {
  await meterHandlerWrites(stack);
  const results: IngestCost[] = [];
  for (const [index, size] of options.deliverySizes.entries()) {
    // A run tag of fixed length, so the items' sizes (and so the write units) are the same in every run.
    const run = `n${String(size).padStart(4, '0')}-${String(Date.now() % 1e9).padStart(9, '0')}`;
    const batch = calls(run, options.calls, options.principals);
    const started = performance.now();
    phase = emptyPhase();
    if (index > 0 || options.cloudTrailQueue === 'none')
      await invokeAsTheMappingDoes(
        stack,
        batch.map((c) => c.event),
      );
    else await stack.putEvents(batch.map((c) => c.event));
    await stack.settle(300_000);
    const cloudTrail = phase;
    options.progress(`ingest ${index + 1}/${options.deliverySizes.length}: deliveries of ${size}, CloudTrail done`);
    phase = emptyPhase();
    for (let i = 0; i < batch.length; i += size) await stack.deliverLogs(batch.slice(i, i + size).map((c) => c.log));
    await stack.settle(300_000);
    const logs = phase;
    const per1000 = (n: number) => (n * 1000) / options.calls;
    // Naive: a put per record (both routes, same rows, not transactional), and a counter update per charged call.
    const rowsPlain = cloudTrail.rows.plainWriteUnits + logs.rows.plainWriteUnits;
    const counterPlainEach = logs.counters.items > 0 ? logs.counters.plainWriteUnits / logs.counters.items : 1;
    results.push({
      deliverySize: size,
      calls: options.calls,
      cloudTrail: routeCost(cloudTrail),
      logs: routeCost(logs),
      requestsPer1000Calls: per1000(cloudTrail.requests + logs.requests),
      writeUnitsPer1000Calls: per1000(routeCost(cloudTrail).writeUnits + routeCost(logs).writeUnits),
      naiveRequestsPer1000Calls: per1000(cloudTrail.rows.items + logs.rows.items + options.calls),
      naiveWriteUnitsPer1000Calls: per1000(rowsPlain + options.calls * counterPlainEach),
      readRequests: per1000(cloudTrail.readRequests + logs.readRequests),
      readItems: per1000(cloudTrail.readItems + logs.readItems),
      seconds: (performance.now() - started) / 1000,
    });
    options.progress(`ingest ${index + 1}/${options.deliverySizes.length}: deliveries of ${size}, logs done`);
  }
  return results;
}
