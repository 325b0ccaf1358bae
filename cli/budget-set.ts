import { type Command, Option } from 'commander';
import type { StoredEntry } from '../shared/audit/entry';
import { AuditLog } from '../shared/audit/log';
import { type BudgetStore, DEFAULT_PRINCIPAL, LimitChangedError } from '../shared/budgets';
import { ACCOUNT_PRINCIPAL } from '../shared/identity';
import { toDecimalString, type Usd } from '../shared/money';
import { PERIOD_KINDS, type PeriodKind } from '../shared/period';
import { ACTOR_ENV, CommandError, parseLimitArgument, parsePrincipal, resolveActor } from './args';
import { budgetStoreFor, type Deployment, deploymentOf } from './deployment';
import { dollars, periodNoun } from './format';
import { type TargetOptions, targetOptions, withDocuments } from './target';

/** The kind of period a limit is set for: the deployment's own, or one it keeps counters for. */
export function checkPeriodKind(requested: string | undefined, deployment: Deployment): PeriodKind {
  if (requested === undefined || requested === deployment.periodKind) return deployment.periodKind;
  if ((deployment.extraPeriodKinds as readonly string[]).includes(requested)) return requested as PeriodKind;
  throw new CommandError(
    `--period ${requested}: this deployment budgets ${deployment.periodKind} periods and keeps no ${requested} ` +
      `counters. Redeploy with -c 'extraPeriodKinds=["${requested}"]' to allow ${requested} limits per principal.`,
  );
}

export interface SetLimitRequest {
  /** A Budgets key: principal id, DEFAULT or ACCOUNT (see parsePrincipal). */
  readonly principal: string;
  readonly limitUsd: Usd;
  readonly actor: string;
  /** The period kind asked for: the deployment's own or one of its extra kinds. */
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

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

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
    throw new CommandError(
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
    throw new CommandError(
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

type SetOptions = TargetOptions & { actor?: string; period?: string };

/** `budget set <principal> <usd>`. */
export function registerBudgetSet(budget: Command): void {
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
      .argument(
        '<usd>',
        'the limit per period in USD, decimal digits: 50 or 12.50 (at most 12 digits before the point, 6 after)',
        parseLimitArgument,
      )
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
  ).action(async (principal: string, limitUsd: Usd, options: SetOptions) => {
    await withDocuments(options, async (documents, target) => {
      const deployment = deploymentOf(target);
      checkPeriodKind(options.period, deployment);
      const actor = resolveActor(options);
      const log = new AuditLog(documents, deployment.auditTable);
      const result = await setBudgetLimit(budgetStoreFor(documents, deployment), log, deployment, {
        principal,
        limitUsd,
        actor,
        period: options.period,
      });
      process.stdout.write(describeSet(result));
    });
  });
}
