/**
 * What the evaluator's own writes cost, and what dropping them saves: evaluator invocations and Budgets reads per
 * 1,000 Bedrock calls on the local stack, with the handler's filter on (records whose spend did not change and that
 * add no effects owed are dropped before any read: `needsEvaluation`) and off (every record judged).
 *
 * The load: 1,000 invocation log records by 50 principals (IAM users), in Logs deliveries of 100 (two calls a
 * principal each), all in the current month. Half the principals have a limit their 20 calls take to 96% (alerts
 * at 80, 90 and 95%), half one they exceed (the same alerts, then a suspension with its workflow and deny). Every
 * alert and suspension is claimed on the principal's counter and cleared after delivery, and the suspend function
 * records the suspension on it: each of those writes comes back to the evaluator as a stream record.
 *
 * "Off" runs the same evaluator with each record's old image taken away, so `needsEvaluation` cannot tell a record
 * that changed nothing from one that did. Reads are counted on the SDK client every handler shares: GetItem,
 * BatchGetItem (and the keys it asks for), Query and Scan on the Budgets table.
 */
Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' });

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { loadHandler } from '../local/handlers';
import { LocalStack } from '../local/stack';
import { BudgetStore } from '../shared/budgets';
import { dynamo } from '../shared/clients';
import { usd } from '../shared/money';
import { invocationLog } from '../test/fixtures';

const CALLS = 1000;
const PRINCIPALS = 50;
const DELIVERY = 100;
const EVALUATE_ENTRY = 'functions/evaluate/handler.ts';
/** 20 Claude 3 Haiku calls of 1,000 in / 100 out tokens are $0.0075: 96% of the first limit, 104% of the second. */
const LIMITS = ['0.0078', '0.0072'];

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan']);
const counts = { invocations: 0, records: 0, readRequests: 0, itemsAsked: 0 };
let budgetsTable = '';

dynamo.middlewareStack.add(
  (next, context) => async (args) => {
    const operation = String(context.commandName ?? '').replace(/Command$/, '');
    const input = args.input as { TableName?: string; RequestItems?: Record<string, { Keys?: unknown[] }> };
    const batch = input.RequestItems?.[budgetsTable];
    const name = { Get: 'GetItem', BatchGet: 'BatchGetItem' }[operation] ?? operation;
    if (READS.has(name) && (input.TableName === budgetsTable || batch)) {
      counts.readRequests++;
      counts.itemsAsked += batch ? (batch.Keys?.length ?? 0) : 1;
    }
    return next(args);
  },
  { step: 'initialize', name: 'benchBudgetsReads' },
);

interface Run {
  readonly filter: boolean;
  readonly invocations: number;
  readonly records: number;
  readonly readRequests: number;
  readonly itemsAsked: number;
  readonly seconds: number;
}

async function run(stack: LocalStack, iam: IAMClient, filter: boolean): Promise<Run> {
  const evaluate = Object.values(stack.deployment.functions).find((f) => f.entry === EVALUATE_ENTRY);
  if (!evaluate) throw new Error(`the stack has no ${EVALUATE_ENTRY}`);
  const real = loadHandler(EVALUATE_ENTRY, evaluate.environment, stack.local);
  stack.local.registerFunction(evaluate.name, async (event, context) => {
    const records = (event as DynamoDBStreamEvent).Records;
    counts.invocations++;
    counts.records += records.length;
    const delivered = filter
      ? event
      : {
          ...(event as DynamoDBStreamEvent),
          Records: records.map((record) => ({
            ...record,
            dynamodb: { ...record.dynamodb, OldImage: undefined },
          })),
        };
    return real(delivered, context as Context);
  });

  const tag = `${filter ? 'on' : 'off'}-${Date.now()}`;
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient(stack.local.clientConfig), {
    unmarshallOptions: { wrapNumbers: true },
  });
  const store = new BudgetStore(documents, budgetsTable, { configuredDefault: usd('50'), configuredAccount: usd('1') });
  const users = Array.from({ length: PRINCIPALS }, (_, i) => `eval-${tag}-${i}`);
  for (const [i, user] of users.entries()) {
    await iam.send(new CreateUserCommand({ UserName: user }));
    await store.setLimit(`user/${user}`, usd(LIMITS[i % LIMITS.length] ?? '1'), 'system:bench');
  }
  await stack.settle(300_000);

  for (const key of Object.keys(counts) as (keyof typeof counts)[]) counts[key] = 0;
  const started = performance.now();
  const timestamp = new Date().toISOString();
  const logs = Array.from({ length: CALLS }, (_, i) =>
    invocationLog(`${tag}-${i}`, `arn:aws:iam::111122223333:user/${users[i % PRINCIPALS]}`, { timestamp }),
  );
  for (let i = 0; i < logs.length; i += DELIVERY) await stack.deliverLogs(logs.slice(i, i + DELIVERY));
  await stack.settle(300_000);
  return { filter, ...counts, seconds: (performance.now() - started) / 1000 };
}

async function main() {
  // The account's own limit is high: only the principals' decisions are measured.
  const stack = await LocalStack.start({ context: { accountBudgetUsd: '1000000' } });
  const iam = new IAMClient(stack.local.clientConfig);
  budgetsTable = stack.output('BudgetsTableName');
  const runs: Run[] = [];
  try {
    runs.push(await run(stack, iam, false));
    runs.push(await run(stack, iam, true));
  } finally {
    iam.destroy();
    await stack.stop();
  }
  const per1000 = (n: number) => ((n * 1000) / CALLS).toFixed(0);
  console.log(
    `\nEvaluator per ${CALLS} Bedrock calls by ${PRINCIPALS} principals (deliveries of ${DELIVERY}; local stack)\n`,
  );
  console.log(
    '| own-write filter | evaluator invocations | stream records delivered | Budgets read requests | Budgets items read | wall time (local) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of runs) {
    console.log(
      `| ${r.filter ? 'on' : 'off'} | ${per1000(r.invocations)} | ${per1000(r.records)} | ${per1000(r.readRequests)} | ${per1000(r.itemsAsked)} | ${r.seconds.toFixed(1)} s |`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
