import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, NumberValue, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { StoredEntry } from '../../shared/audit/entry';
import type { AuditLog } from '../../shared/audit/log';
import type { AccountTotal, BudgetStore, CounterRecord, LimitRecord, PeriodBudgets } from '../../shared/budgets';
import type { PendingWait, PendingWaits } from '../../shared/decisions/pending';
import { type DigestTables, gatherDigest } from '../../shared/digest/gather';
import { type Usd, usd } from '../../shared/money';

const ddb = mockClient(DynamoDBDocumentClient);
const sqsMock = mockClient(SQSClient);
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const sqs = new SQSClient({});
const NOW = new Date('2026-12-01T06:00:00.000Z');
const DAY = '2026-11-30';

const counter = (
  principal: string,
  period: string,
  spend: string,
  extra: Partial<CounterRecord> = {},
): CounterRecord => ({
  principal,
  period,
  spendUsd: usd(spend),
  confirmedSpendUsd: usd(spend),
  requests: 1,
  alerts: [],
  state: 'active',
  stopDenied: false,
  groups: [],
  groupStops: [],
  generation: 0,
  ...extra,
});

/** A BudgetStore over fixed period budgets (limits: alice $20 of her own, the rest the $50 default). */
function store(periods: Record<string, readonly CounterRecord[]>, account?: Partial<AccountTotal>): BudgetStore {
  const limits = new Map<string, LimitRecord>([['user/alice', { principal: 'user/alice', limitUsd: usd('20') }]]);
  return {
    periodBudgets: async (period: string): Promise<PeriodBudgets> => ({
      counters: periods[period] ?? [],
      groups: [],
      limits,
    }),
    limitIn: async (principal: string) =>
      limits.get(principal)?.limitUsd ?? (principal === 'ACCOUNT' ? usd('1000') : usd('50')),
    accountTotal: async (): Promise<AccountTotal> => ({
      spendUsd: usd('0'),
      confirmedSpendUsd: usd('0'),
      requests: 0,
      modelSpend: new Map<string, Usd>(),
      ...account,
    }),
  } as unknown as BudgetStore;
}

const auditOf = (entries: Partial<StoredEntry>[]) =>
  ({
    async *query() {
      yield* entries as StoredEntry[];
    },
  }) as unknown as AuditLog;

const waitsOf = (waits: Partial<PendingWait>[]) =>
  ({
    async *undecided() {
      yield* waits as PendingWait[];
    },
  }) as unknown as PendingWaits;

const tables = (overrides: Partial<DigestTables> = {}): DigestTables => ({
  budgetsTable: 'Budgets',
  usageTable: 'Usage',
  rejectedQueueUrl: 'https://sqs.local/rejected',
  periodKind: 'monthly',
  extraPeriodKinds: [],
  ...overrides,
});

beforeEach(() => {
  ddb.reset();
  sqsMock.reset();
  ddb.on(ScanCommand, { TableName: 'Usage' }).resolves({
    Items: [
      { principal: 'user/alice', callTime: `${DAY}T09:00:00Z`, costUsd: NumberValue.from('1.5'), model: 'nova' },
      { principal: 'user/alice', callTime: `${DAY}T10:00:00Z`, costUsd: NumberValue.from('2.000001'), model: 'acme.x' },
      { principal: 'user/bob', callTime: `${DAY}T11:00:00Z`, costUsd: NumberValue.from('0.25'), model: 'nova' },
    ],
  });
  ddb.on(ScanCommand, { TableName: 'Budgets' }).resolves({
    Items: [
      {
        principal: 'MODEL#acme.x',
        period: 'UNKNOWN',
        firstSeen: '2026-11-02T00:00:00Z',
        lastSeen: '2026-11-30T10:00:01Z',
        requests: NumberValue.from('4'),
      },
      {
        principal: 'MODEL#old.y',
        period: 'UNKNOWN',
        lastSeen: '2026-10-02T00:00:00Z',
        requests: NumberValue.from('1'),
      },
    ],
  });
  sqsMock
    .on(GetQueueAttributesCommand)
    .resolves({ Attributes: { ApproximateNumberOfMessages: '3', ApproximateNumberOfMessagesNotVisible: '0' } });
});

describe('gathering a day’s digest', () => {
  const november = [
    counter('user/alice', '2026-11', '21', {
      state: 'suspended',
      suspension: { since: '2026-11-30T10:00:02Z', reason: 'budget', waitId: 'W1' },
    }),
    counter('user/bob', '2026-11', '7'),
    counter('user/carol', '2026-11', '3'),
    counter('ACCOUNT', '2026-11', '31'),
  ];

  it('adds the day’s charged calls up per principal and model, beside the period’s counters and limits', async () => {
    const data = await gatherDigest(
      { documents, sqs, budgets: store({ '2026-11': november }), audit: auditOf([]), waits: waitsOf([]) },
      tables(),
      DAY,
      NOW,
    );

    expect(data.period).toBe('2026-11');
    const lines = Object.fromEntries(
      data.principals.map((l) => [l.name, [l.dayUsd.toFixed(), l.periodUsd.toFixed(), l.limitUsd?.toFixed(), l.state]]),
    );
    expect(lines).toEqual({
      'user/alice': ['3.500001', '21', '20', 'suspended'],
      'user/bob': ['0.25', '7', '50', 'active'],
      'user/carol': ['0', '3', '50', 'active'],
    });
    expect([data.account.dayUsd.toFixed(), data.account.periodUsd.toFixed(), data.account.limitUsd?.toFixed()]).toEqual(
      ['3.750001', '31', '1000'],
    );
    // Only models seen this period; the day's fallback-priced spend from the calls.
    expect(data.unknownModels.map((m) => [m.model, m.dayUsd.toFixed(), m.requests])).toEqual([
      ['acme.x', '2.000001', 4],
    ]);
    expect(data.rejected).toEqual({ waiting: 3, inFlight: 0 });
    expect(data.groups).toBeUndefined();
  });

  it('takes crossings from the day’s audit, suspensions from the current period, and only waits not expired', async () => {
    const data = await gatherDigest(
      {
        documents,
        sqs,
        budgets: store({
          '2026-11': november,
          '2026-12': [counter('user/dan', '2026-12', '0', { state: 'suspended' })],
        }),
        audit: auditOf([
          { at: `${DAY}T09:30:00Z`, subject: 'user/alice', action: 'threshold.alerted', details: { threshold: 80 } },
          { at: `${DAY}T10:00:01Z`, subject: 'user/alice', action: 'suspension.requested', details: {} },
          { at: `${DAY}T10:00:02Z`, subject: 'user/alice', action: 'deny.applied', details: {} },
        ]),
        waits: waitsOf([
          {
            id: 'W1',
            kind: 'suspension',
            principal: 'user/alice',
            period: '2026-11',
            createdAt: `${DAY}T10:00:03Z`,
            expiresAt: '2026-12-01T10:00:03Z',
          },
          {
            id: 'W0',
            kind: 'suspension',
            principal: 'user/eve',
            period: '2026-11',
            createdAt: '2026-11-28T00:00:00Z',
            expiresAt: '2026-11-29T00:00:00Z',
          },
        ]),
      },
      tables(),
      DAY,
      NOW,
    );

    expect(data.crossings).toEqual([
      { principal: 'user/alice', threshold: 80, at: `${DAY}T09:30:00Z` },
      { principal: 'user/alice', threshold: 'limit', at: `${DAY}T10:00:01Z` },
    ]);
    // The digest runs on 1 December: what is in force now is December's.
    expect(data.suspensions).toEqual([
      { principal: 'user/dan', period: '2026-12', state: 'suspended', since: NOW.toISOString(), reason: 'suspended' },
    ]);
    expect(data.pending.map((p) => p.id)).toEqual(['W1']);
  });

  it('where the deployment keeps daily counters, reads the day’s spend from them and scans no Usage', async () => {
    const budgets = store(
      {
        '2026-11': november,
        [DAY]: [
          counter('user/alice', DAY, '3.500001'),
          counter('user/bob', DAY, '0.25'),
          counter('ACCOUNT', DAY, '3.750001'),
        ],
      },
      {
        spendUsd: usd('3.750001'),
        modelSpend: new Map([
          ['acme.x', usd('2.000001')],
          ['nova', usd('1.75')],
        ]),
      },
    );

    const data = await gatherDigest(
      { documents, sqs, budgets, audit: auditOf([]), waits: waitsOf([]) },
      tables({ extraPeriodKinds: ['daily'] }),
      DAY,
      NOW,
    );

    expect(ddb.commandCalls(ScanCommand, { TableName: 'Usage' })).toHaveLength(0);
    expect(data.principals.find((l) => l.name === 'user/alice')?.dayUsd.toFixed()).toBe('3.500001');
    expect(data.account.dayUsd.toFixed()).toBe('3.750001');
    expect(data.unknownModels.map((m) => [m.model, m.dayUsd.toFixed()])).toEqual([['acme.x', '2.000001']]);
  });

  it('refuses a day that is not one', async () => {
    const sources = { documents, sqs, budgets: store({}), audit: auditOf([]), waits: waitsOf([]) };
    await expect(gatherDigest(sources, tables(), '2026-02-30', NOW)).rejects.toThrow(/not a day/);
  });
});
