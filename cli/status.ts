import type { Command } from 'commander';
import {
  ACTIVE_STATE,
  type BudgetStore,
  type CounterRecord,
  DEFAULT_PRINCIPAL,
  type LimitRecord,
  usedPercent,
} from '../shared/budgets';
import { groupNameOf, isGroupPrincipal } from '../shared/groups/groups';
import { ACCOUNT_PRINCIPAL, accountOfId, splitPrincipalId } from '../shared/identity';
import { toDecimalString, type Usd, usd, ZERO } from '../shared/money';
import { type PeriodKind, periodKey, periodKindOfKey } from '../shared/period';
import { CommandError, parseAccountId, parsePrincipal } from './args';
import { budgetStoreFor, type Deployment, deploymentOf } from './deployment';
import { alignedTable, dollars, limitText, usedBar, usedText } from './format';
import { type TargetOptions, targetOptions, withDocuments } from './target';

/** `status --principal` named a principal that has neither spend in the period nor a limit: exit 1. */
export class UnknownPrincipalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownPrincipalError';
  }
}

/** One line of `status`; money as exact decimal strings. */
export interface StatusRow {
  readonly principal: string;
  readonly spendUsd: string;
  /** Of the spend, what CloudTrail confirmed (a sighting of the same call); the rest is only logged. */
  readonly confirmedSpendUsd: string;
  /** The limit of the period's kind; null where there is none (the account budgeted monthly, in a weekly report). */
  readonly limitUsd: string | null;
  /**
   * Percent of the limit spent, two places, rounded down; null without a limit of the period's kind, or under a zero
   * limit (a principal that may not spend: `blocked`).
   */
  readonly percent: string | null;
  /** A zero limit: the principal may not spend (suspended at its first charged call). */
  readonly blocked: boolean;
  /** The highest threshold alerted this period, or null. */
  readonly alertLevel: number | null;
  readonly alerts: readonly number[];
  readonly state: string;
  /** Why it is suspended, where a group's stop denies it: `group:<name>`. */
  readonly reason?: string;
  readonly requests: number;
}

/** A group budgeted in the period: its members' summed spend against its limit, and who was counted in it. */
export interface GroupRow {
  readonly group: string;
  readonly spendUsd: string;
  readonly limitUsd: string;
  /** Two places, rounded down; null under a zero limit. */
  readonly percent: string | null;
  /** `active`, or `stopped` while its exhaustion denies its members. */
  readonly state: string;
  readonly members: readonly string[];
}

/** An account of an organization in the period: its principals' summed spend, against its budget if it has one. */
export interface AccountRow {
  readonly account: string;
  readonly spendUsd: string;
  /** Its budget (the group `account-<id>`), or null. */
  readonly limitUsd: string | null;
  readonly percent: string | null;
  /** `active`, or `stopped` while its budget's stop denies its principals. */
  readonly state: string;
  /** How many of its principals spent in the period. */
  readonly principals: number;
}

export interface StatusReport {
  readonly period: string;
  /** Sorted by percent, highest first. */
  readonly principals: readonly StatusRow[];
  readonly account: StatusRow;
  /** Groups budgeted in the period's kind, by name (absent when there is none). */
  readonly groups?: readonly GroupRow[];
  /** By account, in an organization deployment (absent in a single account unless asked for). */
  readonly accounts?: readonly AccountRow[];
}

const PERIOD_KEY: Record<PeriodKind, RegExp> = {
  monthly: /^\d{4}-(0[1-9]|1[0-2])$/,
  weekly: /^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$/,
  daily: /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/,
  total: /^TOTAL$/,
};

/**
 * The period to report: --period if it is a key of a kind the deployment keeps counters for (its own first), else
 * the current period of its own kind.
 */
export function reportPeriod(
  requested: string | undefined,
  kinds: PeriodKind | readonly PeriodKind[],
  now: Date,
): string {
  const [own, ...extra] = typeof kinds === 'string' ? [kinds] : kinds;
  const kind = own as PeriodKind;
  if (requested === undefined) return periodKey(kind, now);
  if (![kind, ...extra].some((k) => PERIOD_KEY[k].test(requested))) {
    throw new CommandError(
      `--period ${requested} is not a ${[kind, ...extra].join(' or ')} period key; this deployment's look like ${periodKey(kind, now)}`,
    );
  }
  return requested;
}

/** Spend, limit, percent, alert level and state of every principal that spent in the period, and the account's. */
export async function budgetStatus(
  store: BudgetStore,
  deployment: Deployment,
  options: { period?: string; principal?: string; account?: string; organization?: boolean } = {},
  now: Date = new Date(),
): Promise<StatusReport> {
  const period = reportPeriod(options.period, [deployment.periodKind, ...deployment.extraPeriodKinds], now);
  const { counters: all, groups: groupCounters, limits } = await store.periodBudgets(period);
  // A weekly (daily) report shows the principals budgeted weekly (daily); every kind's counters exist for everyone.
  const kind = periodKindOfKey(period);
  const budgetedIn = (principal: string) => kindOfLimit(limits.get(principal), deployment);
  const counters = all.filter((c) => c.principal === ACCOUNT_PRINCIPAL || budgetedIn(c.principal) === kind);
  const byPrincipal = new Map(counters.map((counter) => [counter.principal, counter]));
  const groups = groupRows(all, groupCounters, limits, kind, deployment);
  const stopped = new Set(groups.filter((g) => g.state === 'stopped').map((g) => g.group));
  const accountStopped = byPrincipal.get(ACCOUNT_PRINCIPAL)?.state === 'stopped';
  const row = async (principal: string): Promise<StatusRow & { rank: Usd }> => {
    const counter = byPrincipal.get(principal);
    const spend = counter?.spendUsd ?? ZERO;
    // Each row against a limit of the period's own kind: the account's monthly limit says nothing of a week.
    const limit = budgetedIn(principal) === kind ? await store.limitIn(principal, limits) : undefined;
    const used = limit === undefined ? undefined : usedPercent(spend, limit);
    const blocked = limit?.eq(0) ?? false;
    return {
      principal,
      spendUsd: toDecimalString(spend),
      confirmedSpendUsd: toDecimalString(counter?.confirmedSpendUsd ?? ZERO),
      limitUsd: limit === undefined ? null : toDecimalString(limit),
      percent: used === undefined ? null : used.toFixed(2),
      blocked,
      // A new generation re-arms the level to 0 (below every threshold): no alert in force, as if none was sent.
      alertLevel: counter?.alertLevel ? counter.alertLevel : null,
      alerts: counter?.alerts ?? [],
      ...stateOf(counter, stopped, accountStopped),
      requests: counter?.requests ?? 0,
      // Blocked principals first: they may not spend at all.
      rank: blocked ? BLOCKED_RANK : (used ?? ZERO),
    };
  };
  let principals = counters.map((c) => c.principal).filter((p) => p !== ACCOUNT_PRINCIPAL);
  if (options.principal === DEFAULT_PRINCIPAL) {
    throw new UnknownPrincipalError('default is a limit, not a principal that spends: see `budgeteer budget list`');
  }
  if (options.principal !== undefined && options.principal !== ACCOUNT_PRINCIPAL) {
    if (!byPrincipal.has(options.principal) && !limits.has(options.principal)) {
      throw new UnknownPrincipalError(
        `${options.principal} has no spend in ${period} and no limit of its own: check the principal id ` +
          '(see `budgeteer status` for the principals that spent)',
      );
    }
    const own = budgetedIn(options.principal);
    if (own !== kind) {
      throw new UnknownPrincipalError(
        `${options.principal} is budgeted ${own}, not ${kind}: see \`budgeteer status --principal ` +
          `${options.principal} --period ${periodKey(own, now)}\``,
      );
    }
    principals = [options.principal];
  } else if (options.principal === ACCOUNT_PRINCIPAL) {
    principals = [];
  }
  const home = deployment.accountId ?? HOME;
  const onlyAccount = options.account;
  if (onlyAccount !== undefined) principals = principals.filter((p) => accountOfId(p, home) === onlyAccount);
  const rows = await Promise.all(principals.map(row));
  rows.sort((a, b) => b.rank.cmp(a.rank) || (a.principal < b.principal ? -1 : 1));
  const { rank: _account, ...account } = await row(ACCOUNT_PRINCIPAL);
  const spenders = all.filter((c) => c.principal !== ACCOUNT_PRINCIPAL);
  const byAccount = accountRows(spenders, groups, home, accountStopped).filter(
    (a) => onlyAccount === undefined || a.account === onlyAccount,
  );
  const organization = options.organization || onlyAccount !== undefined || spenders.some(isQualified);
  return {
    period,
    principals: rows.map(({ rank: _rank, ...rest }) => rest),
    account,
    ...(groups.length > 0 && options.principal === undefined && onlyAccount === undefined ? { groups } : {}),
    ...(organization && options.principal === undefined ? { accounts: byAccount } : {}),
  };
}

/** Where the deployment's own account id is not known (a stack without the AccountId output). */
const HOME = 'this account';
const isQualified = (counter: CounterRecord) => splitPrincipalId(counter.principal).account !== undefined;

/**
 * Each account's principals' spend in the period, with the budget and state of its group where it has one (`status`
 * and the local run's summary).
 */
export function accountRows(
  counters: readonly Pick<CounterRecord, 'principal' | 'spendUsd'>[],
  groups: readonly Pick<GroupRow, 'group' | 'spendUsd' | 'limitUsd' | 'percent' | 'state'>[],
  home: string,
  /** Whether the organization's stop is on: it reaches every account (by its SCP, or by deny policies). */
  organizationStopped = false,
): AccountRow[] {
  const spend = new Map<string, { spend: Usd; principals: number }>();
  for (const counter of counters) {
    const account = accountOfId(counter.principal, home);
    const sum = spend.get(account) ?? { spend: ZERO, principals: 0 };
    spend.set(account, { spend: sum.spend.plus(counter.spendUsd), principals: sum.principals + 1 });
  }
  const budgets = new Map(
    groups.flatMap((g) => {
      const account = /^account-(\d{12})$/.exec(g.group)?.[1];
      return account ? [[account, g] as const] : [];
    }),
  );
  return [...new Set([...spend.keys(), ...budgets.keys()])].sort().map((account) => {
    const group = budgets.get(account);
    // The group's own counter where the account is budgeted: what its budget is judged on, every call since the
    // budget was set (a group counts from its setting), a principal's counter of another period kind included.
    const total = group ? usd(group.spendUsd) : (spend.get(account)?.spend ?? ZERO);
    return {
      account,
      spendUsd: toDecimalString(total),
      limitUsd: group?.limitUsd ?? null,
      percent: group?.percent ?? null,
      state: organizationStopped ? 'stopped' : (group?.state ?? ACTIVE_STATE),
      principals: spend.get(account)?.principals ?? 0,
    };
  });
}

/** A principal's state: its own, or suspended while the stop of a group it is counted in denies it. */
function stateOf(counter: CounterRecord | undefined, stoppedGroups: ReadonlySet<string>, accountStopped: boolean) {
  const own = counter?.state ?? ACTIVE_STATE;
  if (own !== ACTIVE_STATE || counter === undefined || counter.principal === ACCOUNT_PRINCIPAL) return { state: own };
  const byGroup = counter.groupStops.find((group) => stoppedGroups.has(group));
  if (byGroup) return { state: 'suspended', reason: `group:${byGroup}` };
  if (!accountStopped) return { state: own };
  // The emergency stop denied it; in an organization a member account's principal it did not deny is under the SCP.
  const bySCP = !counter.stopDenied && splitPrincipalId(counter.principal).account !== undefined;
  return { state: 'suspended', reason: bySCP ? 'scp' : 'emergency-stop' };
}

/** The groups whose limit is of the period's kind, with their counters (a group that has not spent is at $0). */
function groupRows(
  counters: readonly CounterRecord[],
  groupCounters: readonly CounterRecord[],
  limits: ReadonlyMap<string, LimitRecord>,
  kind: PeriodKind | undefined,
  deployment: Deployment,
): GroupRow[] {
  const spent = new Map(groupCounters.map((counter) => [counter.principal, counter]));
  return [...limits.values()]
    .filter((limit) => isGroupPrincipal(limit.principal) && kindOfLimit(limit, deployment) === kind)
    .map((limit) => {
      const name = groupNameOf(limit.principal);
      const counter = spent.get(limit.principal);
      const spend = counter?.spendUsd ?? ZERO;
      return {
        group: name,
        spendUsd: toDecimalString(spend),
        limitUsd: toDecimalString(limit.limitUsd),
        percent: usedPercent(spend, limit.limitUsd)?.toFixed(2) ?? null,
        state: counter?.state ?? ACTIVE_STATE,
        members: counters.filter((c) => c.groups.includes(name)).map((c) => c.principal),
      };
    })
    .sort((a, b) => (a.group < b.group ? -1 : 1));
}

/** Sorts above any percent a limit can have (its digits are bounded: see MAX_LIMIT_DIGITS). */
const BLOCKED_RANK = usd(`1${'0'.repeat(30)}`);

/** The kind of period a principal (or the account) is budgeted on: its own limit's, else the deployment's. */
const kindOfLimit = (limit: LimitRecord | undefined, deployment: Deployment): PeriodKind =>
  limit?.periodKind ?? deployment.periodKind;

/**
 * `status` for people. `bars`: a bar of the share of its limit each row used, beside the percent (for a terminal;
 * piped output stays plain text, one row a line).
 */
export function formatStatus(report: StatusReport, deployment: Deployment, options: { bars?: boolean } = {}): string {
  const cells = (row: StatusRow) => [
    row.principal,
    dollars(usd(row.spendUsd)),
    dollars(usd(row.confirmedSpendUsd)),
    limitText(row.limitUsd),
    usedText(row),
    ...(options.bars ? [usedBar(row)] : []),
    row.alertLevel === null ? '-' : `${row.alertLevel}%`,
    row.alerts.length === 0 ? '-' : row.alerts.join(','),
    row.reason ? `${row.state} (${row.reason})` : row.state,
  ];
  const kind = periodKindOfKey(report.period) ?? deployment.periodKind;
  const header = `period ${report.period} (${kind}); alerts at ${deployment.thresholds.join(', ')}%\n`;
  const none = report.principals.length === 0 ? `no principal has spent in ${report.period}\n` : '';
  const table = alignedTable(
    ['principal', 'spend', 'confirmed', 'limit', 'used', ...(options.bars ? [''] : []), 'alert', 'alerts', 'state'],
    // With accounts shown, the deployment's total is the organization's, not any one account's.
    [
      ...report.principals.map(cells),
      cells(report.accounts ? { ...report.account, principal: 'organization' } : report.account),
    ],
    [1, 2, 3, 4],
  );
  const groups = report.groups ?? [];
  const groupTable =
    groups.length === 0
      ? ''
      : `\n${alignedTable(
          ['group', 'spend', 'limit', 'used', 'state', 'members counted'],
          groups.map((g) => [
            g.group,
            dollars(usd(g.spendUsd)),
            dollars(usd(g.limitUsd)),
            g.percent === null ? 'blocked' : `${g.percent}%`,
            g.state,
            String(g.members.length),
          ]),
          [1, 2, 3, 5],
        )}`;
  const accounts = report.accounts ?? [];
  const accountTable =
    accounts.length === 0
      ? ''
      : `\n${alignedTable(
          ['account', 'spend', 'limit', 'used', 'state', 'principals'],
          accounts.map((a) => [
            a.account,
            dollars(usd(a.spendUsd)),
            limitText(a.limitUsd),
            a.limitUsd === null ? '-' : a.percent === null ? 'blocked' : `${a.percent}%`,
            a.state,
            String(a.principals),
          ]),
          [1, 2, 3, 5],
        )}`;
  return `${header}${none}${table}${groupTable}${accountTable}`;
}

type StatusOptions = TargetOptions & {
  json?: boolean;
  period?: string;
  principal?: string;
  account?: string;
  organization?: boolean;
};

/** `status`: spend against limits in a period. */
export function registerStatusCommand(program: Command): void {
  targetOptions(
    program
      .command('status')
      .description(
        'spend (and the part CloudTrail confirmed), limit, percent used, alert level and state of every principal ' +
          'that spent in the period, and of the account; highest percent first',
      )
      .option('--principal <id>', 'only this principal (and the account); exits 1 if it is unknown', parsePrincipal)
      .option('--period <key>', 'a past period, e.g. 2026-10 (default: the current one)')
      .option(
        '--account <id>',
        "only this account's principals, and its row (an organization deployment)",
        parseAccountId,
      )
      .option('--organization', 'add the spend, budget and state of every account (an organization deployment)')
      .option(
        '--json',
        'print { period, principals, account, groups?, accounts? } as JSON, amounts as decimal strings',
      ),
  ).action(async (options: StatusOptions) => {
    await withDocuments(options, async (documents, target) => {
      const deployment = deploymentOf(target);
      try {
        const report = await budgetStatus(budgetStoreFor(documents, deployment), deployment, options);
        process.stdout.write(
          options.json
            ? `${JSON.stringify(report, null, 2)}\n`
            : formatStatus(report, deployment, { bars: process.stdout.isTTY === true }),
        );
      } catch (error) {
        if (!(error instanceof UnknownPrincipalError)) throw error;
        process.stderr.write(`budgeteer: ${error.message}\n`);
        process.exitCode = 1;
      }
    });
  });
}
