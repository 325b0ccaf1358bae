import { type AttributeValue, DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, NumberValue, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { BedrockCall } from '../../shared/events/parse';
import { principalFromArn } from '../../shared/identity';
import { type Charge, Ledger, MAX_TRANSACTION_ACTIONS } from '../../shared/ledger';
import { usd } from '../../shared/money';

const rules = { perSessionRoles: [] };
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const ddb = mockClient(documents);
const now = new Date('2026-11-20T15:00:00Z');
const options = {
  usageTable: 'Usage',
  budgetsTable: 'Budgets',
  periodKind: 'monthly',
  usageTtlDays: 10,
  now: () => now,
  accountShard: 7,
} as const;
const ledger = new Ledger(documents, options);
/** The account shard the ledger above adds to. */
const ACCOUNT_SHARD = 'ACCOUNT#7';

function call(requestId: string, user: string, time = '2026-11-20T14:00:00.000Z'): BedrockCall {
  return {
    requestId,
    source: 'invocation-log',
    principal: principalFromArn(`arn:aws:iam::111122223333:user/${user}`, rules),
    operation: 'InvokeModel',
    modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
    region: 'us-east-1',
    time,
    tokens: { input: 1, output: 1, cacheRead: 0, cacheWrite: 0 },
  };
}

function charge(requestId: string, user: string, cost: string, extra: Partial<Charge> = {}): Charge {
  return {
    call: call(requestId, user),
    model: 'anthropic.claude-3-haiku-20240307-v1:0',
    costUsd: usd(cost),
    unknownModel: false,
    catalogVersion: '2026-11-01',
    ...extra,
  };
}

type Action = NonNullable<TransactWriteCommand['input']['TransactItems']>[number];
const sentActions = (index: number): Action[] =>
  (ddb.commandCalls(TransactWriteCommand)[index]?.args[0].input.TransactItems ?? []) as Action[];
const counterSpend = (actions: Action[], principal: string) =>
  (
    actions.find((a) => a.Update?.Key?.principal === principal)?.Update?.ExpressionAttributeValues?.[
      ':spend'
    ] as NumberValue
  )?.value;

function cancelled(codes: string[]) {
  return new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code })),
  });
}

beforeEach(() => ddb.reset());

describe('ledger writes', () => {
  it("keeps the application inference profile's ARN on the Usage row of a call through one, and only there", async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const profile = 'arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/hq2of259skzs';

    await ledger.record(
      [charge('r-p', 'alice', '0.1', { inferenceProfile: profile }), charge('r-m', 'bob', '0.2')],
      [],
    );

    const rows = sentActions(0).filter((a) => a.Update?.TableName === 'Usage');
    const row = (id: string) => rows.find((a) => a.Update?.Key?.requestId === id)?.Update;
    expect(row('r-p')?.UpdateExpression).toMatch(/, inferenceProfile = :profile[, ]/);
    expect(row('r-p')?.ExpressionAttributeValues?.[':profile']).toBe(profile);
    expect(row('r-m')?.UpdateExpression).not.toMatch(/inferenceProfile/);
    expect(row('r-m')?.ExpressionAttributeValues).not.toHaveProperty(':profile');
  });

  it("writes rows and one ADD per principal, the account and each principal's rate bucket in one transaction, in exact decimals", async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const sighting = { ...call('r-ct', 'carol'), source: 'cloudtrail' as const, tokens: undefined };

    const result = await ledger.record(
      [charge('r-1', 'alice', '0.1'), charge('r-2', 'alice', '0.2'), charge('r-3', 'bob', '0.000001')],
      [sighting],
    );

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    const actions = sentActions(0);
    // 4 rows; counters of alice, bob and the account; alice's and bob's 5-minute rate buckets.
    expect(actions).toHaveLength(4 + 3 + 2);
    expect(actions[0]?.Update).toMatchObject({
      TableName: 'Usage',
      Key: { requestId: 'r-1' },
      ConditionExpression: 'attribute_not_exists(requestId)',
    });
    expect(actions[3]?.Put).toMatchObject({
      TableName: 'Usage',
      Item: { requestId: 'r-ct', principal: 'user/carol', unmeteredSince: '2026-11-20T14:00:00.000Z' },
      ConditionExpression: 'attribute_not_exists(requestId)',
    });
    expect(counterSpend(actions, 'user/alice')).toBe('0.3');
    expect(counterSpend(actions, 'user/bob')).toBe('0.000001');
    expect(counterSpend(actions, ACCOUNT_SHARD)).toBe('0.300001');
    const aliceCounter = actions.find((a) => a.Update?.Key?.principal === 'user/alice')?.Update;
    expect(aliceCounter).toMatchObject({
      TableName: 'Budgets',
      Key: { principal: 'user/alice', period: '2026-11' },
      ExpressionAttributeValues: expect.objectContaining({ ':n': 2, ':arn': 'arn:aws:iam::111122223333:user/alice' }),
    });
    const aliceBucket = actions.find((a) => a.Update?.Key?.period === 'RATE#2026-11-20T14:00')?.Update;
    expect(aliceBucket).toMatchObject({
      TableName: 'Budgets',
      Key: { principal: 'user/alice', period: 'RATE#2026-11-20T14:00' },
      UpdateExpression: 'ADD spendUsd :spend, requests :n SET updatedAt = :now, #ttl = :ttl',
      // Three days after the bucket ends (14:05).
      ExpressionAttributeValues: expect.objectContaining({
        ':n': 2,
        ':ttl': Date.parse('2026-11-20T14:05:00Z') / 1000 + 3 * 86_400,
      }),
    });
    expect((aliceBucket?.ExpressionAttributeValues?.[':spend'] as NumberValue | undefined)?.value).toBe('0.3');
    expect(result).toMatchObject({ duplicates: [], sighted: 1, requests: 1 });
    expect(result.charged.map((c) => c.call.requestId)).toEqual(['r-1', 'r-2', 'r-3']);
  });

  it('adds a credit to the rate bucket of the call it credits, and nothing to a bucket for a confirmation', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const sighting = { ...call('r-1', 'alice'), source: 'cloudtrail' as const, tokens: undefined };

    await ledger.record([charge('r-1', 'alice', '0.1')], [sighting]);

    // The charge's transaction adds to the bucket; the sighting that confirms it (its own round) adds nothing there.
    const buckets = ddb
      .commandCalls(TransactWriteCommand)
      .flatMap((c) => c.args[0].input.TransactItems ?? [])
      .filter((a) => String(a.Update?.Key?.period).startsWith('RATE#'));
    expect(buckets).toHaveLength(1);
  });

  it('keeps spend per model on each counter, so alerts can name the costliest models', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const nova = { model: 'amazon.nova-pro-v1:0' };

    await ledger.record(
      [charge('r-1', 'alice', '0.1'), charge('r-2', 'alice', '0.25', nova), charge('r-3', 'alice', '0.2')],
      [],
    );

    const update = sentActions(0).find((a) => a.Update?.Key?.principal === 'user/alice')?.Update;
    const names = update?.ExpressionAttributeNames ?? {};
    const values = update?.ExpressionAttributeValues ?? {};
    const perModel = Object.fromEntries(
      Object.entries(names).map(([placeholder, name]) => [
        name,
        (values[placeholder.replace('#', ':')] as NumberValue).value,
      ]),
    );
    expect(perModel).toEqual({
      'modelSpend:anthropic.claude-3-haiku-20240307-v1:0': '0.3',
      'modelSpend:amazon.nova-pro-v1:0': '0.25',
    });
    expect(update?.UpdateExpression).toMatch(/^ADD spendUsd :spend, requests :n, #m0 :m0, #m1 :m1 SET /);
  });

  it('packs 1,000 calls of 50 principals into few transactions, never over the action limit', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const charges = Array.from({ length: 1000 }, (_, i) => charge(`r-${i}`, `user-${i % 50}`, '0.001'));

    const result = await ledger.record(charges, []);

    const calls = ddb.commandCalls(TransactWriteCommand);
    expect(calls.length).toBe(result.requests);
    expect(calls.length).toBeLessThanOrEqual(12);
    let total = usd('0');
    for (let i = 0; i < calls.length; i++) {
      const actions = sentActions(i);
      expect(actions.length).toBeLessThanOrEqual(MAX_TRANSACTION_ACTIONS);
      const keys = actions.map((a) => JSON.stringify(a.Update?.Key ?? a.Put?.Item?.requestId));
      expect(new Set(keys).size).toBe(keys.length); // DynamoDB refuses two actions on one item
      total = total.plus(counterSpend(actions, ACCOUNT_SHARD) ?? '0');
    }
    expect(total.toFixed()).toBe('1');
    expect(result.charged).toHaveLength(1000);
  });

  it("counts each call's rate bucket when packing: calls spread over many buckets never pass the action limit", async () => {
    ddb.on(TransactWriteCommand).resolves({});
    // Every call of a principal in a bucket of its own: a row, then one bucket item more per call.
    const charges = Array.from({ length: 600 }, (_, i) => ({
      ...charge(`r-${i}`, `user-${i % 3}`, '0.001'),
      call: call(`r-${i}`, `user-${i % 3}`, new Date(Date.parse('2026-11-20T00:00:00Z') + i * 300_000).toISOString()),
    }));

    const result = await ledger.record(charges, []);

    const calls = ddb.commandCalls(TransactWriteCommand);
    let buckets = 0;
    for (let i = 0; i < calls.length; i++) {
      const actions = sentActions(i);
      expect(actions.length).toBeLessThanOrEqual(MAX_TRANSACTION_ACTIONS);
      buckets += actions.filter((a) => String(a.Update?.Key?.period).startsWith('RATE#')).length;
    }
    expect(buckets).toBe(600);
    expect(result.charged).toHaveLength(600);
  });

  it('drops rows already counted and re-adds only the rest, so a replay counts nothing twice', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(['ConditionalCheckFailed', 'None', 'None', 'None']))
      .resolves({});

    const result = await ledger.record([charge('r-1', 'alice', '0.5'), charge('r-2', 'alice', '0.25')], []);

    expect(result.duplicates).toEqual(['r-1']);
    expect(result.charged.map((c) => c.call.requestId)).toEqual(['r-2']);
    const retry = sentActions(1);
    expect(retry.filter((a) => a.Update?.TableName === 'Usage').map((a) => a.Update?.Key?.requestId)).toEqual(['r-2']);
    expect(counterSpend(retry, 'user/alice')).toBe('0.25');
    expect(counterSpend(retry, ACCOUNT_SHARD)).toBe('0.25');
  });

  it('retries a transaction that lost a write conflict, unchanged', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(['None', 'TransactionConflict', 'None']))
      .resolves({});

    const result = await ledger.record([charge('r-1', 'alice', '0.5')], []);

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 2);
    expect(sentActions(1)).toEqual(sentActions(0));
    expect(result.charged).toHaveLength(1);
  });

  it('moves to another account shard when a transaction conflicts on its own, and stays there', async () => {
    const moving = new Ledger(documents, { ...options, random: () => 0.5 });
    // Actions: the row, alice's counter, the account shard (index 2) that another transaction holds.
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(['None', 'None', 'TransactionConflict']))
      .resolves({});

    const first = await moving.record([charge('r-1', 'alice', '0.5')], []);
    const second = await moving.record([charge('r-2', 'alice', '0.25')], []);

    const shardOf = (i: number) =>
      sentActions(i)
        .map((a) => String(a.Update?.Key?.principal))
        .filter((p) => p.startsWith('ACCOUNT#'));
    // 7 + 1 + floor(0.5 x 63) = 39: the retry and every later transaction add to shard 39, once each.
    expect([shardOf(0), shardOf(1), shardOf(2)]).toEqual([['ACCOUNT#7'], ['ACCOUNT#39'], ['ACCOUNT#39']]);
    expect(counterSpend(sentActions(1), 'ACCOUNT#39')).toBe('0.5');
    expect(first.conflicts).toEqual({ account: 1, counters: 0, rows: 0 });
    expect(second.conflicts).toEqual({ account: 0, counters: 0, rows: 0 });
  });

  it('counts a repeated request in one batch once and reports the repeat', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    const result = await ledger.record([charge('r-1', 'alice', '0.5'), charge('r-1', 'alice', '0.5')], []);

    expect(result.duplicates).toEqual(['r-1']);
    expect(counterSpend(sentActions(0), 'user/alice')).toBe('0.5');
  });

  it('lets a charge win over a CloudTrail sighting of the same request in one batch', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const sighting = { ...call('r-1', 'alice'), source: 'cloudtrail' as const, tokens: undefined };

    await ledger.record([charge('r-1', 'alice', '0.5')], [sighting]);

    expect(sentActions(0).filter((a) => a.Put)).toHaveLength(0);
  });

  it('adds each call to the period it was made in', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const late = { ...charge('r-old', 'alice', '1'), call: call('r-old', 'alice', '2026-10-31T23:59:59.000Z') };

    await ledger.record([late, charge('r-new', 'alice', '2')], []);

    const periods = sentActions(0)
      .filter((a) => a.Update?.TableName === 'Budgets')
      .map((a) => `${a.Update?.Key?.principal}@${a.Update?.Key?.period}`);
    expect(periods.sort()).toEqual([
      'ACCOUNT#7@2026-10',
      'ACCOUNT#7@2026-11',
      'user/alice@2026-10',
      'user/alice@2026-11',
      'user/alice@RATE#2026-10-31T23:55',
      'user/alice@RATE#2026-11-20T14:00',
    ]);
  });

  it('keeps counters for every enabled kind of period, for the principal and the account', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const weekly = new Ledger(documents, { ...options, extraPeriodKinds: ['weekly', 'daily'] });

    await weekly.record([charge('r-1', 'alice', '0.5')], []);

    const periods = sentActions(0)
      .filter((a) => a.Update?.TableName === 'Budgets')
      .map((a) => `${a.Update?.Key?.principal}@${a.Update?.Key?.period}`);
    expect(periods.sort()).toEqual([
      'ACCOUNT#7@2026-11',
      'ACCOUNT#7@2026-11-20',
      'ACCOUNT#7@2026-W47',
      'user/alice@2026-11',
      'user/alice@2026-11-20',
      'user/alice@2026-W47',
      // One rate bucket, whatever kinds of period are kept.
      'user/alice@RATE#2026-11-20T14:00',
    ]);
  });

  it("keeps a prepaid TOTAL counter whatever the month, with each call's spend on its own UTC day", async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const prepaid = new Ledger(documents, { ...options, extraPeriodKinds: ['total'] });

    await prepaid.record(
      [
        charge('r-1', 'alice', '0.5', { call: call('r-1', 'alice', '2026-11-30T23:59:59.000Z') }),
        charge('r-2', 'alice', '0.25', { call: call('r-2', 'alice', '2026-12-01T00:00:00.000Z') }),
        charge('r-3', 'alice', '0.125', { call: call('r-3', 'alice', '2026-12-01T10:00:00.000Z') }),
      ],
      [],
    );

    const total = sentActions(0).find(
      (a) => a.Update?.Key?.principal === 'user/alice' && a.Update.Key.period === 'TOTAL',
    )?.Update;
    const values = total?.ExpressionAttributeValues ?? {};
    expect(
      counterSpend(
        sentActions(0).filter((a) => a.Update?.Key?.period === 'TOTAL'),
        'user/alice',
      ),
    ).toBe('0.875');
    const days = Object.fromEntries(
      Object.entries(total?.ExpressionAttributeNames ?? {})
        .filter(([, name]) => name.startsWith('daySpend:'))
        .map(([ref, name]) => [name, (values[`:${ref.slice(1)}`] as NumberValue).value]),
    );
    expect(days).toEqual({ 'daySpend:2026-11-30': '0.5', 'daySpend:2026-12-01': '0.375' });
    // A month's counter keeps no days: only the TOTAL counter needs them.
    const month = sentActions(0).find(
      (a) => a.Update?.Key?.principal === 'user/alice' && a.Update.Key.period === '2026-11',
    );
    expect(Object.values(month?.Update?.ExpressionAttributeNames ?? {}).some((n) => n.startsWith('daySpend:'))).toBe(
      false,
    );
  });

  it("adds each member's spend to its groups' counters in the same transaction, and records the groups on its counter", async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const memberships = new Map([
      ['user/alice', ['data-science']],
      ['user/bob', ['chatbot', 'data-science']],
    ]);

    const asked: string[][] = [];
    const grouped = new Ledger(documents, options, {
      membershipsOf: async (principals) => {
        asked.push([...principals]);
        return memberships;
      },
    });
    await grouped.record(
      [charge('g-1', 'alice', '0.1'), charge('g-2', 'bob', '0.2'), charge('g-3', 'carol', '0.4')],
      [],
    );

    // Asked once for the batch's principals, each once.
    expect(asked).toEqual([['user/alice', 'user/bob', 'user/carol']]);

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    const actions = sentActions(0);
    expect(counterSpend(actions, 'GROUP#data-science')).toBe('0.3');
    expect(counterSpend(actions, 'GROUP#chatbot')).toBe('0.2');
    expect(counterSpend(actions, ACCOUNT_SHARD)).toBe('0.7');
    const groupsOn = (principal: string) =>
      actions.find((a) => a.Update?.Key?.principal === principal)?.Update?.ExpressionAttributeValues?.[':groups'];
    expect(groupsOn('user/bob')).toEqual(new Set(['chatbot', 'data-science']));
    expect(groupsOn('user/carol')).toBeUndefined();
    expect(groupsOn('GROUP#chatbot')).toBeUndefined();
  });

  it('flags an unknown model once per batch with a marker item the evaluator alerts on', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const unknown = { model: 'acme.mystery-v1', unknownModel: true };

    await ledger.record([charge('r-1', 'alice', '75', unknown), charge('r-2', 'bob', '75', unknown)], []);

    const markers = sentActions(0).filter((a) => String(a.Update?.Key?.principal).startsWith('MODEL#'));
    expect(markers).toHaveLength(1);
    expect(markers[0]?.Update).toMatchObject({
      Key: { principal: 'MODEL#acme.mystery-v1', period: 'UNKNOWN' },
      ExpressionAttributeValues: expect.objectContaining({ ':n': 2 }),
    });
  });

  it('surfaces a failure that is not about duplicates, so the batch is retried whole', async () => {
    ddb.on(TransactWriteCommand).rejects(cancelled(['ValidationError']));
    await expect(ledger.record([charge('r-1', 'alice', '1')], [])).rejects.toThrow(TransactionCanceledException);
  });
});

/** A Usage row as DynamoDB returns it when a condition fails (ReturnValuesOnConditionCheckFailure: ALL_OLD). */
const storedRow = (fields: Record<string, unknown>) => marshall(fields, { removeUndefinedValues: true });
const chargedRow = (requestId: string, user: string, cost: string, extra: Record<string, unknown> = {}) =>
  storedRow({
    requestId,
    principal: `user/${user}`,
    principalArn: `arn:aws:iam::111122223333:user/${user}`,
    model: 'anthropic.claude-3-haiku-20240307-v1:0',
    modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
    callTime: '2026-11-20T14:00:00.000Z',
    tokens: { input: 1, output: 1, cacheRead: 0, cacheWrite: 0 },
    costUsd: NumberValue.from(cost),
    catalogVersion: '2026-11-01',
    chargedBy: 'invocation-log',
    ...extra,
  });
/** The first write's row condition failed on `item`; the other actions' reasons follow. */
const conditionFailedOn = (item: Record<string, AttributeValue>, others: string[] = []) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: [{ Code: 'ConditionalCheckFailed', Item: item }, ...others.map((Code) => ({ Code }))],
  });

describe('conflicting records of one request', () => {
  const requestsOf = (actions: Action[], principal: string) =>
    actions.find((a) => a.Update?.Key?.principal === principal)?.Update?.ExpressionAttributeValues?.[':n'];
  const markerOf = (actions: Action[]) =>
    actions.find((a) => String(a.Put?.Item?.principal).startsWith('CONFLICT#'))?.Put?.Item;

  it("credits the groups the replaced record was counted in, not the principal's groups of now; the new one counts in today's", async () => {
    ddb
      .on(TransactWriteCommand)
      // Charged (as the sweep's estimate) while alice was in `ds`; she is in `ml` now.
      .rejectsOnce(
        conditionFailedOn(chargedRow('r-1', 'alice', '0.5', { chargedBy: 'coverage-sweep', countedInGroups: ['ds'] })),
      )
      .resolves({});
    const grouped = new Ledger(documents, options, { membershipsOf: async () => new Map([['user/alice', ['ml']]]) });

    await grouped.record([charge('r-1', 'alice', '0.02')], []);

    const actions = sentActions(1);
    expect(counterSpend(actions, 'GROUP#ds')).toBe('-0.5');
    expect(counterSpend(actions, 'GROUP#ml')).toBe('0.02');
    // The row keeps where its new charge counts.
    expect(actions[0]?.Update?.ExpressionAttributeValues?.[':countedIn']).toEqual(['ml']);
  });

  it('takes one record priced once at the fallback and once through its resolved profile as a correction, not a conflict', async () => {
    const profile = 'arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123';
    const priced = (cost: string, extra: Partial<Charge> = {}) =>
      charge('r-p', 'alice', cost, { ...extra, call: { ...call('r-p', 'alice'), modelId: profile } });
    // Delivered first when the profile could not be resolved (the fallback), then again with the profile resolved.
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(chargedRow('r-p', 'alice', '1.05', { modelId: profile, unknownModel: true })))
      .resolves({});

    await ledger.record([priced('0.077', { inferenceProfile: profile })], []);

    const actions = sentActions(1);
    // The exact price replaces the fallback: alice is credited the difference, and no conflict marker is written.
    expect(counterSpend(actions, 'user/alice')).toBe('-0.973');
    expect(markerOf(actions)).toBeUndefined();

    // The other order: the fallback arriving after the profile's price changes nothing.
    ddb.reset();
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(
        conditionFailedOn(chargedRow('r-p', 'alice', '0.077', { modelId: profile, inferenceProfile: profile })),
      )
      .resolves({});
    const result = await ledger.record([priced('1.05')], []);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(result.duplicates).toEqual(['r-p']);
  });

  it('lets a dearer record replace a cheap one: the difference is added with the row and a conflict marker, in one transaction', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'alice', '0.01')))
      .resolves({});

    const result = await ledger.record([charge('r-1', 'alice', '0.5')], []);

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 2);
    const actions = sentActions(1);
    expect(actions[0]?.Update).toMatchObject({
      TableName: 'Usage',
      Key: { requestId: 'r-1' },
      ConditionExpression:
        '#standingPrincipal = :standingPrincipal AND costUsd = :standingCost AND NOT contains(recordKeys, :key)',
      ExpressionAttributeValues: expect.objectContaining({
        ':standingPrincipal': 'user/alice',
        ':cost': NumberValue.from('0.5'),
        ':keys': new Set(['user/alice|0.01', 'user/alice|0.5']),
      }),
    });
    expect(actions[0]?.Update?.UpdateExpression).toMatch(/conflictingRecords = list_append\(.*costUsd = :cost/);
    expect(counterSpend(actions, 'user/alice')).toBe('0.49');
    expect(requestsOf(actions, 'user/alice')).toBe(0);
    expect(counterSpend(actions, ACCOUNT_SHARD)).toBe('0.49');
    expect(markerOf(actions)).toMatchObject({
      principal: 'CONFLICT#r-1',
      period: 'user/alice|0.5',
      outcome: 'replaced',
      stands: 'user/alice',
      addedUsd: NumberValue.from('0.49'),
      records: [
        expect.objectContaining({ principal: 'user/alice', costUsd: NumberValue.from('0.01') }),
        expect.objectContaining({
          principal: 'user/alice',
          costUsd: NumberValue.from('0.5'),
          source: 'invocation-log',
        }),
      ],
    });
    expect(result).toMatchObject({ conflicting: ['r-1'], duplicates: [] });
    expect(result.charged.map((c) => c.costUsd.toFixed())).toEqual(['0.5']);
  });

  it('keeps the dearer record that stands when a cheaper one arrives: no counter moves, the row and a marker keep both', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'alice', '0.5')))
      .resolves({});

    const result = await ledger.record([charge('r-1', 'alice', '0.01')], []);

    const actions = sentActions(1);
    expect(actions.filter((a) => a.Update?.TableName === 'Budgets')).toEqual([]);
    expect(actions[0]?.Update?.UpdateExpression).not.toMatch(/costUsd = :cost/);
    expect(markerOf(actions)).toMatchObject({ outcome: 'kept', stands: 'user/alice', addedUsd: NumberValue.from('0') });
    expect(result).toMatchObject({ conflicting: ['r-1'], charged: [] });
  });

  it("charges the dearer record to its own principal and credits the forged one's principal what it was charged", async () => {
    // bob's cheap record came first with alice's request id; alice's real record is dearer.
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'bob', '0.01'), ['None', 'None']))
      .resolves({});

    await ledger.record([charge('r-1', 'alice', '0.5')], []);

    const actions = sentActions(1);
    expect(counterSpend(actions, 'user/alice')).toBe('0.5');
    expect(requestsOf(actions, 'user/alice')).toBe(1);
    expect(counterSpend(actions, 'user/bob')).toBe('-0.01');
    expect(requestsOf(actions, 'user/bob')).toBe(-1);
    expect(counterSpend(actions, ACCOUNT_SHARD)).toBe('0.49');
    expect(requestsOf(actions, ACCOUNT_SHARD)).toBe(0);
    expect(markerOf(actions)).toMatchObject({ stands: 'user/alice', outcome: 'replaced' });
  });

  it('takes the same record delivered again, or a record the row has seen before, as a duplicate: nothing written', async () => {
    const seenBoth = chargedRow('r-2', 'alice', '0.5', { recordKeys: new Set(['user/bob|0.01', 'user/alice|0.5']) });
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'alice', '0.5')))
      .rejectsOnce(conditionFailedOn(seenBoth))
      .resolves({});

    const again = await ledger.record([charge('r-1', 'alice', '0.5')], []);
    const forgedAgain = await ledger.record([charge('r-2', 'bob', '0.01')], []);

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 2);
    expect(again).toMatchObject({ duplicates: ['r-1'], conflicting: [], charged: [] });
    expect(forgedAgain).toMatchObject({ duplicates: ['r-2'], conflicting: [], charged: [] });
  });

  it('judges a second record again when another got to the row first, against what that one left', async () => {
    // Judged against alice's 0.01, but a 0.7 record landed meanwhile: 0.5 is now the cheaper one.
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'alice', '0.01')))
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'alice', '0.7'), ['None', 'None', 'None']))
      .resolves({});

    const result = await ledger.record([charge('r-1', 'alice', '0.5')], []);

    const actions = sentActions(2);
    expect(actions.filter((a) => a.Update?.TableName === 'Budgets')).toEqual([]);
    expect(markerOf(actions)).toMatchObject({ outcome: 'kept', addedUsd: NumberValue.from('0') });
    expect(result.charged).toEqual([]);
  });

  it('writes two differing records of one request in one batch in turn, the second judged against the first', async () => {
    ddb
      .on(TransactWriteCommand)
      .resolvesOnce({})
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'bob', '0.01'), ['None', 'None']))
      .resolves({});

    const result = await ledger.record([charge('r-1', 'bob', '0.01'), charge('r-1', 'alice', '0.5')], []);

    const keys = (i: number) => sentActions(i).map((a) => JSON.stringify(a.Update?.Key ?? a.Put?.Item?.principal));
    for (const i of [0, 1, 2]) expect(new Set(keys(i)).size).toBe(keys(i).length);
    expect(counterSpend(sentActions(0), 'user/bob')).toBe('0.01');
    expect(counterSpend(sentActions(2), 'user/alice')).toBe('0.5');
    expect(counterSpend(sentActions(2), 'user/bob')).toBe('-0.01');
    expect(result.conflicting).toEqual(['r-1']);
  });

  it('replaces the coverage estimate with the exact cost of its own principal’s record, dearer or cheaper, in one transaction with a correction marker, no conflict', async () => {
    const estimate = chargedRow('r-1', 'alice', '0.5', { chargedBy: 'coverage-sweep' });
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(estimate))
      .resolvesOnce({})
      .rejectsOnce(conditionFailedOn(estimate))
      .resolves({});

    const dearer = await ledger.record([charge('r-1', 'alice', '0.8')], []);
    const cheaper = await ledger.record([charge('r-1', 'alice', '0.3')], []);

    expect(counterSpend(sentActions(1), 'user/alice')).toBe('0.3');
    expect(markerOf(sentActions(1))).toMatchObject({ outcome: 'corrected', stands: 'user/alice' });
    expect(markerOf(sentActions(1))?.addedUsd).toEqual(NumberValue.from('0.3'));
    expect(counterSpend(sentActions(3), 'user/alice')).toBe('-0.2');
    expect(counterSpend(sentActions(3), ACCOUNT_SHARD)).toBe('-0.2');
    expect(requestsOf(sentActions(3), 'user/alice')).toBe(0);
    expect(markerOf(sentActions(3))).toMatchObject({ outcome: 'corrected', addedUsd: NumberValue.from('-0.2') });
    expect(dearer).toMatchObject({ conflicting: [], duplicates: [] });
    expect(cheaper).toMatchObject({ conflicting: [], duplicates: [] });
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 4);
  });

  it('lets a record of another principal than the estimate’s replace it only when dearer: a cheaper one does not lower what CloudTrail saw', async () => {
    const estimate = chargedRow('r-1', 'alice', '0.5', { chargedBy: 'coverage-sweep' });
    ddb.on(TransactWriteCommand).rejectsOnce(conditionFailedOn(estimate)).resolves({});

    const cheaper = await ledger.record([charge('r-1', 'bob', '0.3')], []);

    expect(cheaper).toMatchObject({ duplicates: ['r-1'], conflicting: [], charged: [] });
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });
});

describe('spend confirmed by CloudTrail', () => {
  const sightedRow = (requestId: string, user: string) =>
    storedRow({
      requestId,
      principal: `user/${user}`,
      sightedAt: '2026-11-20T14:00:05.000Z',
      sightedBy: `user/${user}`,
      unmeteredShard: 'U1',
    });
  const confirmedOf = (actions: Action[], principal: string) =>
    (
      actions.find((a) => a.Update?.Key?.principal === principal)?.Update?.ExpressionAttributeValues?.[':confirmed'] as
        | NumberValue
        | undefined
    )?.value;
  const sighting = (requestId: string, user: string) => ({
    ...call(requestId, user),
    source: 'cloudtrail' as const,
    tokens: undefined,
  });

  it('leaves the charge of a request CloudTrail has not seen unconfirmed', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    const result = await ledger.record([charge('r-1', 'alice', '0.5')], []);

    expect(confirmedOf(sentActions(0), 'user/alice')).toBeUndefined();
    expect(result.confirmed).toBe(0);
  });

  it('confirms the charge of a request CloudTrail saw for the same principal: spend and confirmed spend move together', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(sightedRow('r-1', 'alice'), ['None', 'None']))
      .resolves({});

    const result = await ledger.record([charge('r-1', 'alice', '0.5')], []);

    const actions = sentActions(1);
    expect(actions[0]?.Update).toMatchObject({
      ConditionExpression: 'attribute_exists(requestId) AND attribute_not_exists(costUsd) AND #sighter = :by',
      ExpressionAttributeValues: expect.objectContaining({ ':by': 'user/alice' }),
    });
    expect(actions[0]?.Update?.UpdateExpression).toMatch(/sightedBy = :by REMOVE unmeteredSince, unmeteredShard$/);
    expect(counterSpend(actions, 'user/alice')).toBe('0.5');
    expect(confirmedOf(actions, 'user/alice')).toBe('0.5');
    expect(confirmedOf(actions, ACCOUNT_SHARD)).toBe('0.5');
    expect(result).toMatchObject({ confirmed: 1, duplicates: [] });
  });

  it('does not confirm a charge whose sighting names another principal', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(sightedRow('r-1', 'bob'), ['None', 'None']))
      .resolves({});

    const result = await ledger.record([charge('r-1', 'alice', '0.5')], []);

    const actions = sentActions(1);
    expect(actions[0]?.Update?.ExpressionAttributeValues).toMatchObject({ ':by': 'user/bob' });
    expect(counterSpend(actions, 'user/alice')).toBe('0.5');
    expect(confirmedOf(actions, 'user/alice')).toBeUndefined();
    expect(result.confirmed).toBe(0);
  });

  it('confirms a charge when its sighting comes after it: only the confirmed spend moves', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'alice', '0.5')))
      .resolves({});

    const result = await ledger.record([], [sighting('r-1', 'alice')]);

    const actions = sentActions(1);
    expect(actions[0]?.Update).toMatchObject({
      Key: { requestId: 'r-1' },
      UpdateExpression: 'SET sightedAt = :now, sightedBy = :by',
      ConditionExpression:
        'attribute_not_exists(sightedAt) AND principal = :standingPrincipal AND costUsd = :standingCost',
    });
    const counter = actions.find((a) => a.Update?.Key?.principal === 'user/alice')?.Update;
    expect(counter?.UpdateExpression).toBe('ADD confirmedSpendUsd :confirmed SET updatedAt = :now');
    expect(confirmedOf(actions, 'user/alice')).toBe('0.5');
    expect(confirmedOf(actions, ACCOUNT_SHARD)).toBe('0.5');
    expect(result).toMatchObject({ confirmed: 1, sighted: 0 });
    // It names no attribute by placeholder: DynamoDB refuses an empty ExpressionAttributeNames, so none is sent.
    expect(
      actions
        .filter((a) => a.Update?.ExpressionAttributeNames !== undefined)
        .map((a) => a.Update?.ExpressionAttributeNames),
    ).not.toContainEqual({});
    expect(counter).not.toHaveProperty('ExpressionAttributeNames');
  });

  it('records a sighting naming another principal than the charge, and confirms nothing', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'alice', '0.5')))
      .resolves({});

    const result = await ledger.record([], [sighting('r-1', 'bob')]);

    const actions = sentActions(1);
    expect(actions).toHaveLength(1);
    expect(actions[0]?.Update?.ExpressionAttributeValues).toMatchObject({ ':by': 'user/bob' });
    expect(result.confirmed).toBe(0);
  });

  it('takes a sighting of a request seen before as nothing new', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'alice', '0.5', { sightedAt: '2026-11-20T14:00:05.000Z' })))
      .resolves({});

    const result = await ledger.record([], [sighting('r-1', 'alice')]);

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(result).toMatchObject({ confirmed: 0, sighted: 0 });
  });

  it('confirms the coverage estimate of a sighted call at once, in one write', async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const estimate = {
      ...charge('r-1', 'alice', '0.5'),
      call: { ...call('r-1', 'alice'), source: 'coverage-sweep' as const },
    };

    const result = await ledger.record([estimate], []);

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(confirmedOf(sentActions(0), 'user/alice')).toBe('0.5');
    expect(result.confirmed).toBe(1);
  });

  it('moves confirmed spend with a dearer record only where the sighting names its principal', async () => {
    // bob's cheap record came first with a request CloudTrail saw alice make; alice's record is dearer.
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'bob', '0.01', { sightedBy: 'user/alice' }), ['None', 'None']))
      .resolves({});

    await ledger.record([charge('r-1', 'alice', '0.5')], []);

    const actions = sentActions(1);
    expect(confirmedOf(actions, 'user/alice')).toBe('0.5');
    expect(confirmedOf(actions, 'user/bob')).toBeUndefined();
    expect(counterSpend(actions, 'user/bob')).toBe('-0.01');
    expect(confirmedOf(actions, ACCOUNT_SHARD)).toBe('0.5');
  });

  it('confirms a charge and a sighting of it that arrive in one batch, the sighting after the charge', async () => {
    ddb
      .on(TransactWriteCommand)
      .resolvesOnce({})
      .rejectsOnce(conditionFailedOn(chargedRow('r-1', 'alice', '0.5')))
      .resolves({});

    const result = await ledger.record([charge('r-1', 'alice', '0.5')], [sighting('r-1', 'alice')]);

    expect(sentActions(0).some((a) => a.Put)).toBe(false);
    expect(sentActions(1)[0]?.Put?.Item).toMatchObject({ requestId: 'r-1', sightedBy: 'user/alice' });
    expect(confirmedOf(sentActions(2), 'user/alice')).toBe('0.5');
    expect(result.confirmed).toBe(1);
  });
});
