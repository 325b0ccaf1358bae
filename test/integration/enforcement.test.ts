import {
  CreateRoleCommand,
  CreateUserCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListUserPoliciesCommand,
} from '@aws-sdk/client-iam';
import { ListExecutionsCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { deploymentOf } from '../../cli/deployment';
import { setBudgetLimit } from '../../shared/admin/set-limit';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { PendingWaits } from '../../shared/decisions/pending';
import { usd } from '../../shared/money';
import { invocationLog } from '../fixtures';
import { admin } from './scenario';
import {
  deliverLogs,
  documents,
  eventually,
  item,
  local,
  output,
  settle,
  unique,
  userDeny as userPolicy,
} from './support';

const OPUS = 'anthropic.claude-opus-4-20250514-v1:0'; // $15 per million input tokens
const ADMIN = 'arn:aws:iam::123456789012:user/admin';
const ACCOUNT = '111122223333';
const iam = new IAMClient(local.clientConfig);
const sfn = new SFNClient(local.clientConfig);
const store = new BudgetStore(documents, output('BudgetsTableName'), {
  configuredDefault: usd('50'),
  configuredAccount: usd('1000'),
});
const audit = new AuditLog(documents, output('AuditTableName'));
const waits = new PendingWaits(documents, sfn, output('PendingTableName'));
const deployment = deploymentOf({ clientConfig: local.clientConfig, outputs: local.outputs });

/** A far-off month of its own, so tests sharing the stack never share a period. */
const isolatedMonth = () => `${2100 + Math.floor(Math.random() * 5000)}-05`;
/** A limit change re-evaluates the principal's current period: tests of that use this month. */
const thisMonth = () => new Date().toISOString().slice(0, 7);

/** Spends `usd` (at $15 per million Opus input tokens) as one invocation log record. */
async function spend(arn: string, dollars: number, month: string) {
  await deliverLogs([
    invocationLog(`${unique()}-${unique()}`, arn, {
      timestamp: month === thisMonth() ? new Date().toISOString() : `${month}-10T10:00:00Z`,
      modelId: OPUS,
      input: { inputTokenCount: Math.round((dollars * 1_000_000) / 15) },
      output: { outputTokenCount: 0 },
    }),
  ]);
  await settle();
}

async function rolePolicy(name: string): Promise<{ Statement: { Condition?: unknown }[] } | undefined> {
  try {
    const { PolicyDocument } = await iam.send(
      new GetRolePolicyCommand({ RoleName: name, PolicyName: 'BudgeteerDeny' }),
    );
    return JSON.parse(decodeURIComponent(PolicyDocument ?? ''));
  } catch (error) {
    if ((error as Error).name === 'NoSuchEntityException' || (error as Error).name === 'NoSuchEntity') return undefined;
    throw error;
  }
}

/** The subject's audit entries, of one period when given: ACCOUNT is shared by every suite on the stack. */
async function actionsFor(
  subject: string,
  period?: string,
): Promise<{ action: string; details: Record<string, unknown> }[]> {
  const entries = [];
  for await (const entry of audit.query({ subject }))
    if (period === undefined || entry.period === period) entries.push(entry);
  return entries.map((e) => ({ action: e.action, details: e.details as Record<string, unknown> }));
}

const counterOf = (principal: string, period: string) => item('BudgetsTableName', { principal, period });

async function setLimit(principal: string, limit: string) {
  await setBudgetLimit(store, audit, deployment, { principal, limitUsd: usd(limit), actor: ADMIN });
  await settle();
}

describe('enforcement on the local stack (real ASL, real handlers, IAM in moto)', () => {
  it('lift (the admin command) removes the deny through the workflow, audited as the admin, and no suspension follows this period', async () => {
    const name = `enl-${unique()}`;
    const principal = `user/${name}`;
    const arn = `arn:aws:iam::${ACCOUNT}:user/${name}`;
    const period = thisMonth();
    await iam.send(new CreateUserCommand({ UserName: name }));
    await setLimit(principal, '1');
    await spend(arn, 2, period);
    await eventually('the deny', async () => ((await userPolicy(name)) ? true : undefined));

    await admin.lift(principal, period, ADMIN, 'conference demo');
    await eventually('the lift', async () => ((await userPolicy(name)) === undefined ? true : undefined));
    await spend(arn, 2, period);
    await settle();
    expect(await userPolicy(name)).toBeUndefined();

    const actions = await actionsFor(principal);
    expect(actions.filter((a) => a.action === 'suspension.requested')).toHaveLength(1);
    const lifted = (
      await (async () => {
        const entries = [];
        for await (const entry of audit.query({ subject: principal, action: 'deny.lifted' })) entries.push(entry);
        return entries;
      })()
    )[0];
    expect(lifted).toMatchObject({ actor: ADMIN, details: expect.objectContaining({ reason: 'admin' }) });
    expect(actions.map((a) => a.action)).toContain('override.approved');
  }, 60_000);

  it('suspends with BudgeteerDeny at 100%, keeps one deny on more spend, lifts and re-arms when the limit is raised, and suspends again at the new limit', async () => {
    const name = `ena-${unique()}`;
    const principal = `user/${name}`;
    const arn = `arn:aws:iam::${ACCOUNT}:user/${name}`;
    const period = thisMonth();
    await iam.send(new CreateUserCommand({ UserName: name }));
    await setLimit(principal, '50');

    await spend(arn, 60, period);
    await eventually('the deny', async () => ((await userPolicy(name)) ? true : undefined));
    expect(await userPolicy(name)).toContain('bedrock:CallWithBearerToken');
    expect((await counterOf(principal, period))?.state).toBe('suspended');

    // More spend while suspended: still exactly one policy, one suspension.
    await spend(arn, 5, period);
    const { PolicyNames } = await iam.send(new ListUserPoliciesCommand({ UserName: name }));
    expect(PolicyNames).toEqual(['BudgeteerDeny']);

    // An admin raises the limit above the spend: the workflow lifts the deny and a new generation starts.
    await setLimit(principal, '100');
    await eventually('the lift', async () => ((await userPolicy(name)) === undefined ? true : undefined));
    await eventually('the principal active', async () =>
      (await counterOf(principal, period))?.state === 'active' ? true : undefined,
    );

    // Spend on: 80, 90 and 95% of $100 alert again, and $100 suspends again under a second execution.
    for (const dollars of [16, 10, 5, 5]) await spend(arn, dollars, period);
    await eventually('the second deny', async () => ((await userPolicy(name)) ? true : undefined));
    const counter = await counterOf(principal, period);
    expect(String((counter?.generation as { value: string } | undefined)?.value)).toBe('1');

    const actions = await actionsFor(principal);
    const thresholds = actions.filter((a) => a.action === 'threshold.alerted').map((a) => a.details.threshold);
    expect(thresholds).toEqual([95, 80, 90, 95]); // 60 of 50 jumped past all three, then re-armed at 60 of 100
    expect(actions.filter((a) => a.action === 'suspension.requested')).toHaveLength(2);
    expect(actions.filter((a) => a.action === 'deny.applied')).toHaveLength(2);
    expect(actions.filter((a) => a.action === 'deny.lifted').map((a) => a.details.reason)).toEqual(['limit-raised']);
    const { executions = [] } = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: output('SuspendStateMachineArn') }),
    );
    expect(executions.filter((e) => e.name?.endsWith(name))).toHaveLength(2);
    expect((await audit.verify(principal)).ok).toBe(true);
  }, 90_000);

  it('lifts the deny at the period end (a suspension of a period already over waits no longer)', async () => {
    const name = `enb-${unique()}`;
    const principal = `user/${name}`;
    await iam.send(new CreateUserCommand({ UserName: name }));
    const decisionId = `suspend|${principal}|2001-01|g0`;
    const executionName = `suspend-test-${unique()}-${name}`;
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: output('SuspendStateMachineArn'),
        name: executionName,
        input: JSON.stringify({
          principal,
          principalArn: `arn:aws:iam::${ACCOUNT}:user/${name}`,
          period: '2001-01',
          generation: 0,
          decisionId,
          holder: `suspend:${executionName}`,
          reason: 'budget',
          graceSeconds: 0,
          spendUsd: '10',
          limitUsd: '5',
        }),
      }),
    );
    await eventually('the period-end lift', async () => {
      const actions = await actionsFor(principal);
      return actions.some((a) => a.action === 'deny.lifted') ? actions : undefined;
    });
    const actions = await actionsFor(principal);
    // The wait was opened (and audited) before it timed out at once: the period was already over.
    expect(actions.map((a) => a.action)).toEqual(['deny.applied', 'override.requested', 'deny.lifted']);
    expect(actions[2]?.details.reason).toBe('period-end');
    expect(await userPolicy(name)).toBeUndefined();
  }, 60_000);

  it('never denies the account root: the attempt is audited as suspension.skipped', async () => {
    const period = isolatedMonth();
    await setLimit('root', '1');
    await spend(`arn:aws:iam::${ACCOUNT}:root`, 2, period);
    await eventually('the skipped suspension', async () =>
      (await actionsFor('root')).some((a) => a.action === 'suspension.skipped') ? true : undefined,
    );
    expect((await actionsFor('root')).map((a) => a.action)).not.toContain('deny.applied');
    expect((await counterOf('root', period))?.state).toBeUndefined();
  }, 60_000);

  it('denies two sessions of one SSO role each by its own statement, and lifting one leaves the other', async () => {
    const role = `AWSReservedSSO_Team${unique()}_0123456789abcdef`;
    const period = thisMonth();
    await iam.send(
      new CreateRoleCommand({
        RoleName: role,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'sso.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
      }),
    );
    const sessions = ['ana@example.com', 'bo@example.com'];
    for (const session of sessions) await setLimit(`role/${role}/${session}`, '1');
    for (const session of sessions) {
      await spend(`arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${session}`, 2, period);
    }
    const both = await eventually('both statements', async () => {
      const policy = await rolePolicy(role);
      return policy?.Statement.length === 2 ? policy : undefined;
    });
    const conditions = JSON.stringify(both.Statement.map((s) => s.Condition));
    for (const session of sessions) expect(conditions).toContain(`:${session}`);

    // Raise the first session's limit: its statement goes, the other session stays denied.
    await setLimit(`role/${role}/${sessions[0]}`, '10');
    const one = await eventually('one statement left', async () => {
      const policy = await rolePolicy(role);
      return policy?.Statement.length === 1 ? policy : undefined;
    });
    expect(JSON.stringify(one.Statement[0]?.Condition)).toContain(`:${sessions[1]}`);

    await setLimit(`role/${role}/${sessions[1]}`, '10');
    await eventually('no policy left', async () => ((await rolePolicy(role)) === undefined ? true : undefined));
  }, 90_000);

  it('emergency stop: denies every principal that spent and a newcomer, and resume restores exactly the prior state', async () => {
    const period = isolatedMonth();
    const [early, own, late] = [`esa-${unique()}`, `esb-${unique()}`, `esc-${unique()}`];
    for (const name of [early, own, late]) await iam.send(new CreateUserCommand({ UserName: name }));
    const arnOf = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
    // `own` is suspended on its own budget before the stop; the stop must not lift that.
    await setLimit(`user/${own}`, '1');
    await spend(arnOf(own), 2, period);
    await eventually('own suspension', async () => ((await userPolicy(own)) ? true : undefined));
    await spend(arnOf(early), 1, period);

    // The stop as the evaluator (or an admin) starts it: the account-wide limit is shared by every test, so this
    // test starts the workflow with the input the evaluator's decision carries (the evaluator's side is unit-tested).
    const stopName = `emergency-stop-test-${unique()}`;
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: output('EmergencyStopStateMachineArn'),
        name: stopName,
        input: JSON.stringify({
          principal: 'ACCOUNT',
          principalArn: null,
          period,
          generation: 0,
          decisionId: `stop|ACCOUNT|${period}|g0`,
          holder: `stop:${stopName}`,
          reason: 'account budget exhausted',
          graceSeconds: 0,
        }),
      }),
    );
    await eventually('the account stopped', async () =>
      (await counterOf('ACCOUNT', period))?.state === 'stopped' ? true : undefined,
    );
    await eventually('the early principal denied', async () => ((await userPolicy(early)) ? true : undefined));

    // A principal first seen during the stop is denied when its spend is seen.
    await spend(arnOf(late), 0.5, period);
    await eventually('the newcomer denied', async () => ((await userPolicy(late)) ? true : undefined));

    // Resume: the decision ends the stop's wait.
    const account = await eventually('the stop waiting', async () => {
      const current = await counterOf('ACCOUNT', period);
      return (current?.suspension as { waitId?: string } | undefined)?.waitId ? current : undefined;
    });
    await waits.decide((account.suspension as { waitId: string }).waitId, {
      decision: 'resume',
      reason: 'admin',
      actor: ADMIN,
    });
    await eventually('the stop lifted', async () =>
      (await counterOf('ACCOUNT', period))?.state === 'active' ? true : undefined,
    );
    await settle();
    expect(await userPolicy(early)).toBeUndefined();
    expect(await userPolicy(late)).toBeUndefined();
    expect(await userPolicy(own)).toContain('bedrock:InvokeModel'); // still suspended on its own budget
    const accountActions = (await actionsFor('ACCOUNT', period)).map((a) => a.action);
    expect(accountActions).toEqual(['override.requested', 'emergency-stop.resumed']);
    for (const name of [early, late]) {
      const actions = (await actionsFor(`user/${name}`)).map((a) => a.action);
      expect(actions).toEqual(['deny.applied', 'deny.lifted']);
    }
    expect((await audit.verify()).ok).toBe(true);
  }, 120_000);
});
