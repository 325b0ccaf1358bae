import { userInfo } from 'node:os';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type Big from 'big.js';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { LOCAL_ACCOUNT_ID } from '../local/aws';
import { prepareEntry, type StoredEntry } from '../shared/audit/entry';
import { AuditLog } from '../shared/audit/log';
import { ACTIVE_STATE, BudgetStore, DEFAULT_PRINCIPAL, LimitChangedError } from '../shared/budgets';
import { ACCOUNT_PRINCIPAL } from '../shared/identity';
import { percentOf, toDecimalString, type Usd, usd, ZERO } from '../shared/money';
import { isPeriodKind, PERIOD_KINDS, type PeriodKind, periodKey, periodKindOfKey } from '../shared/period';
import { output, type Target, TargetError, type TargetOptions, targetOptions, withDocuments } from './target';

/** Where the admin's identity comes from when --actor is not given. */
export const ACTOR_ENV = 'BUDGETEER_ACTOR';
/** More places than any price needs; a limit with more is a typo, not a budget. */
export const MAX_LIMIT_PLACES = 10;

/** A command that cannot do what was asked: main prints the message and exits 2. */
export class BudgetCommandError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BudgetCommandError';
  }
}

/** `status --principal` named a principal that has neither spend in the period nor a limit: exit 1. */
export class UnknownPrincipalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownPrincipalError';
  }
}

/** The deployment's settings the budget commands need, from its stack outputs. */
export interface Deployment {
  readonly budgetsTable: string;
  readonly auditTable: string;
  readonly periodKind: PeriodKind;
  /** Further kinds a principal's limit may use; counters are kept for them too. */
  readonly extraPeriodKinds: readonly PeriodKind[];
  readonly thresholds: readonly number[];
  readonly configuredDefault: Usd;
  readonly configuredAccount: Usd;
}

export function deploymentOf(target: Target): Deployment {
  const periodKind = output(target, 'PeriodKind');
  if (!isPeriodKind(periodKind)) throw new TargetError(`the stack output PeriodKind is ${periodKind}`);
  let thresholds: unknown;
  try {
    thresholds = JSON.parse(output(target, 'Thresholds'));
  } catch (cause) {
    throw new TargetError('the stack output Thresholds is not JSON', { cause });
  }
  if (!Array.isArray(thresholds) || !thresholds.every((t) => Number.isSafeInteger(t))) {
    throw new TargetError('the stack output Thresholds is not a JSON array of whole percentages');
  }
  // Stacks deployed before extra period kinds existed have no such output: none then.
  const extra = JSON.parse(target.outputs.ExtraPeriodKinds ?? '[]') as unknown;
  if (!Array.isArray(extra) || !extra.every(isPeriodKind)) {
    throw new TargetError('the stack output ExtraPeriodKinds is not a JSON list of period kinds');
  }
  return {
    budgetsTable: output(target, 'BudgetsTableName'),
    auditTable: output(target, 'AuditTableName'),
    periodKind,
    extraPeriodKinds: extra,
    thresholds,
    configuredDefault: usd(output(target, 'DefaultBudgetUsd')),
    configuredAccount: usd(output(target, 'AccountBudgetUsd')),
  };
}

const storeFor = (documents: DynamoDBDocumentClient, deployment: Deployment) =>
  new BudgetStore(documents, deployment.budgetsTable, {
    configuredDefault: deployment.configuredDefault,
    configuredAccount: deployment.configuredAccount,
  });

// IAM user, role and session names (see shared/identity.ts for how ids are made from ARNs).
const NAME = '[\\w+=,.@-]{1,64}';
const PRINCIPAL_ID = new RegExp(`^(?:(?:user|role|federated-user)/${NAME}|role/${NAME}/${NAME}|root)$`);

/** The Budgets key a command-line principal names: a principal id, or `default` / `account`. */
export function parsePrincipal(text: string): string {
  const word = text.toLowerCase();
  if (word === 'default') return DEFAULT_PRINCIPAL;
  if (word === 'account') return ACCOUNT_PRINCIPAL;
  if (PRINCIPAL_ID.test(text)) return text;
  throw new InvalidArgumentError(
    `${JSON.stringify(text)} is not a principal id: use user/<name>, role/<name>, role/<role>/<session> ` +
      '(per-session roles such as AWSReservedSSO_*), federated-user/<name>, root, default or account',
  );
}

/** A limit in USD as exact decimal digits: `50`, `12.50`; no exponent, no sign, at most 10 places. */
export function parseLimitUsd(text: string): Usd {
  if (text.startsWith('-')) throw new InvalidArgumentError(`a limit cannot be negative: ${text}`);
  if (/[eE]/.test(text)) {
    throw new InvalidArgumentError(`write the amount in plain decimal digits (1000, not 1e3): ${text}`);
  }
  const match = /^\d+(?:\.(\d+))?$/.exec(text);
  if (!match) throw new InvalidArgumentError(`not an amount in USD: ${JSON.stringify(text)} (e.g. 50 or 12.50)`);
  if ((match[1]?.length ?? 0) > MAX_LIMIT_PLACES) {
    throw new InvalidArgumentError(`at most ${MAX_LIMIT_PLACES} decimal places: ${text}`);
  }
  return usd(text);
}

/**
 * Who sets a limit: `--actor`, else $BUDGETEER_ACTOR, else (on the local stack only, which has no real identities)
 * a local IAM user named after the OS user. In AWS the CLI does not look the caller up (it has no STS client), so
 * the admin states their ARN. It must be what the audit log accepts: a principal ARN (or `system:<name>`).
 */
export function resolveActor(
  options: { actor?: string; local?: boolean },
  env: Record<string, string | undefined> = process.env,
  osUser: () => string = () => userInfo().username,
): string {
  const actor =
    options.actor ??
    (env[ACTOR_ENV] || undefined) ??
    (options.local ? `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/${osUser().replace(/[^\w+=,.@-]/g, '-')}` : undefined);
  if (actor === undefined) {
    throw new BudgetCommandError(
      `who is setting this limit? Pass --actor <your principal ARN> or set ${ACTOR_ENV}, e.g. ` +
        '--actor "$(aws sts get-caller-identity --query Arn --output text)"',
    );
  }
  try {
    prepareEntry({ subject: DEFAULT_PRINCIPAL, actor, action: 'budget.limit-set' });
  } catch (cause) {
    throw new BudgetCommandError(
      `--actor / ${ACTOR_ENV} must be a principal ARN (arn:aws:iam::<account>:user/<name>, ` +
        `arn:aws:sts::<account>:assumed-role/<role>/<session>) or system:<name>, not ${JSON.stringify(actor)}`,
      { cause },
    );
  }
  return actor;
}

/** Refuses a period kind other than the deployment's: one kind serves every principal for now. */
/** The kind of period a limit is set for: the deployment's own, or one it keeps counters for. */
export function checkPeriodKind(requested: string | undefined, deployment: Deployment): PeriodKind {
  if (requested === undefined || requested === deployment.periodKind) return deployment.periodKind;
  if ((deployment.extraPeriodKinds as readonly string[]).includes(requested)) return requested as PeriodKind;
  throw new BudgetCommandError(
    `--period ${requested}: this deployment budgets ${deployment.periodKind} periods and keeps no ${requested} ` +
      `counters. Redeploy with -c 'extraPeriodKinds=["${requested}"]' to allow ${requested} limits per principal.`,
  );
}

export interface SetLimitRequest {
  /** A Budgets key: principal id, DEFAULT or ACCOUNT (see parsePrincipal). */
  readonly principal: string;
  readonly limitUsd: Usd;
  readonly actor: string;
  /** The period kind asked for; only the deployment's own is accepted. */
  readonly period?: string;
}

export interface SetLimitResult {
  readonly principal: string;
  readonly limitUsd: Usd;
  /** The principal's own limit before, if it had one. */
  readonly previousUsd?: Usd;
  readonly periodKind: PeriodKind;
  readonly setBy: string;
  readonly audit: StoredEntry;
}

/**
 * Sets a limit, audited. The audit entry is appended first: a limit is never in force (where the evaluator would
 * act on it) without its entry, and if the entry cannot be written nothing has changed. The limit is then written
 * only if it is still what the entry records as the previous one; should that write fail, the error names the
 * entry that records a change which did not happen, and running the command again records and applies it.
 */
export async function setBudgetLimit(
  store: BudgetStore,
  log: AuditLog,
  deployment: Deployment,
  request: SetLimitRequest,
  now: Date = new Date(),
): Promise<SetLimitResult> {
  const periodKind = checkPeriodKind(request.period, deployment);
  const { principal, limitUsd, actor } = request;
  const previous = await store.ownLimit(principal);
  let audit: StoredEntry;
  try {
    audit = await log.append({
      subject: principal,
      actor,
      action: 'budget.limit-set',
      details: {
        limitUsd: toDecimalString(limitUsd),
        previousUsd: previous ? toDecimalString(previous.limitUsd) : null,
        periodKind,
      },
      at: now,
    });
  } catch (cause) {
    throw new BudgetCommandError(
      `the limit of ${principal} was not changed: its audit entry could not be written (${messageOf(cause)})`,
      { cause },
    );
  }
  try {
    // The deployment's own kind is the default and is not stored, so a redeploy with another period moves it too.
    const ownKind = periodKind === deployment.periodKind ? undefined : periodKind;
    await store.setLimit(principal, limitUsd, actor, now, previous?.limitUsd ?? null, ownKind);
  } catch (cause) {
    const why =
      cause instanceof LimitChangedError
        ? 'someone else changed it while this command ran'
        : `the write failed: ${messageOf(cause)}`;
    throw new BudgetCommandError(
      `the limit of ${principal} was not changed (${why}), but audit entry ${audit.seq} of ${principal} ` +
        `(id ${audit.id}) records the change: run the command again to apply it`,
      { cause },
    );
  }
  return {
    principal,
    limitUsd,
    ...(previous ? { previousUsd: previous.limitUsd } : {}),
    periodKind,
    setBy: actor,
    audit,
  };
}

export function describeSet(result: SetLimitResult): string {
  const fallback =
    result.principal === ACCOUNT_PRINCIPAL
      ? 'the configured account budget'
      : result.principal === DEFAULT_PRINCIPAL
        ? 'the configured default'
        : 'the default';
  const before = result.previousUsd ? dollars(result.previousUsd) : `not set, ${fallback} applied`;
  return (
    `${result.principal}: limit ${dollars(result.limitUsd)} per ${periodNoun(result.periodKind)} (was ${before})\n` +
    `set by ${result.setBy}; audit entry ${result.audit.seq} of ${result.principal} (budget.limit-set)\n`
  );
}

export interface LimitList {
  readonly periodKind: PeriodKind;
  readonly configured: { readonly defaultUsd: string; readonly accountUsd: string };
  readonly limits: readonly { principal: string; limitUsd: string; setBy?: string; setAt?: string }[];
}

export async function listBudgetLimits(store: BudgetStore, deployment: Deployment): Promise<LimitList> {
  const limits = await store.listLimits();
  return {
    periodKind: deployment.periodKind,
    configured: {
      defaultUsd: toDecimalString(deployment.configuredDefault),
      accountUsd: toDecimalString(deployment.configuredAccount),
    },
    limits: limits.map((limit) => ({ ...limit, limitUsd: toDecimalString(limit.limitUsd) })),
  };
}

export function formatLimits(list: LimitList): string {
  const rows = list.limits.map((l) => [l.principal, dollars(usd(l.limitUsd)), l.setBy ?? '', l.setAt ?? '']);
  const table =
    rows.length === 0
      ? 'no limits set: every principal has the default\n'
      : alignedTable(['principal', 'limit', 'set by', 'set at'], rows, [1]);
  const per = periodNoun(list.periodKind);
  return (
    `${table}configured: ${dollars(usd(list.configured.defaultUsd))} per principal per ${per} unless ` +
    `${DEFAULT_PRINCIPAL} or the principal has a limit; ${dollars(usd(list.configured.accountUsd))} for the ` +
    `account unless ${ACCOUNT_PRINCIPAL} has one\n`
  );
}

/** One line of `status`; money as exact decimal strings. */
export interface StatusRow {
  readonly principal: string;
  readonly spendUsd: string;
  readonly limitUsd: string;
  /** Percent of the limit spent, two places, rounded down. */
  readonly percent: string;
  /** The highest threshold alerted this period, or null. */
  readonly alertLevel: number | null;
  readonly alerts: readonly number[];
  readonly state: string;
  readonly requests: number;
}

export interface StatusReport {
  readonly period: string;
  /** Sorted by percent, highest first. */
  readonly principals: readonly StatusRow[];
  readonly account: StatusRow;
}

const PERIOD_KEY: Record<PeriodKind, RegExp> = {
  monthly: /^\d{4}-(0[1-9]|1[0-2])$/,
  weekly: /^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$/,
  daily: /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/,
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
    throw new BudgetCommandError(
      `--period ${requested} is not a ${[kind, ...extra].join(' or ')} period key; this deployment's look like ${periodKey(kind, now)}`,
    );
  }
  return requested;
}

/** Spend, limit, percent, alert level and state of every principal that spent in the period, and the account's. */
export async function budgetStatus(
  store: BudgetStore,
  deployment: Deployment,
  options: { period?: string; principal?: string } = {},
  now: Date = new Date(),
): Promise<StatusReport> {
  const period = reportPeriod(options.period, [deployment.periodKind, ...deployment.extraPeriodKinds], now);
  const { counters: all, limits } = await store.periodBudgets(period);
  // A weekly (daily) report shows the principals budgeted weekly (daily); every kind's counters exist for everyone.
  const kind = periodKindOfKey(period);
  const counters = all.filter(
    (c) => c.principal === ACCOUNT_PRINCIPAL || (limits.get(c.principal)?.periodKind ?? deployment.periodKind) === kind,
  );
  const byPrincipal = new Map(counters.map((counter) => [counter.principal, counter]));
  const row = async (principal: string): Promise<StatusRow & { used: Big }> => {
    const counter = byPrincipal.get(principal);
    const spend = counter?.spendUsd ?? ZERO;
    const limit = await store.limitIn(principal, limits);
    const used = percentOf(spend, limit);
    return {
      principal,
      spendUsd: toDecimalString(spend),
      limitUsd: toDecimalString(limit),
      percent: used.toFixed(2),
      alertLevel: counter?.alertLevel ?? null,
      alerts: counter?.alerts ?? [],
      state: counter?.state ?? ACTIVE_STATE,
      requests: counter?.requests ?? 0,
      used,
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
    principals = [options.principal];
  } else if (options.principal === ACCOUNT_PRINCIPAL) {
    principals = [];
  }
  const rows = await Promise.all(principals.map(row));
  rows.sort((a, b) => b.used.cmp(a.used) || (a.principal < b.principal ? -1 : 1));
  const { used: _account, ...account } = await row(ACCOUNT_PRINCIPAL);
  return { period, principals: rows.map(({ used: _used, ...rest }) => rest), account };
}

export function formatStatus(report: StatusReport, deployment: Deployment): string {
  const cells = (row: StatusRow) => [
    row.principal,
    dollars(usd(row.spendUsd)),
    dollars(usd(row.limitUsd)),
    `${row.percent}%`,
    row.alertLevel === null ? '-' : `${row.alertLevel}%`,
    row.alerts.length === 0 ? '-' : row.alerts.join(','),
    row.state,
  ];
  const header = `period ${report.period} (${deployment.periodKind}); alerts at ${deployment.thresholds.join(', ')}%\n`;
  const none = report.principals.length === 0 ? `no principal has spent in ${report.period}\n` : '';
  const table = alignedTable(
    ['principal', 'spend', 'limit', 'used', 'alert', 'alerts', 'state'],
    [...report.principals.map(cells), cells(report.account)],
    [1, 2, 3],
  );
  return `${header}${none}${table}`;
}

/** Columns padded to their widest cell; `right` columns (amounts) aligned right. Nothing is cut. */
function alignedTable(header: readonly string[], rows: readonly string[][], right: readonly number[] = []): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (right.includes(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${all.map(line).join('\n')}\n`;
}

/** Dollars for people, every digit kept: a limit of 0.125 shows as $0.125, 50 as $50.00. */
function dollars(amount: Usd): string {
  const places = Math.max(2, amount.c.length - amount.e - 1);
  return `$${amount.toFixed(places)}`;
}

const periodNoun = (kind: PeriodKind) => ({ monthly: 'month', weekly: 'week', daily: 'day' })[kind];
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

type BudgetTargetOptions = TargetOptions & { actor?: string; period?: string; json?: boolean; principal?: string };

export function registerBudgetCommands(program: Command): void {
  const write = (text: string) => process.stdout.write(text);
  const budget = program.command('budget').description('set and list budget limits (the Budgets table)');

  targetOptions(
    budget
      .command('set')
      .description(
        'set the limit of a principal, of every principal without one (default) or of the whole account, and ' +
          'record it in the audit log',
      )
      .argument(
        '<principal>',
        'user/<name>, role/<name>, role/<role>/<session>, federated-user/<name>, root, default or account',
        parsePrincipal,
      )
      .argument('<usd>', 'the limit per period in USD, decimal digits: 50 or 12.50', parseLimitUsd)
      .addOption(
        new Option(
          '--period <kind>',
          "the period kind: the deployment's own (stack output PeriodKind, the default) or one it keeps counters " +
            'for (stack output ExtraPeriodKinds, set with -c extraPeriodKinds)',
        ).choices(PERIOD_KINDS),
      )
      .option(
        '--actor <arn>',
        `your principal ARN, recorded as setBy and in the audit entry as stated, not verified (default: $${ACTOR_ENV}; ` +
          'with --local, arn:aws:iam::123456789012:user/<OS user>)',
      ),
  ).action(async (principal: string, limitUsd: Usd, options: BudgetTargetOptions) => {
    await withDocuments(options, async (documents, target) => {
      const deployment = deploymentOf(target);
      checkPeriodKind(options.period, deployment);
      const actor = resolveActor(options);
      const log = new AuditLog(documents, deployment.auditTable);
      const result = await setBudgetLimit(storeFor(documents, deployment), log, deployment, {
        principal,
        limitUsd,
        actor,
        period: options.period,
      });
      write(describeSet(result));
    });
  });

  targetOptions(
    budget
      .command('list')
      .description('list the limits set (principals, DEFAULT, ACCOUNT) and the configured defaults')
      .option('--json', 'print one JSON document, amounts as decimal strings'),
  ).action(async (options: BudgetTargetOptions) => {
    await withDocuments(options, async (documents, target) => {
      const deployment = deploymentOf(target);
      const list = await listBudgetLimits(storeFor(documents, deployment), deployment);
      write(options.json ? `${JSON.stringify(list, null, 2)}\n` : formatLimits(list));
    });
  });

  targetOptions(
    program
      .command('status')
      .description(
        'spend, limit, percent used, alert level and state of every principal that spent in the period, and of ' +
          'the account; highest percent first',
      )
      .option('--principal <id>', 'only this principal (and the account); exits 1 if it is unknown', parsePrincipal)
      .option('--period <key>', 'a past period, e.g. 2026-10 (default: the current one)')
      .option('--json', 'print { period, principals, account } as JSON, amounts as decimal strings'),
  ).action(async (options: BudgetTargetOptions) => {
    await withDocuments(options, async (documents, target) => {
      const deployment = deploymentOf(target);
      try {
        const report = await budgetStatus(storeFor(documents, deployment), deployment, options);
        write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report, deployment));
      } catch (error) {
        if (!(error instanceof UnknownPrincipalError)) throw error;
        process.stderr.write(`budgeteer: ${error.message}\n`);
        process.exitCode = 1;
      }
    });
  });
}
