import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NumberValue, PutCommand } from '@aws-sdk/lib-dynamodb';
import { listBudgetLimits } from '../../cli/budget-list';
import { deploymentOf } from '../../cli/deployment';
import { budgetStatus } from '../../cli/status';
import { setBudgetLimit } from '../../shared/admin/set-limit';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore, LimitChangedError } from '../../shared/budgets';
import { usd } from '../../shared/money';
import { documents, item, local, output, unique } from './support';

const deployment = deploymentOf({ clientConfig: local.clientConfig, outputs: local.outputs });
const limits = { configuredDefault: deployment.configuredDefault, configuredAccount: deployment.configuredAccount };
const store = new BudgetStore(documents, output('BudgetsTableName'), limits);
const log = new AuditLog(documents, output('AuditTableName'));
const ADMIN = 'arn:aws:iam::123456789012:user/admin';
// Tests share the local stack: principals are unique to this file, and counters live in a far period of its own,
// so the ACCOUNT counter of that period is this file's too.
const tag = unique();
const alice = `user/alice-${tag}`;
const maria = `role/AWSReservedSSO_Dev_${tag}/maria@example.com`;
const period = `${2100 + Math.floor(Math.random() * 5000)}-07`;

async function putCounter(principal: string, spendUsd: string, extra: Record<string, unknown> = {}) {
  await documents.send(
    new PutCommand({
      TableName: output('BudgetsTableName'),
      Item: { principal, period, spendUsd: NumberValue.from(spendUsd), requests: 2, ...extra },
    }),
  );
}

async function auditOf(subject: string) {
  const entries = [];
  for await (const entry of log.query({ subject })) entries.push(entry);
  return entries;
}

describe('budget administration on the local stack', () => {
  it('reads the deployment settings from the stack outputs', () => {
    expect(deployment).toMatchObject({ periodKind: 'monthly', thresholds: [80, 90, 95] });
  });

  it('sets a limit, audits it, and status reports spend against it', async () => {
    await putCounter(alice, '10.5', { alertLevel: 80, alerts: [80] });
    await putCounter(maria, '1.25');
    await putCounter('ACCOUNT', '11.75');

    await setBudgetLimit(store, log, deployment, { principal: alice, limitUsd: usd('12.50'), actor: ADMIN });
    const report = await budgetStatus(store, deployment, { period });

    expect(report.principals.find((row) => row.principal === alice)).toEqual({
      principal: alice,
      spendUsd: '10.5',
      confirmedSpendUsd: '0',
      limitUsd: '12.5',
      percent: '84.00',
      blocked: false,
      alertLevel: 80,
      alerts: [80],
      state: 'active',
      requests: 2,
    });
    expect(report.principals.find((row) => row.principal === maria)).toMatchObject({
      spendUsd: '1.25',
      state: 'active',
    });
    expect(report.account).toMatchObject({ principal: 'ACCOUNT', spendUsd: '11.75' });
    const limit = await item('BudgetsTableName', { principal: alice, period: 'LIMIT' });
    expect(limit).toMatchObject({ limitUsd: NumberValue.from('12.5'), setBy: ADMIN, setAt: expect.any(String) });
    expect(await auditOf(alice)).toEqual([
      expect.objectContaining({
        action: 'budget.limit-set',
        actor: ADMIN,
        seq: '000000000001',
        details: { limitUsd: '12.5', previousUsd: null, periodKind: 'monthly' },
      }),
    ]);
  });

  it('records the previous limit when a limit changes, and lists it', async () => {
    const bob = `user/bob-${tag}`;
    await setBudgetLimit(store, log, deployment, { principal: bob, limitUsd: usd('20'), actor: ADMIN });

    await setBudgetLimit(store, log, deployment, { principal: bob, limitUsd: usd('7.125'), actor: ADMIN });

    expect((await auditOf(bob)).map((entry) => entry.details)).toEqual([
      { limitUsd: '20', previousUsd: null, periodKind: 'monthly' },
      { limitUsd: '7.125', previousUsd: '20', periodKind: 'monthly' },
    ]);
    await expect(log.verify(bob)).resolves.toMatchObject({ ok: true, entries: 2 });
    const list = await listBudgetLimits(store, deployment);
    expect(list.limits.filter((limit) => limit.principal === bob)).toEqual([
      { principal: bob, limitUsd: '7.125', setBy: ADMIN, setAt: expect.any(String) },
    ]);
  });

  it('does not replace a limit someone else changed since it was read', async () => {
    const carol = `user/carol-${tag}`;
    await store.setLimit(carol, usd('30'), ADMIN);

    const stale = store.setLimit(carol, usd('5'), ADMIN, new Date(), usd('29.99'));
    const unsetExpected = store.setLimit(carol, usd('5'), ADMIN, new Date(), null);

    await expect(stale).rejects.toThrow(LimitChangedError);
    await expect(unsetExpected).rejects.toThrow(LimitChangedError);
    await expect(store.setLimit(carol, usd('5'), ADMIN, new Date(), usd('30.00'))).resolves.toBeUndefined();
    await expect(store.limitOf(carol)).resolves.toEqual(usd('5'));
  });

  it('answers for a principal with a limit and no spend, and refuses an unknown one', async () => {
    const dave = `user/dave-${tag}`;
    await store.setLimit(dave, usd('3'), ADMIN);

    const report = await budgetStatus(store, deployment, { period, principal: dave });

    expect(report.principals).toEqual([expect.objectContaining({ principal: dave, spendUsd: '0', limitUsd: '3' })]);
    await expect(budgetStatus(store, deployment, { period, principal: `user/nobody-${tag}` })).rejects.toThrow(
      /has no spend in .* and no limit of its own/,
    );
  });
});

describe('default and account limits', () => {
  // DEFAULT and ACCOUNT are one item each per stack: set them in a Budgets table of this file's own, so tests
  // running beside it keep the configured limits.
  const raw = new DynamoDBClient(local.clientConfig);
  const table = `Budgets-${tag}`;
  const own = new BudgetStore(documents, table, limits);
  const ownDeployment = { ...deployment, budgetsTable: table };

  beforeAll(async () => {
    const { Table } = await raw.send(new DescribeTableCommand({ TableName: output('BudgetsTableName') }));
    await raw.send(
      new CreateTableCommand({
        TableName: table,
        KeySchema: Table?.KeySchema,
        AttributeDefinitions: Table?.AttributeDefinitions,
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  });

  afterAll(async () => {
    await raw.send(new DeleteTableCommand({ TableName: table }));
    raw.destroy();
  });

  it('stores `default` under DEFAULT and `account` under ACCOUNT, audited, and status applies them', async () => {
    const erin = `user/erin-${tag}`;
    await documents.send(
      new PutCommand({ TableName: table, Item: { principal: erin, period, spendUsd: NumberValue.from('8') } }),
    );
    await documents.send(
      new PutCommand({ TableName: table, Item: { principal: 'ACCOUNT', period, spendUsd: NumberValue.from('8') } }),
    );
    const before = (await auditOf('DEFAULT')).length;

    await setBudgetLimit(own, log, ownDeployment, { principal: 'DEFAULT', limitUsd: usd('40'), actor: ADMIN });
    await setBudgetLimit(own, log, ownDeployment, { principal: 'ACCOUNT', limitUsd: usd('2000'), actor: ADMIN });
    const report = await budgetStatus(own, ownDeployment, { period });

    expect(report.principals).toEqual([expect.objectContaining({ principal: erin, limitUsd: '40', percent: '20.00' })]);
    expect(report.account).toMatchObject({ spendUsd: '8', limitUsd: '2000', percent: '0.40' });
    const list = await listBudgetLimits(own, ownDeployment);
    expect(list.limits.map((limit) => [limit.principal, limit.limitUsd])).toEqual([
      ['ACCOUNT', '2000'],
      ['DEFAULT', '40'],
    ]);
    const defaults = await auditOf('DEFAULT');
    expect(defaults).toHaveLength(before + 1);
    expect(defaults.at(-1)).toMatchObject({ action: 'budget.limit-set', details: { limitUsd: '40' } });
  });
});
