import { createPrincipals } from '../local/iam';
import type { LocalOrganization } from '../local/organization';
import type { LocalStack } from '../local/stack';
import { accountOfId, splitPrincipalId } from '../shared/identity';
import { toDecimalString, usd } from '../shared/money';
import type { PeriodSummary } from './local';
import { accountRows } from './status';

/**
 * What `npm start -- --organization` adds to the local run: the records of each account reach the central stack
 * the way that account's member stack sends them (CloudTrail events forwarded to the central bus, invocation logs
 * through the Logs destination's Kinesis stream), the scenario's principals exist in their own accounts, and the
 * summary reports each account and the organization.
 */

/** A record's account as AWS writes it: an EventBridge event's `account`, an invocation log's `accountId`. */
export function accountOfRecord(body: unknown): string | undefined {
  const record = body as { account?: unknown; accountId?: unknown } | undefined;
  const account = record?.account ?? record?.accountId;
  return typeof account === 'string' ? account : undefined;
}

/** Where each record goes: the central stack's own account's by its own routes, a member's by its member stack's. */
export interface OrganizationRoutes {
  readonly putEvents: (events: readonly unknown[]) => Promise<(string | undefined)[]>;
  readonly deliverLogs: (records: readonly unknown[], ids: readonly string[]) => Promise<unknown>;
  /** Why a record cannot be sent at all (its account is not one of the run's), if it cannot. */
  readonly refuse?: (body: unknown) => string | undefined;
}

export function organizationRoutes(stack: LocalStack, organization: LocalOrganization): OrganizationRoutes {
  const home = stack.local.accountId;
  const isHome = (body: unknown) => (accountOfRecord(body) ?? home) === home;
  const accounts = [organization.managementAccountId, home, ...organization.memberAccountIds];
  return {
    refuse: (body) => {
      const account = accountOfRecord(body) ?? home;
      return accounts.includes(account)
        ? undefined
        : `account ${account} is not in the local organization (${accounts.join(', ')}): no member stack sends its records`;
    },
    putEvents: async (events) => {
      const ids: (string | undefined)[] = [];
      const own = events.filter(isHome);
      const ownIds = await stack.putEvents(own);
      let next = 0;
      for (const event of events) {
        ids.push(isHome(event) ? ownIds[next++] : await organization.forwardEvent(accountOfRecord(event) ?? '', event));
      }
      return ids;
    },
    deliverLogs: async (records, ids) => {
      const byAccount = new Map<string, { records: unknown[]; ids: string[] }>();
      records.forEach((record, index) => {
        const account = accountOfRecord(record) ?? home;
        const batch = byAccount.get(account) ?? { records: [], ids: [] };
        batch.records.push(record);
        batch.ids.push(ids[index] as string);
        byAccount.set(account, batch);
      });
      for (const [account, batch] of byAccount) {
        if (account === home) await stack.deliverLogs(batch.records, batch.ids);
        else await organization.deliverInvocationLogs(account, batch.records, batch.ids);
      }
    },
  };
}

/** Creates the scenario's users and roles, each in the account its id names. */
export async function createOrganizationPrincipals(
  stack: LocalStack,
  organization: LocalOrganization,
  principals: readonly string[],
): Promise<number> {
  const byAccount = new Map<string | undefined, string[]>();
  const known = new Set([organization.managementAccountId, ...organization.memberAccountIds]);
  for (const principal of principals) {
    const { account, local } = splitPrincipalId(principal);
    // An account outside the organization has no IAM here: its lines are refused as they are delivered.
    if (account !== undefined && !known.has(account)) continue;
    byAccount.set(account, [...(byAccount.get(account) ?? []), local]);
  }
  let created = 0;
  for (const [account, ids] of byAccount) {
    created +=
      account === undefined
        ? await createPrincipals(stack.local, ids)
        : await organization.createPrincipals(account, ids);
  }
  return created;
}

/** One account in the summary: its principals' spend, and its budget and state where it has a budget. */
export interface AccountSummary {
  readonly account: string;
  readonly spendUsd: string;
  readonly limitUsd: string | null;
  readonly state: string;
}

/** The organization in the summary: the deployment's total, its budget and state, and the SCPs attached now. */
export interface OrganizationSummary {
  readonly spendUsd: string;
  readonly limitUsd: string;
  readonly state: string;
  /** Ids of the budget system's SCPs attached anywhere in the organization when the replay ended. */
  readonly scps: readonly string[];
}

/** The accounts an SCP attached to these targets stops: every account under them but the management account. */
function coveredBy(
  organization: LocalOrganization,
  targets: readonly { targetId: string; type: string }[],
): Set<string> {
  const covered = new Set<string>();
  for (const { targetId, type } of targets) {
    if (type === 'ACCOUNT') covered.add(targetId);
    if (type === 'ROOT')
      for (const a of [...organization.memberAccountIds, organization.budgetAccountId]) covered.add(a);
    if (type === 'ORGANIZATIONAL_UNIT' && targetId === organization.workloadsOuId) {
      for (const account of organization.memberAccountIds) covered.add(account);
    }
  }
  // SCPs never apply to the management account, wherever they are attached.
  covered.delete(organization.managementAccountId);
  return covered;
}

/**
 * The latest period as an organization sees it: each principal with its account, stopped (`scp`) where the
 * organization's SCP covers its account; each account's spend, budget and state; the organization's.
 */
export async function summarizeOrganization(
  organization: LocalOrganization,
  home: string,
  period: PeriodSummary,
): Promise<{ period: PeriodSummary; accounts: AccountSummary[]; organization: OrganizationSummary }> {
  const attached = (await organization.scpAttachments()).filter((scp) => scp.targets.length > 0);
  const covered = coveredBy(
    organization,
    attached.flatMap((scp) => scp.targets),
  );
  const principals = period.principals.map((p) => {
    const account = accountOfId(p.principal, home);
    const byScp = covered.has(account) && p.state === 'active';
    return { ...p, account, ...(byScp ? { state: 'suspended', reason: 'scp' } : {}) };
  });
  const counters = period.principals.map((p) => ({ principal: p.principal, spendUsd: usd(p.spendUsd) }));
  const groups = (period.groups ?? []).map((g) => ({ ...g, percent: g.percent === 'blocked' ? null : g.percent }));
  const stopped = period.account.state === 'stopped';
  const accounts = accountRows(counters, groups, home, stopped).map(({ account, spendUsd, limitUsd, state }) => ({
    account,
    spendUsd,
    limitUsd,
    state,
  }));
  return {
    period: { ...period, principals },
    accounts,
    organization: {
      spendUsd: toDecimalString(usd(period.account.spendUsd)),
      limitUsd: period.account.limitUsd,
      state: period.account.state,
      scps: attached.map((scp) => scp.policyId),
    },
  };
}
