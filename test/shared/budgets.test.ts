import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, GetCommand, NumberValue, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { BudgetStore, type LimitItemMemo, usedPercent } from '../../shared/budgets';
import { ACCOUNT_SHARDS } from '../../shared/budgets/keys';
import { usd } from '../../shared/money';

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const ddb = mockClient(documents);
const store = new BudgetStore(documents, 'Budgets', { configuredDefault: usd('50'), configuredAccount: usd('1000') });
const n = (value: string) => new NumberValue(value);

beforeEach(() => ddb.reset());

describe('the account total', () => {
  const account = { principal: 'ACCOUNT', period: '2026-11', state: 'stopped', alertLevel: n('95') };
  const shard = (i: number, spend: string, extra: Record<string, unknown> = {}) => ({
    principal: `ACCOUNT#${i}`,
    period: '2026-11',
    spendUsd: n(spend),
    requests: n('2'),
    ...extra,
  });

  it('adds up every shard, exactly, with the ACCOUNT item read in the same consistent BatchGetItem', async () => {
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        Budgets: [
          account,
          shard(0, '0.1', { 'modelSpend:nova': n('0.1') }),
          shard(63, '0.2', { 'modelSpend:nova': n('0.05'), 'modelSpend:opus': n('0.15') }),
          shard(9, '1234567890.000000000000000001'),
        ],
      },
    });

    const total = await store.accountTotal('2026-11');

    expect(total.spendUsd.toFixed()).toBe('1234567890.300000000000000001');
    expect(total.requests).toBe(6);
    expect(Object.fromEntries([...total.modelSpend].map(([m, s]) => [m, s.toFixed()]))).toEqual({
      nova: '0.15',
      opus: '0.15',
    });
    expect(total.item).toEqual(account);
    const request = ddb.commandCalls(BatchGetCommand)[0]?.args[0].input.RequestItems?.Budgets;
    expect(request?.ConsistentRead).toBe(true);
    expect(request?.Keys).toHaveLength(ACCOUNT_SHARDS + 1);
  });

  it('reads again the keys DynamoDB left unprocessed, so no shard is missed', async () => {
    ddb
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { Budgets: [shard(1, '2')] },
        UnprocessedKeys: { Budgets: { Keys: [{ principal: 'ACCOUNT#2', period: '2026-11' }] } },
      })
      .resolves({ Responses: { Budgets: [shard(2, '3')] } });

    expect((await store.spendOf('ACCOUNT', '2026-11')).toFixed()).toBe('5');
    expect(ddb.commandCalls(BatchGetCommand)[1]?.args[0].input.RequestItems?.Budgets?.Keys).toEqual([
      { principal: 'ACCOUNT#2', period: '2026-11' },
    ]);
  });

  it('counts spend the ACCOUNT item itself holds, written before there were shards', async () => {
    ddb.on(BatchGetCommand).resolves({ Responses: { Budgets: [{ ...account, spendUsd: n('10') }, shard(4, '1')] } });

    expect((await store.accountTotal('2026-11')).spendUsd.toFixed()).toBe('11');
  });

  it('reports the account in a period as one counter: the shards summed, the decisions of the ACCOUNT item', async () => {
    ddb.on(ScanCommand).resolves({
      Items: [
        { principal: 'user/alice', period: '2026-11', spendUsd: n('3') },
        shard(5, '7.5'),
        account,
        shard(6, '2.5'),
        { principal: 'MODEL#acme.mystery', period: 'UNKNOWN', requests: n('1') },
      ],
    });

    const { counters } = await store.periodBudgets('2026-11');

    expect(counters.map((c) => [c.principal, c.spendUsd.toFixed(), c.requests, c.state, c.alertLevel])).toEqual([
      ['ACCOUNT', '10', 4, 'stopped', 95],
      ['user/alice', '3', 0, 'active', undefined],
    ]);
  });
});

describe('the percent of a limit used', () => {
  it('is exact to two places, rounded down', () => {
    expect(usedPercent(usd('39.999'), usd('50'))?.toFixed()).toBe('79.99');
    expect(usedPercent(usd('60'), usd('50'))?.toFixed()).toBe('120');
  });

  it('has no value under a zero limit (a principal that may not spend), spent or not: never a huge number', () => {
    expect(usedPercent(usd('0'), usd('0'))).toBeUndefined();
    expect(usedPercent(usd('0.01'), usd('0'))).toBeUndefined();
  });
});

describe('the limit in force', () => {
  beforeEach(() => {
    ddb.on(GetCommand).resolves({});
    ddb.on(GetCommand, { Key: { principal: 'DEFAULT', period: 'LIMIT' } }).resolves({
      Item: { principal: 'DEFAULT', period: 'LIMIT', limitUsd: n('4') },
    });
    ddb.on(GetCommand, { Key: { principal: 'user/own', period: 'LIMIT' } }).resolves({
      Item: { principal: 'user/own', period: 'LIMIT', limitUsd: n('9'), periodKind: 'weekly' },
    });
  });
  const reads = (principal: string) =>
    ddb.commandCalls(GetCommand).filter((call) => call.args[0].input.Key?.principal === principal).length;

  it('is the own limit with its kind, else the run-time default', async () => {
    expect(await store.budgetOf('user/own')).toEqual({ limitUsd: usd('9'), periodKind: 'weekly' });
    expect(await store.budgetOf('user/ann')).toEqual({ limitUsd: usd('4') });
  });

  it('reads DEFAULT once for every principal on it that shares a memo (a stream batch), not once each', async () => {
    const memo: LimitItemMemo = new Map();
    for (const principal of ['user/ann', 'user/bob', 'user/cat']) {
      expect((await store.budgetOf(principal, memo)).limitUsd.toFixed()).toBe('4');
    }
    expect(reads('DEFAULT')).toBe(1);
    await store.budgetOf('user/dan');
    expect(reads('DEFAULT')).toBe(2);
  });
});
