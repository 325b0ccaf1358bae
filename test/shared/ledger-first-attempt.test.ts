import { DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, type NumberValue, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { BedrockCall } from '../../shared/events/parse';
import { principalFromArn } from '../../shared/identity';
import { type Charge, Ledger } from '../../shared/ledger';
import { usd } from '../../shared/money';

// What a charge's first write expects of its row: a wrong guess cancels the whole transaction (one more request),
// so the ledger guesses what its last charges found. These tests protect the request count and, with it, that a
// guess never changes what is counted.

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const ddb = mockClient(documents);
const options = {
  usageTable: 'Usage',
  budgetsTable: 'Budgets',
  periodKind: 'monthly',
  usageTtlDays: 10,
  now: () => new Date('2026-11-20T15:00:00Z'),
  accountShard: 3,
} as const;

function call(requestId: string, user: string, source: BedrockCall['source'] = 'invocation-log'): BedrockCall {
  return {
    requestId,
    source,
    principal: principalFromArn(`arn:aws:iam::111122223333:user/${user}`, { perSessionRoles: [] }),
    operation: 'InvokeModel',
    modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
    region: 'us-east-1',
    time: '2026-11-20T14:00:00.000Z',
    ...(source === 'cloudtrail' ? {} : { tokens: { input: 1, output: 1, cacheRead: 0, cacheWrite: 0 } }),
  };
}

const charge = (requestId: string, user: string): Charge => ({
  call: call(requestId, user),
  model: 'anthropic.claude-3-haiku-20240307-v1:0',
  costUsd: usd('0.5'),
  unknownModel: false,
  catalogVersion: '2026-11-01',
});

const sightedRow = (requestId: string, user: string) =>
  marshall({
    requestId,
    principal: `user/${user}`,
    sightedBy: `user/${user}`,
    sightedAt: '2026-11-20T14:00:05.000Z',
    unmeteredShard: 'U1',
  });

/** Every row condition of the transaction failed; `rows[i]` is the row the i-th write found (undefined: none). */
const rowsFailed = (rows: (ReturnType<typeof sightedRow> | undefined)[], counters: number) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: [
      ...rows.map((Item) => ({ Code: 'ConditionalCheckFailed', ...(Item ? { Item } : {}) })),
      ...Array.from({ length: counters }, () => ({ Code: 'None' })),
    ],
  });

type Action = NonNullable<TransactWriteCommand['input']['TransactItems']>[number];
const sent = (index: number): Action[] =>
  (ddb.commandCalls(TransactWriteCommand)[index]?.args[0].input.TransactItems ?? []) as Action[];
const rowCondition = (index: number) => sent(index)[0]?.Update?.ConditionExpression;
const confirmed = (actions: Action[], principal: string) =>
  (
    actions.find((a) => a.Update?.Key?.principal === principal)?.Update?.ExpressionAttributeValues?.[':confirmed'] as
      | NumberValue
      | undefined
  )?.value;

const EXPECTS_ABSENT = 'attribute_not_exists(requestId)';
const EXPECTS_SIGHTED = 'attribute_exists(requestId) AND attribute_not_exists(costUsd) AND #sighter = :by';

beforeEach(() => ddb.reset());

/** A fresh ledger after one batch: its charge expected no row, found alice's sighting and was written again. */
async function ledgerThatFoundASighting(): Promise<Ledger> {
  const ledger = new Ledger(documents, options);
  ddb
    .on(TransactWriteCommand)
    .rejectsOnce(rowsFailed([sightedRow('r-1', 'alice')], 2))
    .resolves({});
  await ledger.record([charge('r-1', 'alice')], []);
  return ledger;
}

describe("a charge's first write", () => {
  it('expects a row sighted for its own principal after charges that found one: one request, spend confirmed', async () => {
    const ledger = await ledgerThatFoundASighting();
    expect(rowCondition(0)).toBe(EXPECTS_ABSENT);
    expect(rowCondition(1)).toBe(EXPECTS_SIGHTED);

    ddb.reset();
    ddb.on(TransactWriteCommand).resolves({});
    const result = await ledger.record([charge('r-2', 'alice'), charge('r-3', 'bob')], []);

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(rowCondition(0)).toBe(EXPECTS_SIGHTED);
    expect(sent(0)[0]?.Update?.ExpressionAttributeValues).toMatchObject({ ':by': 'user/alice' });
    expect(sent(0)[1]?.Update?.ExpressionAttributeValues).toMatchObject({ ':by': 'user/bob' });
    expect(confirmed(sent(0), 'user/alice')).toBe('0.5');
    expect(result).toMatchObject({ requests: 1, confirmed: 2, duplicates: [] });
    expect(result.charged).toHaveLength(2);
  });

  it('counts a charge once, unconfirmed, when the guessed sighting is not there, and goes back to expecting no row', async () => {
    const ledger = await ledgerThatFoundASighting();

    // Now the log comes first: the guess fails on a row that is not there, and the charge is written as new.
    ddb.reset();
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(rowsFailed([undefined], 2))
      .resolves({});
    const result = await ledger.record([charge('r-2', 'alice')], []);
    expect(rowCondition(0)).toBe(EXPECTS_SIGHTED);
    expect(rowCondition(1)).toBe(EXPECTS_ABSENT);
    expect(confirmed(sent(1), 'user/alice')).toBeUndefined();
    expect(result).toMatchObject({ requests: 2, confirmed: 0, duplicates: [] });
    expect(result.charged).toHaveLength(1);

    ddb.reset();
    ddb.on(TransactWriteCommand).resolves({});
    await ledger.record([charge('r-3', 'alice')], []);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(rowCondition(0)).toBe(EXPECTS_ABSENT);
  });

  it('expects no row for a charge whose CloudTrail sighting is in the same batch, whatever it learned', async () => {
    const ledger = await ledgerThatFoundASighting();

    ddb.reset();
    ddb.on(TransactWriteCommand).resolves({});
    await ledger.record([charge('r-2', 'alice'), charge('r-3', 'alice')], [call('r-2', 'alice', 'cloudtrail')]);

    const first = sent(0);
    const conditionOf = (requestId: string) =>
      first.find((a) => a.Update?.Key?.requestId === requestId)?.Update?.ConditionExpression;
    expect(conditionOf('r-2')).toBe(EXPECTS_ABSENT);
    expect(conditionOf('r-3')).toBe(EXPECTS_SIGHTED);
  });
});
