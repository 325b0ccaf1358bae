import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetUserPolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { callAdmin } from '../../cli/admin-client';
import { deploymentOf } from '../../cli/deployment';
import { budgetStatus } from '../../cli/status';
import { LOCAL_ACCOUNT_ID } from '../../local/aws';
import { MANAGEMENT_ACCOUNT_ID, ORGANIZATION_STOP_ROLE_ARN } from '../../local/organization';
import { LocalStack } from '../../local/stack';
import { type Call, cloudTrailEvent, invocationLog, user } from '../../scenarios/default';
import type { AdminRequest } from '../../shared/admin/requests';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { usd } from '../../shared/money';
import { periodKey } from '../../shared/period';
import { eventually } from './support';

/**
 * One deployment for an AWS Organization (#17), on a local stack of its own: the central stack in the budget account
 * (the local account), a management account and two member accounts in moto, each member account's records
 * reaching it the way its member stack sends them (CloudTrail events forwarded to the central bus, invocation logs
 * through the Logs destination's Kinesis stream), and denies written in each account through its own role.
 */
jest.setTimeout(180_000);

const [A, B] = ['222222222222', '333333333333'];
const SONNET = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
/** Sonnet 4, 100,000 in and 2,000 out: 100000 x 3 + 2000 x 15 per million = $0.33. */
const CALL_USD = '0.33';

let stack: LocalStack;
let documents: DynamoDBDocumentClient;
let store: BudgetStore;
let audit: AuditLog;
const clients: IAMClient[] = [];
let requestNumber = 0;

beforeAll(async () => {
  stack = await LocalStack.start({
    organization: true,
    // Only the budgets a test sets decide: the organization's is raised out of the way until a test needs it.
    context: {
      organizationManagementRoleArn: ORGANIZATION_STOP_ROLE_ARN,
      managementAccountId: MANAGEMENT_ACCOUNT_ID,
      accountBudgetUsd: '1000000',
      defaultBudgetUsd: '1000000',
      // Ingest reads the groups every second: an account's budget set by a test counts at once.
      groupCacheSeconds: 1,
    },
  });
  documents = DynamoDBDocumentClient.from(new DynamoDBClient(stack.local.clientConfig), {
    unmarshallOptions: { wrapNumbers: true },
  });
  store = new BudgetStore(documents, stack.output('BudgetsTableName'), {
    configuredDefault: usd('1000000'),
    configuredAccount: usd('1000000'),
  });
  audit = new AuditLog(documents, stack.output('AuditTableName'));
  const org = organization();
  await org.createPrincipals(A, ['user/alice', 'user/bob', 'user/carol']);
  await org.createPrincipals(B, ['user/alice', 'user/dave', 'user/erin']);
  await org.createPrincipals(MANAGEMENT_ACCOUNT_ID, ['user/finance']);
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await stack?.stop();
});

const organization = () => {
  if (!stack.organization) throw new Error('the local stack was started without its organization');
  return stack.organization;
};
const period = () => periodKey('monthly', new Date());
const target = () => ({
  clientConfig: stack.local.clientConfig,
  outputs: stack.deployment.outputs,
  admin: stack.admin,
});
const asAdmin = (request: AdminRequest) => callAdmin(target(), request, stack.admin);

/** `n` calls by `name` of `account`, each delivered as its member stack would: its CloudTrail event and its log. */
async function spend(account: string, name: string, n: number, options: { logTwice?: boolean } = {}) {
  const org = organization();
  for (let i = 0; i < n; i++) {
    const call: Call = {
      actor: user(name, account),
      operation: 'InvokeModel',
      modelId: SONNET,
      input: 100_000,
      output: 2_000,
    };
    const requestId = `org-${account}-${name}-${++requestNumber}`;
    const at = new Date().toISOString();
    const log = invocationLog(call, requestId, at);
    // Forwarded by the member's rule to the central bus, and taken by its rule into ingest's queue.
    expect(await org.forwardEvent(account, cloudTrailEvent(call, requestId, at))).toBeDefined();
    await org.deliverInvocationLogs(account, options.logTwice ? [log, log] : [log]);
  }
  await stack.settle();
}

const spendOf = async (principal: string) => (await store.spendOf(principal, period())).toFixed();

/** The BudgeteerDeny policy of an IAM user in `account`, if there is one. */
async function denyOf(account: string, name: string): Promise<string | undefined> {
  const iam = organization().iam(account);
  clients.push(iam);
  return iam
    .send(new GetUserPolicyCommand({ UserName: name, PolicyName: 'BudgeteerDeny' }))
    .then((reply) => decodeURIComponent(reply.PolicyDocument ?? ''))
    .catch(() => undefined);
}

const actionsOf = async (subject: string) => {
  const actions: string[] = [];
  for await (const entry of audit.query({ subject })) actions.push(entry.action);
  return actions;
};

/**
 * The audited actions of `subject` once `last` is among them: a workflow audits its last step a moment after the
 * change it made in IAM or Organizations is visible.
 */
const actionsOnceAudited = (subject: string, last: string) =>
  eventually(`${last} audited on ${subject}`, async () => {
    const actions = await actionsOf(subject);
    return actions.includes(last) ? actions : undefined;
  });

describe('an organization, metered and enforced by one deployment', () => {
  it("meters two member accounts' calls once each, into each account's own principal", async () => {
    await spend(A, 'alice', 2, { logTwice: true });
    await spend(B, 'alice', 1);

    expect(await spendOf(`${A}:user/alice`)).toBe('0.66');
    expect(await spendOf(`${B}:user/alice`)).toBe(CALL_USD);
    // Nobody of the budget account spent: no unqualified alice.
    expect(await spendOf('user/alice')).toBe('0');
    const status = await budgetStatus(store, deploymentOf(target()), { account: A });
    expect(status.principals.map((p) => p.principal)).toEqual([`${A}:user/alice`]);
  });

  it("suspends a member account's principal through that account's enforcement role, and lifts it", async () => {
    await asAdmin({ action: 'budget set', principal: `${A}:user/bob`, limitUsd: '0.5' });
    await spend(A, 'bob', 2);

    const deny = await eventually('bob denied in account A', () => denyOf(A, 'bob'));
    expect(JSON.parse(deny).Statement[0]).toMatchObject({ Effect: 'Deny' });
    // The deny is in bob's own account, not in the budget account's IAM.
    expect(await denyOf(LOCAL_ACCOUNT_ID, 'bob')).toBeUndefined();

    await asAdmin({ action: 'lift', principal: `${A}:user/bob`, reason: 'approved by finance' });
    await eventually('bob lifted in account A', async () => ((await denyOf(A, 'bob')) ? undefined : true));
    expect(await actionsOnceAudited(`${A}:user/bob`, 'deny.lifted')).toEqual(
      expect.arrayContaining(['deny.applied', 'deny.lifted']),
    );
  });

  it('stops an account at its budget (each principal denied in it), and a raise resumes it, each audited', async () => {
    await asAdmin({
      action: 'group set',
      name: `account-${B}`,
      limitUsd: '0.9',
      members: [`account:${B}`],
      owners: [],
    });
    await spend(B, 'dave', 2);
    await spend(B, 'erin', 1);

    await eventually('dave and erin denied in account B', async () =>
      (await denyOf(B, 'dave')) && (await denyOf(B, 'erin')) ? true : undefined,
    );
    // The same user name in account A is no principal of B.
    expect(await denyOf(A, 'alice')).toBeUndefined();

    await asAdmin({
      action: 'group set',
      name: `account-${B}`,
      limitUsd: '100',
      members: [`account:${B}`],
      owners: [],
    });
    await eventually('account B resumed', async () =>
      (await denyOf(B, 'dave')) || (await denyOf(B, 'erin')) ? undefined : true,
    );
    expect(await actionsOnceAudited(`GROUP#account-${B}`, 'group.resumed')).toEqual(
      expect.arrayContaining(['group.stopped', 'group.resumed']),
    );
    const trail: string[] = [];
    for await (const entry of audit.query({ account: B, action: 'deny.applied' })) trail.push(entry.subject);
    expect(trail.sort()).toEqual([`${B}:user/dave`, `${B}:user/erin`]);
  });

  it('stops the organization by SCP on the member OU, the management account by deny policy only, and resumes both', async () => {
    const org = organization();
    await spend(MANAGEMENT_ACCOUNT_ID, 'finance', 1);
    await spend(A, 'carol', 1);

    await asAdmin({ action: 'emergency-stop', reason: 'organization test' });

    const attached = await eventually('the SCP attached', async () => {
      const ours = (await org.scpAttachments()).filter((scp) => scp.name === 'BudgeteerOrganizationStop');
      return ours.some((scp) => scp.targets.length > 0) ? ours : undefined;
    });
    expect(attached.flatMap((scp) => scp.targets.map((t) => t.targetId))).toEqual([org.workloadsOuId]);
    // SCPs never reach the management account: its principal is denied by policy, and no SCP names it.
    await eventually('finance denied in the management account', () => denyOf(MANAGEMENT_ACCOUNT_ID, 'finance'));
    expect(attached.flatMap((scp) => scp.targets.map((t) => t.targetId))).not.toContain(MANAGEMENT_ACCOUNT_ID);
    // A member account's principal is stopped by the SCP, with no deny of its own.
    expect(await denyOf(A, 'carol')).toBeUndefined();

    await asAdmin({ action: 'resume', reason: 'budget raised' });

    await eventually('the SCP detached', async () =>
      (await org.scpAttachments()).every((scp) => scp.targets.length === 0) ? true : undefined,
    );
    await eventually('finance lifted', async () =>
      (await denyOf(MANAGEMENT_ACCOUNT_ID, 'finance')) ? undefined : true,
    );
    expect(await actionsOnceAudited('ACCOUNT', 'emergency-stop.resumed')).toEqual(
      expect.arrayContaining(['emergency-stop.started', 'scp.attached', 'scp.detached', 'emergency-stop.resumed']),
    );
  });
});

describe('npm start -- --organization', () => {
  it('replays the organization scenario: member account A stopped at its budget, then the organization by SCP', () => {
    const run = spawnSync(join(__dirname, '..', '..', 'bin', 'budgeteer.cjs'), ['local', '--organization', '--json'], {
      encoding: 'utf8',
      timeout: 170_000,
    });

    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout);
    // Sonnet 4 at $0.33 a call: A 7 calls, B 10, the management account 2.
    expect(summary.accounts).toEqual([
      { account: '111111111111', spendUsd: '0.66', limitUsd: null, state: 'stopped' },
      { account: '222222222222', spendUsd: '2.31', limitUsd: '2', state: 'stopped' },
      { account: '333333333333', spendUsd: '3.3', limitUsd: null, state: 'stopped' },
    ]);
    expect(summary.organization).toEqual({
      spendUsd: '6.27',
      limitUsd: '6',
      state: 'stopped',
      scps: [expect.stringMatching(/^p-/)],
    });
    const states = Object.fromEntries(
      summary.principals.map((p: { principal: string; account: string; state: string; reason?: string }) => [
        p.principal,
        [p.account, p.state, p.reason],
      ]),
    );
    expect(states).toEqual({
      // The management account: no SCP applies there, its principal is denied by policy.
      '111111111111:user/finance-analyst': ['111111111111', 'suspended', 'emergency-stop'],
      // Member A: stopped by its own budget first, principal by principal in its account.
      '222222222222:role/summarizer-app': ['222222222222', 'suspended', 'group:account-222222222222'],
      '222222222222:user/alice': ['222222222222', 'suspended', 'group:account-222222222222'],
      // Member B: stopped by the organization's SCP, no deny of its own.
      '333333333333:role/chatbot': ['333333333333', 'suspended', 'scp'],
      '333333333333:user/alice': ['333333333333', 'suspended', 'scp'],
    });
    expect(summary.rejected).toEqual([]);
  });
});

describe('npm start -- --organization --scenario', () => {
  it('refuses a line of an account outside the organization with its reason, and counts the lines beside it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'budgeteer-org-'));
    const at = new Date(Date.now() - 60_000).toISOString();
    const call = (account: string): Call => ({
      actor: user('alice', account),
      operation: 'InvokeModel',
      modelId: SONNET,
      input: 100_000,
      output: 2_000,
    });
    const lines = [invocationLog(call(A), 'r-in', at), invocationLog(call('444444444444'), 'r-out', at)];
    writeFileSync(join(dir, 'events.jsonl'), `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);

    const run = spawnSync(
      join(__dirname, '..', '..', 'bin', 'budgeteer.cjs'),
      ['local', '--organization', '--scenario', join(dir, 'events.jsonl'), '--json'],
      { encoding: 'utf8', timeout: 170_000 },
    );

    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.principals.map((p: { principal: string; spendUsd: string }) => [p.principal, p.spendUsd])).toEqual([
      [`${A}:user/alice`, CALL_USD],
    ]);
    expect(summary.rejected).toEqual([
      { line: 2, error: expect.stringMatching(/^account 444444444444 is not in the local organization/) },
    ]);
  });
});
