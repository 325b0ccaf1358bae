import type { StoredEntry } from '../audit/entry';
import type { AuditLog } from '../audit/log';
import { type BudgetStore, DEFAULT_PRINCIPAL, LimitChangedError } from '../budgets';
import { parseLimitUsd, toDecimalString, type Usd } from '../money';
import type { PeriodKind } from '../period';
import type { RateRule } from '../rate/rules';
import { type DefaultLimitReview, DefaultReviewError, type DefaultReviewResult } from './default-review';

/** A request the admin function (or a command) cannot do: its message says why; `status` is the HTTP answer. */
export class AdminError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 403 | 404 | 409 | 410 | 500 = 400,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AdminError';
  }
}

/** The deployment's period settings a limit is checked against. */
export interface PeriodSettings {
  readonly periodKind: PeriodKind;
  /** Further kinds a principal's limit may use; counters are kept for them too. */
  readonly extraPeriodKinds: readonly PeriodKind[];
}

/**
 * The kind of period a limit is set for: the deployment's own, or one it keeps counters for. The default's is the
 * deployment's own: principals without a limit of their own are budgeted on it, so a default of another kind would
 * be stored and never applied.
 */
export function checkPeriodKind(
  requested: string | undefined,
  deployment: PeriodSettings,
  principal?: string,
): PeriodKind {
  if (requested === undefined || requested === deployment.periodKind) return deployment.periodKind;
  if (principal === DEFAULT_PRINCIPAL) {
    throw new AdminError(
      `--period ${requested}: the default applies to principals budgeted ${deployment.periodKind}, the ` +
        `deployment's period; give a principal a ${requested} limit of its own instead`,
    );
  }
  if ((deployment.extraPeriodKinds as readonly string[]).includes(requested)) return requested as PeriodKind;
  throw new AdminError(
    `--period ${requested}: this deployment budgets ${deployment.periodKind} periods and keeps no ${requested} ` +
      `counters. Redeploy with -c 'extraPeriodKinds=["${requested}"]' to allow ${requested} limits per principal.`,
  );
}

/**
 * A prepaid (`total`) limit's first UTC day: the one asked for (a day, or an ISO time, which counts from the start
 * of its UTC day), else the one the principal's total limit has already (a raise keeps what the grant counted), else
 * today. Spend of calls before it does not count (shared/budgets/items.ts sinceGrantStart). Undefined for any other
 * kind, which resets on its own.
 */
export function grantStartOf(
  requested: string | undefined,
  periodKind: PeriodKind,
  previous: { readonly periodKind?: PeriodKind; readonly startsAt?: string } | undefined,
  now: Date,
): string | undefined {
  if (periodKind !== 'total') {
    if (requested !== undefined) throw new AdminError('--starts-at is for a prepaid budget only (--period total)');
    return undefined;
  }
  if (requested === undefined) {
    return previous?.periodKind === 'total' && previous.startsAt ? previous.startsAt : now.toISOString().slice(0, 10);
  }
  const at = /^\d{4}-\d{2}-\d{2}$/.test(requested) ? new Date(`${requested}T00:00:00Z`) : new Date(requested);
  if (!/^\d{4}-\d{2}-\d{2}/.test(requested) || Number.isNaN(at.getTime())) {
    throw new AdminError(`--starts-at ${requested} is not a day (YYYY-MM-DD) or an ISO time`);
  }
  return at.toISOString().slice(0, 10);
}

export interface SetLimitRequest {
  /** A Budgets key: principal id, DEFAULT or ACCOUNT (see parsePrincipal). */
  readonly principal: string;
  readonly limitUsd: Usd;
  readonly actor: string;
  /** The period kind asked for: the deployment's own or one of its extra kinds. */
  readonly period?: string;
  /** The burn-rate guard's rule stored with the limit; absent: none of its own (the default's applies, if any). */
  readonly rate?: RateRule;
  /** A prepaid (`total`) limit's start: a day or an ISO time (see grantStartOf). */
  readonly startsAt?: string;
  /** Where the request came from (source IP, user agent), for the audit entry. */
  readonly context?: Readonly<Record<string, string>>;
}

/**
 * The rate rule a `budget set` asks for: `maxUsdPerHour` with what spend above it does (`alert` unless told);
 * `onRate` alone is refused, as it would say what to do above no rate.
 */
export function rateRuleOf(request: {
  readonly maxUsdPerHour?: string;
  readonly onRate?: RateRule['onRate'];
  readonly onAnomaly?: RateRule['onRate'];
}): { rate?: RateRule } {
  if (request.maxUsdPerHour === undefined) {
    if (request.onRate !== undefined) throw new AdminError('--on-rate needs --max-usd-per-hour: above which rate?');
    if (request.onAnomaly !== undefined) {
      throw new AdminError('--on-anomaly needs --max-usd-per-hour: anomalies are judged for principals with a rule');
    }
    return {};
  }
  return {
    rate: {
      maxUsdPerHour: parseLimitUsd(request.maxUsdPerHour),
      onRate: request.onRate ?? 'alert',
      ...(request.onAnomaly ? { onAnomaly: request.onAnomaly } : {}),
    },
  };
}

export interface SetLimitResult {
  readonly principal: string;
  readonly limitUsd: Usd;
  /** The principal's own limit before, if it had one. */
  readonly previousUsd?: Usd;
  readonly periodKind: PeriodKind;
  /** A prepaid (`total`) limit's first UTC day. */
  readonly startsAt?: string;
  readonly rate?: RateRule;
  readonly setBy: string;
  readonly audit: StoredEntry;
  /** For `default`: the principals on it that have spent this period, queued to be judged again at once. */
  readonly review?: DefaultReviewResult;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Sets a limit, audited. The audit entry is appended first: a limit is never in force (where the evaluator would
 * act on it) without its entry, and if the entry cannot be written nothing has changed. The limit is then written
 * only if it is still what the entry records as the previous one; should that write fail, the error names the
 * entry that records a change which did not happen, and running the command again records and applies it.
 * A change of `default` then has every principal on it that spent this period judged again (see DefaultLimitReview).
 */
export async function setBudgetLimit(
  store: BudgetStore,
  log: AuditLog,
  deployment: PeriodSettings,
  request: SetLimitRequest,
  now: Date = new Date(),
  /** Judges the principals on the default again when `default` changes; without it they are at their next spend. */
  reviewer?: Pick<DefaultLimitReview, 'review'>,
): Promise<SetLimitResult> {
  const { principal, limitUsd, actor } = request;
  const periodKind = checkPeriodKind(request.period, deployment, principal);
  const previous = await store.ownLimit(principal);
  const startsAt = grantStartOf(request.startsAt, periodKind, previous, now);
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
        ...(startsAt ? { startsAt } : {}),
        ...(request.rate
          ? {
              maxUsdPerHour: toDecimalString(request.rate.maxUsdPerHour),
              onRate: request.rate.onRate,
              onAnomaly: request.rate.onAnomaly ?? 'alert',
            }
          : {}),
        ...request.context,
      },
      at: now,
    });
  } catch (cause) {
    throw new AdminError(
      `the limit of ${principal} was not changed: its audit entry could not be written (${messageOf(cause)})`,
      500,
      { cause },
    );
  }
  try {
    // The deployment's own kind is the default and is not stored, so a redeploy with another period moves it too.
    const ownKind = periodKind === deployment.periodKind ? undefined : periodKind;
    await store.setLimit(principal, limitUsd, actor, now, previous?.limitUsd ?? null, ownKind, request.rate, startsAt);
  } catch (cause) {
    const why =
      cause instanceof LimitChangedError
        ? 'someone else changed it while this command ran'
        : `the write failed: ${messageOf(cause)}`;
    throw new AdminError(
      `the limit of ${principal} was not changed (${why}), but audit entry ${audit.seq} of ${principal} ` +
        `(id ${audit.id}) records the change: run the command again to apply it`,
      500,
      { cause },
    );
  }
  const review =
    principal === DEFAULT_PRINCIPAL && reviewer ? await reviewDefault(reviewer, limitUsd, audit, now) : undefined;
  return {
    principal,
    limitUsd,
    ...(previous ? { previousUsd: previous.limitUsd } : {}),
    periodKind,
    ...(startsAt ? { startsAt } : {}),
    ...(request.rate ? { rate: request.rate } : {}),
    setBy: actor,
    audit,
    ...(review ? { review } : {}),
  };
}

/** The default is set: every principal on it that has spent this period is queued to be judged against it. */
async function reviewDefault(
  reviewer: Pick<DefaultLimitReview, 'review'>,
  limitUsd: Usd,
  audit: StoredEntry,
  now: Date,
): Promise<DefaultReviewResult> {
  try {
    return await reviewer.review(limitUsd, now);
  } catch (cause) {
    const done = cause instanceof DefaultReviewError ? cause.done : 0;
    throw new AdminError(
      `the default limit is set (audit entry ${audit.seq} of ${DEFAULT_PRINCIPAL}), but judging the principals on ` +
        `it again stopped after ${done} (${messageOf(cause)}); the others are judged at their next spend: run the ` +
        'command again to judge them now (those done are skipped)',
      500,
      { cause },
    );
  }
}

/** A set limit as the admin function answers it (amounts as decimal strings). */
export interface SetLimitReply {
  readonly principal: string;
  readonly limitUsd: string;
  readonly previousUsd?: string;
  readonly periodKind: PeriodKind;
  /** A prepaid (`total`) limit's first UTC day. */
  readonly startsAt?: string;
  /** The rate rule set with the limit (USD per rolling hour, as a decimal string). */
  readonly rate?: {
    readonly maxUsdPerHour: string;
    readonly onRate: RateRule['onRate'];
    readonly onAnomaly?: RateRule['onRate'];
  };
  readonly setBy: string;
  readonly auditSeq: string;
  /** For `default`: how many principals on it that spent this period are judged again now (and were already). */
  readonly reviewed?: { readonly period: string; readonly queued: number; readonly alreadyQueued: number };
}

export const replyOf = (result: SetLimitResult): SetLimitReply => ({
  principal: result.principal,
  limitUsd: toDecimalString(result.limitUsd),
  ...(result.previousUsd ? { previousUsd: toDecimalString(result.previousUsd) } : {}),
  periodKind: result.periodKind,
  ...(result.startsAt ? { startsAt: result.startsAt } : {}),
  ...(result.rate
    ? {
        rate: {
          maxUsdPerHour: toDecimalString(result.rate.maxUsdPerHour),
          onRate: result.rate.onRate,
          ...(result.rate.onAnomaly ? { onAnomaly: result.rate.onAnomaly } : {}),
        },
      }
    : {}),
  setBy: result.setBy,
  auditSeq: result.audit.seq,
  ...(result.review ? { reviewed: { ...result.review } } : {}),
});
