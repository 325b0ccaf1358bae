import { CreateUserCommand } from '@aws-sdk/client-iam';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { deploymentOf } from '../../cli/deployment';
import { setGroup } from '../../shared/admin/set-group';
import { setBudgetLimit } from '../../shared/admin/set-limit';
import { decimalOf } from '../../shared/budgets';
import { groupPrincipal } from '../../shared/groups/groups';
import { GroupStore } from '../../shared/groups/store';
import { usd } from '../../shared/money';
import { invocationLog } from '../fixtures';
import { ACCOUNT, admin, audit, iam, sfn, store } from './scenario';
import { deliverLogs, documents, eventually, item, local, output, settle, unique, userDeny } from './support';

const OPUS = 'anthropic.claude-opus-4-20250514-v1:0'; // $15 per million input tokens
const ADMIN = 'arn:aws:iam::123456789012:user/admin';
const deployment = deploymentOf({ clientConfig: local.clientConfig, outputs: local.outputs });

/** Spends `dollars` (at $15 per million Opus input tokens) as one invocation log record of a call at `at`. */
async function spend(arn: string, dollars: number, at: string) {
  await deliverLogs([
    invocationLog(`${unique()}-${unique()}`, arn, {
      timestamp: at,
      modelId: OPUS,
      input: { inputTokenCount: Math.round((dollars * 1_000_000) / 15) },
      output: { outputTokenCount: 0 },
    }),
  ]);
  await settle();
}

async function actionsOf(subject: string): Promise<string[]> {
  const actions = [];
  for await (const entry of audit.query({ subject })) actions.push(entry.action);
  return actions;
}

const grant = (principal: string, limit: string, startsAt?: string) =>
  setBudgetLimit(store, audit, deployment, {
    principal,
    limitUsd: usd(limit),
    actor: ADMIN,
    period: 'total',
    ...(startsAt ? { startsAt } : {}),
  });

/**
 * An IAM user of its own with a $1 grant starting on `startDay` of a far-off year of its own (the calls' months are
 * no other suite's).
 */
async function grantee(prefix: string, startDay: string) {
  const name = `${prefix}-${unique()}`;
  const principal = `user/${name}`;
  const year = 2100 + Math.floor(Math.random() * 5000);
  await iam.send(new CreateUserCommand({ UserName: name }));
  await grant(principal, '1', `${year}-${startDay}`);
  await settle();
  return { name, principal, arn: `arn:aws:iam::${ACCOUNT}:user/${name}`, year };
}

describe('prepaid (total) budgets on the local stack', () => {
  it('counts calls from the grant start across months, suspends once at the grant, and lifts on a raise', async () => {
    const { name, principal, arn, year } = await grantee('ppd', '03-01');

    // Before the grant's start: counted on the TOTAL counter's day, but not against the grant.
    await spend(arn, 0.9, `${year}-02-27T10:00:00Z`);
    await spend(arn, 0.6, `${year}-03-15T10:00:00Z`);
    expect(await userDeny(name)).toBeUndefined();
    expect(await actionsOf(principal)).not.toContain('threshold.alerted');

    // Another month's call takes the grant's spend to $1.05: suspended, on the one TOTAL counter.
    await spend(arn, 0.45, `${year}-04-10T10:00:00Z`);
    await eventually('the deny', async () => ((await userDeny(name)) ? true : undefined));
    const counter = await item('BudgetsTableName', { principal, period: 'TOTAL' });
    expect(counter).toMatchObject({ state: 'suspended' });
    expect(decimalOf(counter?.spendUsd).toFixed()).toBe('1.95');

    // More spend in yet another month: still one suspension, one workflow.
    await spend(arn, 0.3, `${year}-05-02T10:00:00Z`);
    const { executions = [] } = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: output('SuspendStateMachineArn') }),
    );
    expect(executions.filter((e) => e.name?.endsWith(name))).toHaveLength(1);
    const actions = await actionsOf(principal);
    expect(actions.filter((a) => a === 'suspension.requested')).toHaveLength(1);
    expect(actions.filter((a) => a === 'threshold.alerted')).toHaveLength(1); // 105% jumped past 80, 90 and 95

    // What status reads: the grant's spend since its start, not the counter's.
    const { counters } = await store.periodBudgets('TOTAL');
    expect(counters.find((c) => c.principal === principal)?.spendUsd.toFixed()).toBe('1.35');

    // No period end lifts it: a raise does, and keeps the grant's start.
    const raised = await grant(principal, '5');
    expect(raised.startsAt).toBe(`${year}-03-01`);
    await eventually('the lift', async () => ((await userDeny(name)) === undefined ? true : undefined));
  }, 60_000);

  it('a lift of a prepaid grant lasts until its limit is next set: a new limit below the spend suspends again', async () => {
    const { name, principal, arn, year } = await grantee('ppl', '01-01');
    await spend(arn, 1.2, `${year}-02-10T10:00:00Z`);
    await eventually('the deny', async () => ((await userDeny(name)) ? true : undefined));

    await admin.lift(principal, 'TOTAL', ADMIN, 'prepaid top-up on its way');
    await eventually('the lift', async () => ((await userDeny(name)) === undefined ? true : undefined));
    await spend(arn, 0.3, `${year}-03-10T10:00:00Z`);
    expect(await userDeny(name)).toBeUndefined();

    await grant(principal, '1.2');
    await settle();
    await eventually('the second deny', async () => ((await userDeny(name)) ? true : undefined));
    expect((await actionsOf(principal)).filter((a) => a === 'suspension.requested')).toHaveLength(2);
  }, 60_000);

  it("a prepaid group counts its members' calls from its start day and stops them all at its grant", async () => {
    const id = unique();
    const name = `prepaid-${id}`;
    const [ann, ben] = [`ppg-ann-${id}`, `ppg-ben-${id}`];
    for (const user of [ann, ben]) await iam.send(new CreateUserCommand({ UserName: user }));
    const year = 2100 + Math.floor(Math.random() * 5000);
    const groups = new GroupStore(documents, output('BudgetsTableName'));
    const set = (limitUsd: string, startsAt?: string) =>
      setGroup(groups, audit, deployment, {
        name,
        limitUsd,
        period: 'total',
        ...(startsAt ? { startsAt } : {}),
        members: [`user/ppg-*-${id}`],
        actor: ADMIN,
      });
    await set('1', `${year}-06-01`);
    // The ingest function reads groups once per groupCacheSeconds (1 s on the test stack).
    await new Promise((resolve) => setTimeout(resolve, 1100));

    await spend(`arn:aws:iam::${ACCOUNT}:user/${ann}`, 0.9, `${year}-05-20T10:00:00Z`); // before the start
    await spend(`arn:aws:iam::${ACCOUNT}:user/${ben}`, 0.6, `${year}-06-10T10:00:00Z`);
    expect(await userDeny(ben)).toBeUndefined();
    await spend(`arn:aws:iam::${ACCOUNT}:user/${ann}`, 0.45, `${year}-07-02T10:00:00Z`); // $1.05 of $1 since the start

    for (const user of [ann, ben]) {
      await eventually(`${user} denied by the group's stop`, async () => ((await userDeny(user)) ? true : undefined));
    }
    expect(await item('BudgetsTableName', { principal: groupPrincipal(name), period: 'TOTAL' })).toMatchObject({
      state: 'stopped',
    });
    const raised = await set('5');
    expect(raised.group.startsAt).toBe(`${year}-06-01`);
    for (const user of [ann, ben]) {
      await eventually(`${user} lifted`, async () => ((await userDeny(user)) === undefined ? true : undefined));
    }
  }, 60_000);
});
