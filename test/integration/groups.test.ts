import { CreateUserCommand } from '@aws-sdk/client-iam';
import Big from 'big.js';
import { deploymentOf } from '../../cli/deployment';
import { budgetStatus } from '../../cli/status';
import { deleteGroup, setGroup } from '../../shared/admin/set-group';
import { groupPrincipal } from '../../shared/groups/groups';
import { GroupStore } from '../../shared/groups/store';
import { invocationLog } from '../fixtures';
import { ACCOUNT, audit, iam, store } from './scenario';
import {
  declareInferenceProfile,
  deliverLogs,
  documents,
  eventually,
  item,
  local,
  output,
  settle,
  unique,
  userDeny,
} from './support';

/*
 * Group budgets on the local stack: the real ingest adds a group's counter in the same transaction as its members'
 * (members by id, by pattern and by IAM tag), the real evaluator alerts and, at 100%, starts one stop of the group
 * (the emergency-stop workflow scoped to the group), and raising the group's limit resumes it, lifting every member.
 */

const OPUS = 'anthropic.claude-opus-4-20250514-v1:0'; // $15 per million input tokens
const HAIKU_4_5 = 'anthropic.claude-haiku-4-5-20251001-v1:0'; // $1.10 per million input tokens in us-east-1
const ADMIN = 'arn:aws:iam::123456789012:user/admin';
const groups = new GroupStore(documents, output('BudgetsTableName'));
const deployment = { periodKind: 'monthly' as const, extraPeriodKinds: ['weekly' as const] };
/** A limit change re-judges a group's current period: this suite spends in it. */
const thisMonth = () => new Date().toISOString().slice(0, 7);

/** Spends `dollars` (Opus input at $15 per million: a multiple of $0.000015) as `user`, now, in one log record. */
async function spend(user: string, dollars: string) {
  const tokens = new Big(dollars).times(1_000_000).div(15);
  if (!tokens.eq(tokens.round())) throw new Error(`$${dollars} is no whole number of Opus input tokens`);
  await deliverLogs([
    invocationLog(`grp-${unique()}-${unique()}`, `arn:aws:iam::${ACCOUNT}:user/${user}`, {
      timestamp: new Date().toISOString(),
      modelId: OPUS,
      input: { inputTokenCount: tokens.toNumber() },
      output: { outputTokenCount: 0 },
    }),
  ]);
  await settle();
}

const spendOf = async (principal: string, period: string) => {
  const counter = await item('BudgetsTableName', { principal, period });
  return new Big((counter?.spendUsd as { value?: string } | undefined)?.value ?? '0').toFixed();
};

async function actionsOf(subject: string) {
  const entries = [];
  for await (const entry of audit.query({ subject })) entries.push(entry);
  return entries;
}

describe('group budgets', () => {
  it("counts a team's spend once in its own counter, stops its members at 100% (and a newcomer at its first call), and lifts them all when raised", async () => {
    const id = unique();
    const name = `team-${id}`;
    // One member by id, one by name pattern, one by IAM tag.
    const [alice, bob, carol, outsider] = [`grp-alice-${id}`, `grp-ds-bob-${id}`, `grp-carol-${id}`, `grp-eve-${id}`];
    await iam.send(new CreateUserCommand({ UserName: alice }));
    await iam.send(new CreateUserCommand({ UserName: bob }));
    await iam.send(new CreateUserCommand({ UserName: carol, Tags: [{ Key: 'team', Value: name }] }));
    await iam.send(new CreateUserCommand({ UserName: outsider }));
    await setGroup(groups, audit, deployment, {
      name,
      limitUsd: '10',
      members: [`user/${alice}`, `user/grp-ds-*-${id}`],
      tag: `team=${name}`,
      owners: ['data-science-leads@example.com'],
      actor: ADMIN,
    });
    // The ingest function reads groups once per groupCacheSeconds (1 s on the test stack).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const period = thisMonth();

    await spend(alice, '3');
    await spend(bob, '3');
    await spend(outsider, '4.5');
    expect(await spendOf(groupPrincipal(name), period)).toBe('6');
    expect(await spendOf(`user/${outsider}`, period)).toBe('4.5');
    await spend(carol, '2.4'); // 84%: alerted
    expect(await spendOf(groupPrincipal(name), period)).toBe('8.4');
    expect(await userDeny(alice)).toBeUndefined();

    await spend(carol, '2.1'); // $10.50 of $10: the group is exhausted
    for (const user of [alice, bob, carol]) {
      await eventually(`${user} denied by the group's stop`, async () => ((await userDeny(user)) ? true : undefined));
    }
    expect(await userDeny(outsider)).toBeUndefined();
    const stopped = await item('BudgetsTableName', { principal: groupPrincipal(name), period });
    expect(stopped?.state).toBe('stopped');
    expect((stopped?.suspension as { reason?: string } | undefined)?.reason).toBe(`group:${name}`);
    // Each member's own counter is far from its own limit (the default): the group denied them.
    expect(await spendOf(`user/${carol}`, period)).toBe('4.5');

    const groupActions = await actionsOf(groupPrincipal(name));
    // 80% alerted, then 95% (90% jumped past) as the spend went to 105%, then the stop and its resume links.
    expect(groupActions.map((e) => e.action)).toEqual([
      'group.set',
      'threshold.alerted',
      'threshold.alerted',
      'group.stopped',
      'override.requested',
    ]);
    expect(groupActions[1]?.details).toMatchObject({ threshold: 80, skipped: [] });
    expect(groupActions[2]?.details).toMatchObject({ threshold: 95, skipped: [90] });
    expect(groupActions[3]?.details).toMatchObject({ spendUsd: '10.5', limitUsd: '10', reason: `group:${name}` });
    const denied = (await actionsOf(`user/${bob}`)).filter((e) => e.action === 'deny.applied');
    expect(denied).toHaveLength(1);
    expect(denied[0]?.details).toMatchObject({ reason: `group:${name}` });

    // `status` shows the group stopped, and its members suspended for it (each far under its own limit).
    const status = await budgetStatus(
      store,
      deploymentOf({ clientConfig: local.clientConfig, outputs: local.outputs }),
    );
    expect(status.groups?.find((g) => g.group === name)).toEqual({
      group: name,
      spendUsd: '10.5',
      limitUsd: '10',
      percent: '105.00',
      state: 'stopped',
      members: [`user/${alice}`, `user/${carol}`, `user/${bob}`].sort(),
    });
    expect(status.principals.find((p) => p.principal === `user/${carol}`)).toMatchObject({
      state: 'suspended',
      reason: `group:${name}`,
      limitUsd: '50',
    });
    expect(status.principals.find((p) => p.principal === `user/${outsider}`)).toMatchObject({ state: 'active' });

    // A member the stop's start could not know (new to the group) is denied by the stop at its first spend.
    const dave = `grp-ds-dave-${id}`;
    await iam.send(new CreateUserCommand({ UserName: dave }));
    await spend(dave, '0.3');
    await eventually('the newcomer denied by the stop', async () => ((await userDeny(dave)) ? true : undefined));

    // An admin raises the group above its spend: the stop ends, and every member's deny is lifted.
    // Deleting a stopped group is refused: its members would stay denied with no group left to raise.
    await expect(deleteGroup(groups, audit, deployment, { name, actor: ADMIN })).rejects.toThrow(/is stopped/);
    // The limit alone: members, tag and owners are kept.
    await setGroup(groups, audit, deployment, { name, limitUsd: '50', actor: ADMIN });
    expect(await groups.get(name)).toMatchObject({
      members: [`user/${alice}`, `user/grp-ds-*-${id}`],
      tag: { key: 'team', value: name },
      owners: ['data-science-leads@example.com'],
    });
    for (const user of [alice, bob, carol, dave]) {
      await eventually(`${user} lifted`, async () => ((await userDeny(user)) === undefined ? true : undefined), 40_000);
    }
    await eventually('the group active again', async () =>
      (await item('BudgetsTableName', { principal: groupPrincipal(name), period }))?.state === 'active'
        ? true
        : undefined,
    );
    // The stop's last step audits the resume once every deny it applied is lifted.
    const resumed = await eventually('group.resumed audited', async () =>
      (await actionsOf(groupPrincipal(name))).find((e) => e.action === 'group.resumed'),
    );
    expect(resumed.details).toMatchObject({ reason: 'limit-raised', lifted: 4 });
    expect((await actionsOf(`user/${carol}`)).filter((e) => e.action === 'deny.lifted')).toHaveLength(1);
    expect((await audit.verify(groupPrincipal(name))).ok).toBe(true);

    await deleteGroup(groups, audit, deployment, { name, actor: ADMIN });
    expect(await groups.get(name)).toBeUndefined();
  }, 120_000);

  it("budgets an application inference profile: its callers' calls through it add up, and at 100% they are denied that profile only", async () => {
    const id = unique();
    const name = `app-${id}`;
    const profileId = `p${id}xyz`.slice(0, 12);
    // The profile is the deployment's account's, as an application profile its callers use is.
    const stackAccount = local.admin.arn.split(':')[4];
    const profile = `arn:aws:bedrock:us-east-1:${stackAccount}:application-inference-profile/${profileId}`;
    await declareInferenceProfile({
      arn: profile,
      name: `support-${id}`,
      models: [`arn:aws:bedrock:us-east-1::foundation-model/${HAIKU_4_5}`],
    });
    const [ann, ben] = [`grp-ann-${id}`, `grp-ben-${id}`];
    for (const user of [ann, ben]) await iam.send(new CreateUserCommand({ UserName: user }));
    await setGroup(groups, audit, deployment, {
      name,
      limitUsd: '0.15',
      members: [`profile/${profileId}`],
      actor: ADMIN,
    });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const period = thisMonth();
    // 100000 input tokens of Haiku 4.5 in us-east-1 through the profile: $0.11 a call.
    const viaProfile = (user: string) =>
      invocationLog(`grp-${unique()}-${unique()}`, `arn:aws:iam::${ACCOUNT}:user/${user}`, {
        timestamp: new Date().toISOString(),
        modelId: profile,
        input: { inputTokenCount: 100_000 },
        output: { outputTokenCount: 0 },
      });

    await deliverLogs([viaProfile(ann)]);
    await settle();
    await spend(ann, '3'); // Opus by model id, not through the profile: not the group's.
    expect(await spendOf(groupPrincipal(name), period)).toBe('0.11');
    await deliverLogs([viaProfile(ben)]);
    await settle();

    for (const user of [ann, ben]) {
      await eventually(`${user} denied the profile`, async () => ((await userDeny(user)) ? true : undefined));
      const statements = JSON.parse((await userDeny(user)) ?? '{}').Statement as {
        Resource: unknown;
        Action: string[];
      }[];
      // Only the profile, over every Region of the account: no statement denies everything.
      expect(statements.map((st) => st.Resource)).toEqual([
        [`arn:aws:bedrock:*:${stackAccount}:application-inference-profile/${profileId}`],
      ]);
      expect(statements[0]?.Action).toContain('bedrock:InvokeModel');
    }
    const applied = (await actionsOf(`user/${ann}`)).find((e) => e.action === 'deny.applied');
    expect(applied?.details).toMatchObject({ reason: `group:${name}`, resources: expect.stringContaining(profileId) });

    await setGroup(groups, audit, deployment, { name, limitUsd: '1', actor: ADMIN });
    for (const user of [ann, ben]) {
      await eventually(`${user} lifted`, async () => ((await userDeny(user)) === undefined ? true : undefined), 40_000);
    }
    await deleteGroup(groups, audit, deployment, { name, actor: ADMIN });
  }, 120_000);

  it("counts the calls through an application profile in a group by the profile's own tag (AWS's way to attribute Bedrock cost)", async () => {
    const id = unique();
    const name = `tagged-${id}`;
    const profileId = `t${id}xyz`.slice(0, 12);
    const stackAccount = local.admin.arn.split(':')[4];
    const profile = `arn:aws:bedrock:us-east-1:${stackAccount}:application-inference-profile/${profileId}`;
    await declareInferenceProfile({
      arn: profile,
      name: `tagged-${id}`,
      models: [`arn:aws:bedrock:us-east-1::foundation-model/${HAIKU_4_5}`],
      tags: { 'cost-center': name },
    });
    // The group names no member: the profile is in it by its tag; the caller, untagged, is not.
    await setGroup(groups, audit, deployment, { name, limitUsd: '10', tag: `cost-center=${name}`, actor: ADMIN });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const caller = `grp-tg-${id}`;
    await deliverLogs([
      invocationLog(`grp-${unique()}-${unique()}`, `arn:aws:iam::${ACCOUNT}:user/${caller}`, {
        timestamp: new Date().toISOString(),
        modelId: profile,
        input: { inputTokenCount: 100_000 },
        output: { outputTokenCount: 0 },
      }),
    ]);
    await settle();
    await spend(caller, '3'); // by model id, not through the profile: not the group's.

    expect(await spendOf(groupPrincipal(name), thisMonth())).toBe('0.11');
    await deleteGroup(groups, audit, deployment, { name, actor: ADMIN });
  });
});
