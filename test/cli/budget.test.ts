import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  NumberValue,
  PutCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { Command, InvalidArgumentError } from 'commander';
import { CommandError, parseLimitArgument, parsePrincipal, USAGE_EXIT_CODE } from '../../cli/args';
import { registerBudgetCommands } from '../../cli/budget';
import { formatLimits, listBudgetLimits } from '../../cli/budget-list';
import { describeSet } from '../../cli/budget-set';
import { type Deployment, deploymentOf } from '../../cli/deployment';
import {
  budgetStatus,
  formatStatus,
  registerStatusCommand,
  reportPeriod,
  UnknownPrincipalError,
} from '../../cli/status';
import { AdminError, replyOf, setBudgetLimit } from '../../shared/admin/set-limit';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { usd } from '../../shared/money';
import { signedFetch } from '../../shared/sigv4-fetch';

const ddb = mockClient(DynamoDBDocumentClient);
const cloudFormation = mockClient(CloudFormationClient);

const ADMIN = 'arn:aws:iam::111122223333:user/admin';
const now = new Date('2026-11-20T15:00:00.000Z');
const deployment: Deployment = {
  budgetsTable: 'Budgets',
  auditTable: 'Audit',
  periodKind: 'monthly',
  extraPeriodKinds: ['weekly'],
  thresholds: [80, 90, 95],
  configuredDefault: usd('50'),
  configuredAccount: usd('1000'),
};
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }), {
  unmarshallOptions: { wrapNumbers: true },
});
const store = new BudgetStore(documents, 'Budgets', {
  configuredDefault: deployment.configuredDefault,
  configuredAccount: deployment.configuredAccount,
});
const log = new AuditLog(documents, 'Audit', { now: () => now, backoff: async () => {} });
const n = (digits: string) => NumberValue.from(digits);

const limitItem = (principal: string, limitUsd: string) => ({
  principal,
  period: 'LIMIT',
  limitUsd: n(limitUsd),
  setBy: ADMIN,
  setAt: '2026-11-01T09:00:00.000Z',
});
const counter = (principal: string, spendUsd: string, extra: Record<string, unknown> = {}) => ({
  principal,
  period: '2026-11',
  spendUsd: n(spendUsd),
  requests: n('3'),
  ...extra,
});

/** The audit log of a subject with no entries yet, accepting the next one. */
function auditAccepts() {
  ddb.on(QueryCommand, { TableName: 'Audit' }).resolves({ Items: [] });
  ddb.on(PutCommand, { TableName: 'Audit' }).resolves({});
}

const budgetPuts = () => ddb.commandCalls(PutCommand, { TableName: 'Budgets' });
const auditPuts = () => ddb.commandCalls(PutCommand, { TableName: 'Audit' });

beforeEach(() => {
  ddb.reset();
  cloudFormation.reset();
});

describe('budget set: arguments', () => {
  it.each([
    ['user/alice', 'user/alice'],
    ['role/app', 'role/app'],
    ['role/AWSReservedSSO_X/maria@example.com', 'role/AWSReservedSSO_X/maria@example.com'],
    ['user/BedrockAPIKey-abc', 'user/BedrockAPIKey-abc'],
    ['default', 'DEFAULT'],
    ['ACCOUNT', 'ACCOUNT'],
    ['root', 'root'],
  ])('takes %s as the Budgets key %s', (text, key) => {
    expect(parsePrincipal(text)).toBe(key);
  });

  it.each(['alice', 'user/', 'group/admins', 'role/a/b/c', 'MODEL#x', 'user/al ice', `user/${'a'.repeat(65)}`])(
    'refuses %s with the accepted shapes',
    (text) => {
      expect(() => parsePrincipal(text)).toThrow(/is not a principal id: use user\/<name>, role\/<name>/);
    },
  );

  it('takes plain decimal amounts exactly, up to 12 digits before the point and 6 after', () => {
    expect(parseLimitArgument('12.50').toFixed()).toBe('12.5');
    expect(parseLimitArgument('0').toFixed()).toBe('0');
    expect(parseLimitArgument('0.000001').toFixed()).toBe('0.000001');
    expect(parseLimitArgument('999999999999.25').toFixed()).toBe('999999999999.25');
  });

  it.each([
    ['1e3', /plain decimal digits \(1000, not 1e3\)/],
    ['-5', /cannot be negative/],
    ['0.0000001', /at most 6 decimal places/],
    ['10.123456789012', /at most 6 decimal places/],
    ['1'.repeat(41), /at most 12 digits before the point/],
    ['123456789012345678.25', /at most 12 digits before the point/],
    ['12,50', /not an amount in USD/],
    ['$12', /not an amount in USD/],
    ['.5', /not an amount in USD/],
    ['', /not an amount in USD/],
  ])('refuses the amount %j as a usage error, as a budgets file does', (text, message) => {
    expect(() => parseLimitArgument(text)).toThrow(InvalidArgumentError);
    expect(() => parseLimitArgument(text)).toThrow(message);
  });
});

describe('budget set: audited write', () => {
  it('appends the audit entry, then puts the limit item only if the principal still has no limit', async () => {
    ddb.on(GetCommand, { TableName: 'Budgets' }).resolves({});
    auditAccepts();
    ddb.on(PutCommand, { TableName: 'Budgets' }).resolves({});

    const result = await setBudgetLimit(
      store,
      log,
      deployment,
      { principal: 'user/alice', limitUsd: usd('20.50'), actor: ADMIN },
      now,
    );

    expect(budgetPuts().map((call) => call.args[0].input)).toEqual([
      {
        TableName: 'Budgets',
        Item: {
          principal: 'user/alice',
          period: 'LIMIT',
          limitUsd: n('20.5'),
          setBy: ADMIN,
          setAt: '2026-11-20T15:00:00.000Z',
        },
        ConditionExpression: 'attribute_not_exists(#principal)',
        ExpressionAttributeNames: { '#principal': 'principal' },
      },
    ]);
    expect(auditPuts()).toHaveLength(1);
    expect(auditPuts()[0]?.args[0].input.Item).toMatchObject({
      subject: 'user/alice',
      actor: ADMIN,
      action: 'budget.limit-set',
      at: '2026-11-20T15:00:00.000Z',
      seq: '000000000001',
      details: { limitUsd: '20.5', previousUsd: null, periodKind: 'monthly' },
    });
    // Audit first: the limit is never in force without its entry.
    const order = ddb.calls().map((call) => (call.args[0].input as { TableName?: string }).TableName);
    expect(order.lastIndexOf('Audit')).toBeLessThan(order.lastIndexOf('Budgets'));
    expect(result).toMatchObject({ principal: 'user/alice', setBy: ADMIN, periodKind: 'monthly' });
    expect(describeSet(replyOf(result))).toBe(
      'user/alice: limit $20.50 per month (was not set, the default applied)\n' +
        `set by ${ADMIN}; audit entry 000000000001 of user/alice (budget.limit-set)\n`,
    );
  });

  it('records the previous limit and replaces it only if it is still that one', async () => {
    ddb.on(GetCommand, { TableName: 'Budgets' }).resolves({ Item: limitItem('ACCOUNT', '1500.25') });
    auditAccepts();
    ddb.on(PutCommand, { TableName: 'Budgets' }).resolves({});

    const result = await setBudgetLimit(
      store,
      log,
      deployment,
      { principal: 'ACCOUNT', limitUsd: usd('2000'), actor: ADMIN },
      now,
    );

    expect(budgetPuts()[0]?.args[0].input).toMatchObject({
      ConditionExpression: '#limit = :expected',
      ExpressionAttributeNames: { '#limit': 'limitUsd' },
      ExpressionAttributeValues: { ':expected': n('1500.25') },
    });
    expect(auditPuts()[0]?.args[0].input.Item).toMatchObject({
      subject: 'ACCOUNT',
      details: { limitUsd: '2000', previousUsd: '1500.25', periodKind: 'monthly' },
    });
    expect(describeSet(replyOf(result))).toContain('ACCOUNT: limit $2000.00 per month (was $1500.25)');
  });

  it('changes nothing and says so when the audit entry cannot be written', async () => {
    ddb.on(GetCommand, { TableName: 'Budgets' }).resolves({});
    ddb.on(QueryCommand, { TableName: 'Audit' }).resolves({ Items: [] });
    ddb.on(PutCommand, { TableName: 'Audit' }).rejects(new Error('AccessDeniedException: not authorized'));

    const attempt = setBudgetLimit(store, log, deployment, {
      principal: 'user/alice',
      limitUsd: usd('20'),
      actor: ADMIN,
    });

    await expect(attempt).rejects.toThrow(AdminError);
    await expect(attempt).rejects.toThrow(
      /the limit of user\/alice was not changed: its audit entry could not be written \(.*not authorized\)/,
    );
    expect(budgetPuts()).toHaveLength(0);
  });

  it('names the audit entry of a change that another admin overtook, and asks to run again', async () => {
    ddb.on(GetCommand, { TableName: 'Budgets' }).resolves({});
    auditAccepts();
    ddb
      .on(PutCommand, { TableName: 'Budgets' })
      .rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));

    const attempt = setBudgetLimit(store, log, deployment, {
      principal: 'role/app',
      limitUsd: usd('20'),
      actor: ADMIN,
    });

    await expect(attempt).rejects.toThrow(
      /the limit of role\/app was not changed \(someone else changed it while this command ran\), but audit entry 000000000001 of role\/app .* run the command again/,
    );
  });

  it('refuses a period kind the deployment keeps no counters for, before reading or writing anything', async () => {
    const attempt = setBudgetLimit(store, log, deployment, {
      principal: 'user/alice',
      limitUsd: usd('20'),
      actor: ADMIN,
      period: 'daily',
    });

    await expect(attempt).rejects.toThrow(
      /--period daily: this deployment budgets monthly periods and keeps no daily counters. Redeploy with -c 'extraPeriodKinds=\["daily"\]'/,
    );
    expect(ddb.calls()).toHaveLength(0);
  });

  it('stores the period kind of a limit set for an enabled extra kind, and audits it', async () => {
    ddb.on(GetCommand, { TableName: 'Budgets' }).resolves({});
    auditAccepts();
    ddb.on(PutCommand, { TableName: 'Budgets' }).resolves({});

    const result = await setBudgetLimit(store, log, deployment, {
      principal: 'user/alice',
      limitUsd: usd('20'),
      actor: ADMIN,
      period: 'weekly',
    });

    expect(result.periodKind).toBe('weekly');
    expect(budgetPuts()[0]?.args[0].input.Item).toMatchObject({
      principal: 'user/alice',
      period: 'LIMIT',
      periodKind: 'weekly',
    });
    expect(auditPuts()[0]?.args[0].input.Item?.details).toMatchObject({ periodKind: 'weekly' });
  });

  it("stores a prepaid limit's first day, asked as a day or an ISO time, and keeps it when the grant is raised", async () => {
    const prepaid = { ...deployment, extraPeriodKinds: ['total'] as const };
    ddb.on(GetCommand, { TableName: 'Budgets' }).resolves({});
    auditAccepts();
    ddb.on(PutCommand, { TableName: 'Budgets' }).resolves({});
    const set = (extra: { startsAt?: string }, now = new Date('2026-11-20T10:00:00Z')) =>
      setBudgetLimit(
        store,
        log,
        prepaid,
        { principal: 'user/alice', limitUsd: usd('100'), actor: ADMIN, period: 'total', ...extra },
        now,
      );

    await expect(set({ startsAt: '2026-12-01T09:30:00+02:00' })).resolves.toMatchObject({ startsAt: '2026-12-01' });
    await expect(set({})).resolves.toMatchObject({ startsAt: '2026-11-20' });
    expect(budgetPuts()[0]?.args[0].input.Item).toMatchObject({ periodKind: 'total', startsAt: '2026-12-01' });
    expect(auditPuts()[0]?.args[0].input.Item?.details).toMatchObject({ periodKind: 'total', startsAt: '2026-12-01' });

    ddb.on(GetCommand, { TableName: 'Budgets' }).resolves({
      Item: { principal: 'user/alice', period: 'LIMIT', limitUsd: '100', periodKind: 'total', startsAt: '2026-12-01' },
    });
    await expect(set({}, new Date('2027-03-01T00:00:00Z'))).resolves.toMatchObject({ startsAt: '2026-12-01' });

    await expect(set({ startsAt: 'soon' })).rejects.toThrow(/--starts-at soon is not a day/);
    await expect(
      setBudgetLimit(store, log, prepaid, {
        principal: 'user/alice',
        limitUsd: usd('1'),
        actor: ADMIN,
        startsAt: '2026-12-01',
      }),
    ).rejects.toThrow(/--starts-at is for a prepaid budget only/);
  });
});

describe('budget list', () => {
  it('lists every limit item, page after page, with the configured defaults', async () => {
    ddb
      .on(ScanCommand)
      .resolvesOnce({
        Items: [limitItem('user/bob', '20')],
        LastEvaluatedKey: { principal: 'user/bob', period: 'LIMIT' },
      })
      .resolvesOnce({ Items: [limitItem('DEFAULT', '40.125')] });

    const list = await listBudgetLimits(store, deployment);

    expect(ddb).toHaveReceivedCommandTimes(ScanCommand, 2);
    expect(ddb).toHaveReceivedNthCommandWith(1, ScanCommand, {
      TableName: 'Budgets',
      FilterExpression: '#period = :limit',
      ExpressionAttributeNames: { '#period': 'period' },
      ExpressionAttributeValues: { ':limit': 'LIMIT' },
      ConsistentRead: true,
    });
    expect(ddb).toHaveReceivedNthCommandWith(2, ScanCommand, {
      ExclusiveStartKey: { principal: 'user/bob', period: 'LIMIT' },
    });
    expect(list).toEqual({
      periodKind: 'monthly',
      configured: { defaultUsd: '50', accountUsd: '1000' },
      limits: [
        { principal: 'DEFAULT', limitUsd: '40.125', setBy: ADMIN, setAt: '2026-11-01T09:00:00.000Z' },
        { principal: 'user/bob', limitUsd: '20', setBy: ADMIN, setAt: '2026-11-01T09:00:00.000Z' },
      ],
    });
    const table = formatLimits(list).split('\n');
    expect(table[0]).toMatch(/^principal\s+limit\s+set by\s+set at$/);
    expect(table[1]).toMatch(/^DEFAULT\s+\$40\.125\s+arn:aws:iam::111122223333:user\/admin/);
    expect(table[2]).toMatch(/^user\/bob\s+\$20\.00\s/);
    expect(table[3]).toContain('configured: $50.00 per principal per month');
  });

  it('shows the rate rule a limit carries (the burn-rate guard), as decimal strings in JSON', async () => {
    ddb.on(ScanCommand).resolves({
      Items: [
        { ...limitItem('user/leak1', '1000'), maxUsdPerHour: n('5'), onRate: 'suspend', onAnomaly: 'suspend' },
        limitItem('user/bob', '20'),
      ],
    });

    const list = await listBudgetLimits(store, deployment);

    expect(list.limits[0]).toEqual({
      principal: 'user/bob',
      limitUsd: '20',
      setBy: ADMIN,
      setAt: '2026-11-01T09:00:00.000Z',
    });
    expect(list.limits[1]).toMatchObject({
      principal: 'user/leak1',
      rate: { maxUsdPerHour: '5', onRate: 'suspend', onAnomaly: 'suspend' },
    });
    const table = formatLimits(list).split('\n');
    expect(table[0]).toMatch(/^principal\s+limit\s+rate rule\s+set by\s+set at$/);
    expect(table[2]).toMatch(/^user\/leak1\s+\$1000\.00\s+\$5\.00\/h suspend, anomaly suspend\s+arn:/);
  });

  it('budget set says the rate rule it stored', () => {
    const text = describeSet({
      principal: 'user/leak1',
      limitUsd: '1000',
      periodKind: 'monthly',
      rate: { maxUsdPerHour: '5', onRate: 'suspend' },
      setBy: ADMIN,
      auditSeq: '000000000001',
    });
    expect(text).toContain('above $5.00 in any rolling hour: suspended until the hour falls back\n');
  });
});

describe('a zero limit (a principal that may not spend)', () => {
  const reply = (principal: string) => ({
    principal,
    limitUsd: '0',
    previousUsd: '20',
    periodKind: 'monthly' as const,
    setBy: ADMIN,
    auditSeq: '000000000002',
  });

  it('budget set says what it means, for a principal, the default and the account', () => {
    expect(describeSet(reply('user/zed'))).toBe(
      'user/zed: limit $0.00 per month (was $20.00)\n' +
        'user/zed may not spend: suspended at its first charged call\n' +
        `set by ${ADMIN}; audit entry 000000000002 of user/zed (budget.limit-set)\n`,
    );
    expect(describeSet(reply('DEFAULT'))).toContain(
      'principals without a limit of their own may not spend: each is suspended at its first charged call\n',
    );
    expect(describeSet(reply('ACCOUNT'))).toContain('the account may not spend');
    expect(describeSet({ ...reply('user/amy'), limitUsd: '0.01' })).not.toContain('may not spend');
  });

  it('budget list shows it as blocked', () => {
    const table = formatLimits({
      periodKind: 'monthly',
      configured: { defaultUsd: '50', accountUsd: '1000' },
      limits: [{ principal: 'user/zed', limitUsd: '0' }],
    });
    expect(table).toMatch(/\nuser\/zed\s+\$0\.00 \(blocked: may not spend\)/);
  });
});

describe('budget set default: the principals on it judged again', () => {
  it('says how many principals that spent this period are judged again now, and how many a run before did', () => {
    const reply = {
      principal: 'DEFAULT',
      limitUsd: '4',
      previousUsd: '50',
      periodKind: 'monthly' as const,
      setBy: ADMIN,
      auditSeq: '000000000003',
    };
    expect(describeSet({ ...reply, reviewed: { period: '2026-11', queued: 1, alreadyQueued: 0 } })).toContain(
      '1 principal on the default that spent in 2026-11 judged again against it now\n',
    );
    expect(describeSet({ ...reply, reviewed: { period: '2026-11', queued: 40, alreadyQueued: 2 } })).toContain(
      '40 principals on the default that spent in 2026-11 judged again against it now (2 principals queued by an earlier run)\n',
    );
  });
});

describe('status', () => {
  const items = [
    counter('user/alice', '45.10', { alertLevel: n('90'), alerts: [n('80'), n('90')] }),
    // Re-armed by a new generation (a raised limit): level 0, shown as no alert in force.
    counter('role/app', '12.3456789', { alertLevel: n('0') }),
    counter('role/AWSReservedSSO_X/maria@example.com', '19', {
      alertLevel: n('95'),
      alerts: [n('80'), n('90'), n('95')],
      state: 'suspended',
      confirmedSpendUsd: n('17.5'),
    }),
    counter('ACCOUNT', '76.4556789', { confirmedSpendUsd: n('17.5') }),
    { principal: 'MODEL#acme.new-model', period: '2026-11', requests: n('1') },
    limitItem('role/AWSReservedSSO_X/maria@example.com', '20'),
    limitItem('DEFAULT', '100'),
    limitItem('user/carol', '5'),
  ];

  it('reports a week for the principals budgeted weekly, and a month for the others', async () => {
    const weekly = [
      counter('user/alice', '3', { period: '2026-W47' }),
      counter('user/wes', '8', { period: '2026-W47' }),
      counter('ACCOUNT', '11', { period: '2026-W47' }),
      { ...limitItem('user/wes', '10'), periodKind: 'weekly' },
    ];
    ddb.on(ScanCommand).resolves({ Items: weekly });

    const report = await budgetStatus(store, deployment, { period: '2026-W47' }, now);

    expect(report.period).toBe('2026-W47');
    expect(report.principals.map((row) => [row.principal, row.percent])).toEqual([['user/wes', '80.00']]);
    expect(() => reportPeriod('2026-11-20', ['monthly', 'weekly'], now)).toThrow(/monthly or weekly period key/);
  });

  it('reports TOTAL for the principals with a prepaid grant, each on its spend since the grant started', async () => {
    const prepaid = [
      counter('user/pat', '7', { period: 'TOTAL', 'daySpend:2026-10-31': n('3'), 'daySpend:2026-11-02': n('4') }),
      counter('user/alice', '2', { period: 'TOTAL', 'daySpend:2026-11-02': n('2') }),
      { ...limitItem('user/pat', '10'), periodKind: 'total', startsAt: '2026-11-01' },
    ];
    ddb.on(ScanCommand).resolves({ Items: prepaid });

    const report = await budgetStatus(store, { ...deployment, extraPeriodKinds: ['total'] }, { period: 'TOTAL' }, now);

    expect(report.principals.map((row) => [row.principal, row.spendUsd, row.percent])).toEqual([
      ['user/pat', '4', '40.00'],
    ]);
    expect(() => reportPeriod('TOTAL', ['monthly', 'weekly'], now)).toThrow(/monthly or weekly period key/);
  });

  it("shows the account's weekly spend without its monthly limit: no percent of a limit of another kind", async () => {
    const weekly = [
      counter('user/wes', '8', { period: '2026-W47' }),
      counter('ACCOUNT', '11', { period: '2026-W47' }),
      { ...limitItem('user/wes', '10'), periodKind: 'weekly' },
    ];
    ddb.on(ScanCommand).resolves({ Items: weekly });

    const report = await budgetStatus(store, deployment, { period: '2026-W47' }, now);

    expect(report.account).toMatchObject({ spendUsd: '11', limitUsd: null, percent: null, blocked: false });
    const lines = formatStatus(report, deployment).trimEnd().split('\n');
    expect(lines[0]).toBe('period 2026-W47 (weekly); alerts at 80, 90, 95%');
    expect(lines[2]).toMatch(/^user\/wes\s+\$8\.00\s+\$0\.00\s+\$10\.00\s+80\.00%/);
    expect(lines[3]).toMatch(/^ACCOUNT\s+\$11\.00\s+\$0\.00\s+-\s+-\s+-\s+-\s+active$/);
  });

  it('shows an account budgeted weekly against its weekly limit, and in a monthly report without one', async () => {
    const weeklyAccount = { ...limitItem('ACCOUNT', '100'), periodKind: 'weekly' };
    ddb.on(ScanCommand).resolves({ Items: [counter('ACCOUNT', '11', { period: '2026-W47' }), weeklyAccount] });
    const week = await budgetStatus(store, deployment, { period: '2026-W47' }, now);
    expect(week.account).toMatchObject({ limitUsd: '100', percent: '11.00' });

    ddb.on(ScanCommand).resolves({ Items: [counter('ACCOUNT', '40'), weeklyAccount] });
    const month = await budgetStatus(store, deployment, {}, now);
    expect(month.account).toMatchObject({ spendUsd: '40', limitUsd: null, percent: null });
  });

  it('refuses --principal in a report of another kind of period than its budget, naming the period to ask for', async () => {
    ddb
      .on(ScanCommand)
      .resolves({ Items: [limitItem('user/alice', '20'), counter('user/alice', '3', { period: '2026-W47' })] });

    const attempt = budgetStatus(store, deployment, { period: '2026-W47', principal: 'user/alice' }, now);

    await expect(attempt).rejects.toThrow(UnknownPrincipalError);
    await expect(attempt).rejects.toThrow(
      'user/alice is budgeted monthly, not weekly: see `budgeteer status --principal user/alice --period 2026-11`',
    );
  });

  it('shows a zero limit as blocked, never as a percent, and first: the principal may not spend', async () => {
    ddb.on(ScanCommand).resolves({
      Items: [
        counter('user/zed', '0.01', { state: 'suspended' }),
        counter('user/alice', '45'),
        limitItem('user/zed', '0'),
        limitItem('user/nil', '0'),
      ],
    });

    const report = await budgetStatus(store, deployment, {}, now);
    const nil = await budgetStatus(store, deployment, { principal: 'user/nil' }, now);

    expect(report.principals.map((row) => [row.principal, row.limitUsd, row.percent, row.blocked])).toEqual([
      ['user/zed', '0', null, true],
      ['user/alice', '50', '90.00', false],
    ]);
    expect(nil.principals).toEqual([expect.objectContaining({ spendUsd: '0', percent: null, blocked: true })]);
    const text = formatStatus(report, deployment);
    expect(text).toMatch(/\nuser\/zed\s+\$0\.01\s+\$0\.00\s+\$0\.00\s+blocked\s+-\s+-\s+suspended\n/);
    expect(text).not.toMatch(/9007199254740991/);
  });

  it('reads the period counters and limits in one consistent scan', async () => {
    ddb.on(ScanCommand).resolves({ Items: items });

    await budgetStatus(store, deployment, {}, now);

    expect(ddb).toHaveReceivedCommandWith(ScanCommand, {
      TableName: 'Budgets',
      FilterExpression: '#period IN (:period, :limit)',
      ExpressionAttributeNames: { '#period': 'period' },
      ExpressionAttributeValues: { ':period': '2026-11', ':limit': 'LIMIT' },
      ConsistentRead: true,
    });
    expect(ddb).not.toHaveReceivedCommand(GetCommand);
  });

  it('gives every principal its limit as limitOf would, its percent to two places, highest first', async () => {
    ddb.on(ScanCommand).resolves({ Items: items });

    const report = await budgetStatus(store, deployment, {}, now);

    expect(report.period).toBe('2026-11');
    expect(report.principals.map((row) => [row.principal, row.spendUsd, row.limitUsd, row.percent])).toEqual([
      ['role/AWSReservedSSO_X/maria@example.com', '19', '20', '95.00'],
      ['user/alice', '45.1', '100', '45.10'],
      ['role/app', '12.3456789', '100', '12.34'],
    ]);
    expect(report.principals[0]).toMatchObject({
      alertLevel: 95,
      alerts: [80, 90, 95],
      state: 'suspended',
      confirmedSpendUsd: '17.5',
    });
    expect(report.principals[2]).toMatchObject({ alertLevel: null, alerts: [], state: 'active', requests: 3 });
    expect(report.account).toEqual({
      principal: 'ACCOUNT',
      spendUsd: '76.4556789',
      confirmedSpendUsd: '17.5',
      limitUsd: '1000',
      percent: '7.64',
      blocked: false,
      alertLevel: null,
      alerts: [],
      state: 'active',
      requests: 3,
    });
  });

  it('prints a table with the account last', async () => {
    ddb.on(ScanCommand).resolves({ Items: items });

    const lines = formatStatus(await budgetStatus(store, deployment, {}, now), deployment)
      .trimEnd()
      .split('\n');

    expect(lines[0]).toBe('period 2026-11 (monthly); alerts at 80, 90, 95%');
    expect(lines[1]).toMatch(/^principal\s+spend\s+confirmed\s+limit\s+used\s+alert\s+alerts\s+state$/);
    expect(lines[2]).toMatch(
      /^role\/AWSReservedSSO_X\/maria@example.com\s+\$19\.00\s+\$17\.50\s+\$20\.00\s+95\.00%\s+95%\s+80,90,95\s+suspended$/,
    );
    expect(lines[4]).toMatch(/^role\/app\s+\$12\.3456789\s+\$0\.00\s+\$100\.00\s+12\.34%\s+-\s+-\s+active$/);
    expect(lines[5]).toMatch(/^ACCOUNT\s+\$76\.4556789\s+\$17\.50\s+\$1000\.00\s+7\.64%/);
  });

  it('shows one principal, or one with a limit but no spend yet, with the account', async () => {
    ddb.on(ScanCommand).resolves({ Items: items });

    const alice = await budgetStatus(store, deployment, { principal: 'user/alice' }, now);
    const carol = await budgetStatus(store, deployment, { principal: 'user/carol' }, now);

    expect(alice.principals.map((row) => row.principal)).toEqual(['user/alice']);
    expect(alice.account.spendUsd).toBe('76.4556789');
    expect(carol.principals).toEqual([expect.objectContaining({ spendUsd: '0', limitUsd: '5', percent: '0.00' })]);
  });

  it('refuses a principal with neither spend nor a limit', async () => {
    ddb.on(ScanCommand).resolves({ Items: items });

    const attempt = budgetStatus(store, deployment, { principal: 'user/mallory' }, now);

    await expect(attempt).rejects.toThrow(UnknownPrincipalError);
    await expect(attempt).rejects.toThrow('user/mallory has no spend in 2026-11 and no limit of its own');
  });

  it('reads a past period by its key, and refuses a key of another kind', () => {
    expect(reportPeriod(undefined, 'weekly', now)).toBe('2026-W47');
    expect(reportPeriod('2026-10', 'monthly', now)).toBe('2026-10');
    expect(() => reportPeriod('2026-W47', 'monthly', now)).toThrow(
      "--period 2026-W47 is not a monthly period key; this deployment's look like 2026-11",
    );
    expect(() => reportPeriod('2026-13', 'monthly', now)).toThrow(CommandError);
  });

  it('reports an account that has not spent in the period at zero', async () => {
    ddb.on(ScanCommand).resolves({ Items: [] });

    const report = await budgetStatus(store, deployment, { period: '2026-10' }, now);

    expect(report).toEqual({
      period: '2026-10',
      principals: [],
      account: expect.objectContaining({ spendUsd: '0', limitUsd: '1000', percent: '0.00', state: 'active' }),
    });
    expect(formatStatus(report, deployment)).toContain('no principal has spent in 2026-10\n');
  });
});

jest.mock('../../shared/sigv4-fetch', () => ({ signedFetch: jest.fn() }));
const fetchMock = signedFetch as unknown as jest.Mock;

describe('command line', () => {
  const outputs = {
    BudgetsTableName: 'Budgets',
    AuditTableName: 'Audit',
    PeriodKind: 'monthly',
    ExtraPeriodKinds: '["weekly"]',
    Thresholds: '[80,90,95]',
    DefaultBudgetUsd: '50',
    AccountBudgetUsd: '1000',
    AdminUrl: 'https://abc123.lambda-url.eu-west-1.on.aws/',
  };
  let written = '';
  let stdout: jest.SpyInstance;
  let stderr: jest.SpyInstance;

  beforeAll(() => {
    process.env.AWS_REGION ??= 'us-east-1';
  });

  beforeEach(() => {
    written = '';
    process.exitCode = undefined;
    fetchMock.mockReset();
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'Budgeteer',
          CreationTime: now,
          StackStatus: 'CREATE_COMPLETE',
          Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
        },
      ],
    });
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation((text) => {
      written += String(text);
      return true;
    });
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation((text) => {
      written += String(text);
      return true;
    });
  });

  afterEach(() => {
    stdout.mockRestore();
    stderr.mockRestore();
    process.exitCode = undefined;
  });

  const run = (...args: string[]) => {
    const root = new Command('budgeteer').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerBudgetCommands(root);
    registerStatusCommand(root);
    return root.parseAsync(['node', 'budgeteer', ...args]);
  };

  it('reads the deployment settings from the stack outputs', () => {
    expect(deploymentOf({ clientConfig: {}, outputs })).toEqual(deployment);
    expect(() => deploymentOf({ clientConfig: {}, outputs: { ...outputs, PeriodKind: 'yearly' } })).toThrow(
      /PeriodKind is yearly/,
    );
    // A stack from before extra period kinds: none.
    const { ExtraPeriodKinds: _, ...older } = outputs;
    expect(deploymentOf({ clientConfig: {}, outputs: older }).extraPeriodKinds).toEqual([]);
  });

  it('sets a limit through the admin function of the stack named by --stack, signed, naming nobody but the signer', async () => {
    fetchMock.mockResolvedValue({
      status: 200,
      text: JSON.stringify({
        message: 'user/alice: limit set',
        result: {
          principal: 'user/alice',
          limitUsd: '20',
          periodKind: 'monthly',
          setBy: ADMIN,
          auditSeq: '000000000003',
        },
      }),
    });

    await run('budget', 'set', 'user/alice', '20', '--period', 'monthly', '--stack', 'Prod');

    expect(cloudFormation).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'Prod' });
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, request] = fetchMock.mock.calls[0] as [string, { method: string; body: string; region: string }];
    expect(url).toBe(outputs.AdminUrl);
    expect(request).toMatchObject({ method: 'POST', region: 'eu-west-1' });
    expect(JSON.parse(request.body)).toEqual({
      action: 'budget set',
      principal: 'user/alice',
      limitUsd: '20',
      period: 'monthly',
    });
    expect(ddb.calls()).toHaveLength(0); // no direct write: the admin function is the only door
    expect(written).toContain('user/alice: limit $20.00 per month');
    expect(written).toContain(`set by ${ADMIN}; audit entry 000000000003`);
  });

  it('reports a refusal of the admin function as the error of the command (main exits 2)', async () => {
    fetchMock.mockResolvedValue({
      status: 403,
      text: JSON.stringify({ error: 'nobody may change their own limit: user/alice is the caller' }),
    });
    await expect(run('budget', 'set', 'user/alice', '20')).rejects.toThrow(
      /nobody may change their own limit: user\/alice is the caller/,
    );
  });

  it('no longer takes --actor: who acts is who signs', async () => {
    await expect(run('budget', 'set', 'user/alice', '20', '--actor', ADMIN)).rejects.toThrow(
      /unknown option '--actor'/,
    );
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('refuses --period of another kind with an error (main exits 2), sending nothing', async () => {
    await expect(run('budget', 'set', 'user/alice', '20', '--period', 'daily')).rejects.toThrow(CommandError);
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('refuses a default of another kind than the deployment budgets its principals on (main exits 2), sending nothing', async () => {
    await expect(run('budget', 'set', 'default', '20', '--period', 'weekly')).rejects.toThrow(
      /--period weekly: the default applies to principals budgeted monthly/,
    );
    await expect(run('budget', 'set', 'default', '20', '--period', 'weekly')).rejects.toThrow(CommandError);
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('refuses a bad amount before reaching AWS', async () => {
    await expect(run('budget', 'set', 'user/alice', '1e3')).rejects.toThrow(/not 1e3/);
    await expect(run('budget', 'set', 'user/alice', '10.1234567')).rejects.toThrow(/at most 6 decimal places/);
    await expect(run('budget', 'set', 'user/alice', '1'.repeat(41))).rejects.toThrow(
      /at most 12 digits before the point/,
    );
    expect(cloudFormation.calls()).toHaveLength(0);
  });

  it('refuses status --period yearly as a usage error (main exits 2), naming the keys it takes', async () => {
    const attempt = run('status', '--period', 'yearly');

    await expect(attempt).rejects.toThrow(CommandError);
    await expect(run('status', '--period', 'yearly')).rejects.toThrow(
      /--period yearly is not a monthly or weekly period key; this deployment's look like \d{4}-\d{2}/,
    );
    expect(ddb.calls()).toHaveLength(0);
    expect(USAGE_EXIT_CODE).toBe(2);
  });

  it('prints status as { period, principals, account } JSON', async () => {
    ddb.on(ScanCommand).resolves({ Items: [counter('user/alice', '10'), counter('ACCOUNT', '10')] });

    await run('status', '--json', '--period', '2026-11');

    const report = JSON.parse(written);
    expect(Object.keys(report)).toEqual(['period', 'principals', 'account']);
    expect(report.principals).toEqual([
      expect.objectContaining({ principal: 'user/alice', spendUsd: '10', percent: '20.00' }),
    ]);
  });

  it.each([
    ['a terminal', true],
    ['a pipe', false],
  ])('prints status to %s with bars only where a person reads it', async (_, tty) => {
    ddb.on(ScanCommand).resolves({ Items: [counter('user/alice', '45'), counter('ACCOUNT', '45')] });
    const was = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
    Object.defineProperty(process.stdout, 'isTTY', { value: tty, configurable: true });
    try {
      await run('status', '--period', '2026-11');
    } finally {
      if (was) Object.defineProperty(process.stdout, 'isTTY', was);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    }

    const alice = written.split('\n').find((line) => line.startsWith('user/alice'));
    expect(alice).toMatch(/90\.00%/); // $45 of the $50 default
    if (tty) expect(alice).toContain(`90.00%  ${'█'.repeat(18)}${'░'.repeat(2)}  -`);
    else expect(written).not.toMatch(/[█░▶×]/);
  });

  it('exits 1 with a clear message for an unknown --principal', async () => {
    ddb.on(ScanCommand).resolves({ Items: [counter('user/alice', '10')] });

    await run('status', '--principal', 'user/bob', '--period', '2026-11');

    expect(process.exitCode).toBe(1);
    expect(written).toBe(
      'budgeteer: user/bob has no spend in 2026-11 and no limit of its own: check the principal id (see `budgeteer status` for the principals that spent)\n',
    );
  });
});
