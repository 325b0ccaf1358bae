import { NumberValue } from '@aws-sdk/lib-dynamodb';
import type { BudgetStore } from '../budgets';
import { ATTRIBUTES } from '../budgets/items';
import type { Effects, Outbox } from '../decisions/outbox';
import { toDecimalString, type Usd } from '../money';
import { type PeriodKind, periodKey } from '../period';

/** How many counters are queued at once: enough to finish thousands in seconds, few enough not to burst capacity. */
export const REVIEW_CONCURRENCY = 16;

/** What a DEFAULT change queued: how many principals on the default are judged again, and how many were already. */
export interface DefaultReviewResult {
  readonly period: string;
  /** Counters queued by this run. */
  readonly queued: number;
  /** Counters a run before queued for the same default (a retry finishing the rest). */
  readonly alreadyQueued: number;
}

/** The review stopped part-way: `done` counters were queued; the rest are judged at their next spend until a rerun. */
export class DefaultReviewError extends Error {
  constructor(
    message: string,
    readonly done: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DefaultReviewError';
  }
}

/**
 * A change of the `default` limit is every principal's on the default: each of them that has spent this period is
 * judged again at once, as a change of its own limit is (alerts, a suspension, a lift through its workflow).
 *
 * Each counter is queued by one conditional write that records the default it is queued for and claims an effect
 * owed with nothing to deliver: the stream record of that write is what the evaluator judges (a record that adds
 * effects owed always is), and it clears the effect before it judges, against the limit it reads then. The write
 * is skipped where the counter was queued for this default already, so a rerun after a crash queues only the rest,
 * and it never creates a counter. Principals with a limit of their own are left alone. Counters are found through
 * the period index a page at a time, and queued REVIEW_CONCURRENCY at once: no item is written twice, and none is
 * written by every principal (the DEFAULT item is only read, by the evaluator, once per principal).
 */
export class DefaultLimitReview {
  constructor(
    private readonly store: Pick<BudgetStore, 'principalsOnDefault'>,
    private readonly outbox: Pick<Outbox, 'claim'>,
    /** Principals on the default are budgeted on the deployment's own kind of period. */
    private readonly periodKind: PeriodKind,
    private readonly concurrency = REVIEW_CONCURRENCY,
  ) {}

  async review(limitUsd: Usd, now: Date = new Date()): Promise<DefaultReviewResult> {
    const period = periodKey(this.periodKind, now);
    let queued = 0;
    let alreadyQueued = 0;
    try {
      for await (const principals of this.store.principalsOnDefault(period)) {
        for (let start = 0; start < principals.length; start += this.concurrency) {
          const wave = principals.slice(start, start + this.concurrency);
          const claimed = await Promise.all(wave.map((principal) => this.queue(principal, period, limitUsd)));
          for (const done of claimed) done ? queued++ : alreadyQueued++;
        }
      }
    } catch (cause) {
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new DefaultReviewError(`queued ${queued} principals on the default, then failed: ${why}`, queued, {
        cause,
      });
    }
    return { period, queued, alreadyQueued };
  }

  /** Queues one counter; false where it was queued for this default before (or no longer exists). */
  private async queue(principal: string, period: string, limitUsd: Usd): Promise<boolean> {
    const limit = toDecimalString(limitUsd);
    const effects: Effects = { decisionId: `default-limit|${principal}|${period}|${limit}` };
    const claimed = await this.outbox.claim(
      { principal, period },
      {
        UpdateExpression: 'SET #reviewed = :limit',
        ConditionExpression:
          'attribute_exists(#principal) AND (attribute_not_exists(#reviewed) OR #reviewed <> :limit)',
        ExpressionAttributeNames: { '#principal': ATTRIBUTES.principal, '#reviewed': ATTRIBUTES.reviewedDefaultUsd },
        ExpressionAttributeValues: { ':limit': NumberValue.from(limit) },
      },
      effects,
    );
    return claimed !== undefined;
  }
}
