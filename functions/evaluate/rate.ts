import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { type BudgetStore, decimalOf, type LimitItemMemo } from '../../shared/budgets';
import { ATTRIBUTES, type RateItem, wholeOf } from '../../shared/budgets/items';
import { type Effects, executionArnOf, executionName, type Outbox } from '../../shared/decisions/outbox';
import { ENFORCEMENT_ATTRIBUTES as A, suspendHolder } from '../../shared/enforcement/state';
import { enforcementTarget, type ProtectionRules } from '../../shared/enforcement/target';
import { formatUsd, toDecimalString, type Usd } from '../../shared/money';
import type { AlertMessage } from '../../shared/notify';
import { type PeriodKind, periodEndOfKey, periodKey } from '../../shared/period';
import { bucketStartOfKey, HOUR_BUCKETS } from '../../shared/rate/buckets';
import {
  type AnomalyRule,
  anomalyOf,
  type Bucket,
  DEFAULT_ANOMALY_RULE,
  FORECAST_HOURS,
  forecastExhaustion,
  isOverRate,
  type RateRule,
  type RateWindow,
  windowEnding,
} from '../../shared/rate/rules';
import { readBuckets } from '../../shared/rate/store';
import type { Decision } from './evaluate';

export interface RateGuardConfig {
  readonly budgetsTable: string;
  readonly periodKind: PeriodKind;
  readonly suspendStateMachineArn: string;
  readonly protection: ProtectionRules;
  readonly graceSeconds?: number;
  /** @default DEFAULT_ANOMALY_RULE (10 times the usual hour, at least $5) */
  readonly anomaly?: AnomalyRule;
}

export interface RateGuardDeps {
  readonly documents: DynamoDBDocumentClient;
  readonly budgets: BudgetStore;
  readonly outbox: Outbox;
  readonly now?: () => Date;
  /** Told of each suspension claimed, as the evaluator's own (its metrics count them). */
  readonly onDecision?: (decision: Decision) => void;
}

type Item = Record<string, unknown>;
const ACTOR = 'system:evaluate';
const iso = (at: Date) => at.toISOString();
const generationOf = (item: Item) => wholeOf(item[A.generation]) ?? 0;

/** The condition that an item is still in generation `g` (an absent attribute is generation 0). */
const inGeneration = (g: number) => (g === 0 ? '(attribute_not_exists(#g) OR #g = :g)' : '#g = :g');

/**
 * The burn-rate guard: judges a principal's rolling hour each time one of its 5-minute rate buckets changes (a
 * stream record of the bucket). Principals with a rate rule (their own limit's, or the default's) are judged; the
 * rest cost nothing beyond the limit items the batch reads anyway. Each decision is claimed on the principal's
 * counter of its own period through the outbox, like every other: above the rate, one alert per episode (and with
 * `onRate: suspend` the suspend workflow, reason `rate`, which lifts itself when the hour falls back); a forecast
 * of exhaustion before the period ends, once per generation; an anomalous hour, once per hour window.
 */
export class RateGuard {
  private readonly now: () => Date;

  constructor(
    private readonly config: RateGuardConfig,
    private readonly deps: RateGuardDeps,
    /** The evaluator's limit items of this batch (cleared and updated with it). */
    private readonly limitItems: LimitItemMemo,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  async judge(bucket: RateItem): Promise<void> {
    const end = bucketStartOfKey(bucket.period);
    if (!end) return;
    const rule = await this.deps.budgets.rateRuleOf(bucket.principal, this.limitItems);
    if (!rule) return;
    const budget = await this.deps.budgets.budgetOf(bucket.principal, this.limitItems);
    const period = periodKey(budget.periodKind ?? this.config.periodKind, end);
    const counter = await this.counter(bucket.principal, period);
    // Ingest writes the counter with the bucket: none means nothing was charged in the period (a credit only).
    if (!counter) return;
    const buckets = await this.buckets(bucket.principal, end, FORECAST_HOURS * HOUR_BUCKETS);
    const hour = windowEnding(buckets, end);
    const overRate = isOverRate(hour.spendUsd, rule);
    if (overRate) await this.overRate(counter, rule, hour);
    await this.forecast(counter, budget.limitUsd, windowEnding(buckets, end, FORECAST_HOURS));
    const anomaly = this.config.anomaly ?? DEFAULT_ANOMALY_RULE;
    if (hour.spendUsd.gte(anomaly.floorUsd)) {
      const trailing = await this.buckets(bucket.principal, end, (anomaly.trailingHours + 1) * HOUR_BUCKETS);
      const judged = anomalyOf(trailing, end, anomaly);
      // Over the rate with onRate suspend, the rate's suspension is the one: the anomaly alerts beside it but starts
      // no second workflow (both judge the same snapshot of the counter, read before either claim).
      const onAnomaly = overRate && rule.onRate === 'suspend' ? 'alert' : rule.onAnomaly;
      if (judged.anomalous) {
        await this.anomalous(counter, judged.lastHour, judged.usualHourUsd, anomaly, { ...rule, onAnomaly });
      }
    }
  }

  /** Above the rate: alert (and suspend, where the rule says so) once per episode, named by its hour window. */
  private async overRate(counter: Item, rule: RateRule, hour: RateWindow): Promise<void> {
    const principal = String(counter.principal);
    const period = String(counter.period);
    const alertedUntil = counter[ATTRIBUTES.rateAlertedUntil];
    if (typeof alertedUntil === 'string' && alertedUntil > iso(hour.from)) return;
    const g = generationOf(counter);
    const decisionId = `rate|${principal}|${period}|g${g}|${iso(hour.from)}/${iso(hour.to)}`;
    const deny = this.deniable(counter, rule.onRate);
    const details = {
      reason: 'rate',
      maxUsdPerHour: toDecimalString(rule.maxUsdPerHour),
      hourUsd: toDecimalString(hour.spendUsd),
      from: iso(hour.from),
      to: iso(hour.to),
      onRate: rule.onRate,
      generation: g,
    };
    const name = executionName('suspend', decisionId, `${period}-g${g}-rate-${principal}`);
    const message = rateMessage({
      principal,
      period,
      rule,
      hour,
      ...(deny.suspend ? { executionName: name } : {}),
      ...(deny.exemptBecause ? { exemptBecause: deny.exemptBecause } : {}),
    });
    const effects: Effects = deny.suspend
      ? this.suspension(counter, decisionId, name, details, message)
      : {
          decisionId,
          messages: [{ topic: rule.onRate === 'suspend' ? 'critical' : 'alerts', message }],
          audit: { actor: ACTOR, action: 'rate.exceeded', subject: principal, period, details },
        };
    await this.claim(counter, effects, {
      UpdateExpression: 'SET #until = :to',
      ConditionExpression: `(attribute_not_exists(#until) OR #until <= :from) AND ${inGeneration(g)}`,
      ExpressionAttributeNames: { '#until': ATTRIBUTES.rateAlertedUntil, '#g': A.generation },
      ExpressionAttributeValues: { ':to': iso(hour.to), ':from': iso(hour.from), ':g': g },
    });
  }

  /** Whether a decision that says `action` suspends this principal now, or why it may not be denied at all. */
  private deniable(counter: Item, action: RateRule['onRate'] | undefined) {
    const principalArn = typeof counter.principalArn === 'string' ? counter.principalArn : undefined;
    const target = enforcementTarget(
      { id: String(counter.principal), ...(principalArn ? { arn: principalArn } : {}) },
      this.config.protection,
      false,
    );
    const exemptBecause = target.status === 'protected' ? target.reason : undefined;
    // Suspended already (for its budget or another episode), or lifted by an admin for the period: alert only.
    const suspend =
      action === 'suspend' && !exemptBecause && counter[A.state] !== 'suspended' && counter[A.lifted] === undefined;
    return { suspend, ...(exemptBecause ? { exemptBecause } : {}) };
  }

  /** A suspension through the suspend workflow, as at 100%, with its reason (`rate`, `anomaly`) in its details. */
  private suspension(
    counter: Item,
    decisionId: string,
    name: string,
    details: { reason: string; generation: number } & Record<string, string | number>,
    message: AlertMessage,
  ): Effects {
    const principal = String(counter.principal);
    const period = String(counter.period);
    const principalArn = typeof counter.principalArn === 'string' ? counter.principalArn : undefined;
    return {
      decisionId,
      messages: [{ topic: 'critical', message }],
      audit: {
        actor: ACTOR,
        action: 'suspension.requested',
        subject: principal,
        period,
        executionArn: executionArnOf(this.config.suspendStateMachineArn, name),
        details,
      },
      start: {
        machine: 'suspend',
        name,
        input: {
          principal,
          principalArn: principalArn ?? null,
          period,
          generation: details.generation,
          decisionId,
          holder: suspendHolder(name),
          reason: details.reason,
          graceSeconds: this.config.graceSeconds ?? 0,
          spendUsd: toDecimalString(decimalOf(counter.spendUsd)),
        },
      },
    };
  }

  /** At the rate of the last hours the budget runs out before the period ends: once per generation. */
  private async forecast(counter: Item, limit: Usd, recent: RateWindow): Promise<void> {
    const g = generationOf(counter);
    const forecastFor = wholeOf(counter[ATTRIBUTES.forecastGeneration]);
    if (forecastFor !== undefined && forecastFor >= g) return;
    const period = String(counter.period);
    const periodEnd = periodEndOfKey(period);
    const spend = decimalOf(counter.spendUsd);
    const forecast = periodEnd && forecastExhaustion({ spendUsd: spend, limitUsd: limit, recent, periodEnd });
    if (!forecast) return;
    const principal = String(counter.principal);
    const decisionId = `forecast|${principal}|${period}|g${g}`;
    const details = {
      spendUsd: toDecimalString(spend),
      limitUsd: toDecimalString(limit),
      usdPerHour: toDecimalString(forecast.usdPerHour.round(6)),
      exhaustedAt: iso(forecast.at),
      measuredFrom: iso(recent.from),
      measuredTo: iso(recent.to),
      generation: g,
    };
    await this.claim(
      counter,
      {
        decisionId,
        messages: [
          { topic: 'alerts', message: forecastMessage({ principal, period, spend, limit, forecast, recent }) },
        ],
        audit: { actor: ACTOR, action: 'rate.forecast', subject: principal, period, details },
      },
      {
        UpdateExpression: 'SET #forecast = :g',
        ConditionExpression: `(attribute_not_exists(#forecast) OR #forecast < :g) AND ${inGeneration(g)}`,
        ExpressionAttributeNames: { '#forecast': ATTRIBUTES.forecastGeneration, '#g': A.generation },
        ExpressionAttributeValues: { ':g': g },
      },
    );
  }

  /** An hour far above the principal's usual one: a critical alert, once per hour window. */
  private async anomalous(
    counter: Item,
    hour: RateWindow,
    usual: Usd,
    anomaly: AnomalyRule,
    rule: RateRule,
  ): Promise<void> {
    const alertedUntil = counter[ATTRIBUTES.anomalyAlertedUntil];
    if (typeof alertedUntil === 'string' && alertedUntil > iso(hour.from)) return;
    const principal = String(counter.principal);
    const period = String(counter.period);
    const g = generationOf(counter);
    const decisionId = `anomaly|${principal}|${period}|g${g}|${iso(hour.from)}/${iso(hour.to)}`;
    const deny = this.deniable(counter, rule.onAnomaly);
    const details = {
      reason: 'anomaly',
      hourUsd: toDecimalString(hour.spendUsd),
      usualHourUsd: toDecimalString(usual),
      factor: anomaly.factor,
      floorUsd: toDecimalString(anomaly.floorUsd),
      from: iso(hour.from),
      to: iso(hour.to),
      generation: g,
    };
    // Suspended for an anomaly, a principal stays so until an admin decides (the message's links) or the period ends.
    const name = executionName('suspend', decisionId, `${period}-g${g}-anomaly-${principal}`);
    const message = anomalyMessage({
      principal,
      period,
      hour,
      usual,
      rule: anomaly,
      ...(deny.suspend ? { executionName: name } : {}),
    });
    await this.claim(
      counter,
      deny.suspend
        ? this.suspension(counter, decisionId, name, details, message)
        : {
            decisionId,
            messages: [{ topic: 'critical', message }],
            audit: { actor: ACTOR, action: 'rate.anomaly', subject: principal, period, details },
          },
      {
        UpdateExpression: 'SET #until = :to',
        ConditionExpression: `(attribute_not_exists(#until) OR #until <= :from) AND ${inGeneration(g)}`,
        ExpressionAttributeNames: { '#until': ATTRIBUTES.anomalyAlertedUntil, '#g': A.generation },
        ExpressionAttributeValues: { ':to': iso(hour.to), ':from': iso(hour.from), ':g': g },
      },
    );
  }

  private async claim(counter: Item, effects: Effects, update: Parameters<Outbox['claim']>[1]): Promise<void> {
    const key = { principal: String(counter.principal), period: String(counter.period) };
    const claimed = await this.deps.outbox.claim(key, update, effects);
    if (!claimed) return;
    if (effects.start) this.deps.onDecision?.({ kind: 'suspension', principal: key.principal, claimedAt: this.now() });
    await this.deps.outbox.deliver(key, effects);
  }

  private async counter(principal: string, period: string): Promise<Item | undefined> {
    const { Item } = await this.deps.documents.send(
      new GetCommand({ TableName: this.config.budgetsTable, Key: { principal, period }, ConsistentRead: true }),
    );
    return Item;
  }

  /** The `count` buckets ending with the one holding `end`, in one Query (a few hundred bytes each). */
  private async buckets(principal: string, end: Date, count: number): Promise<Bucket[]> {
    return readBuckets(this.deps.documents, this.config.budgetsTable, principal, end, count);
  }
}

function rateMessage(notice: {
  principal: string;
  period: string;
  rule: RateRule;
  hour: RateWindow;
  executionName?: string;
  exemptBecause?: string;
}): AlertMessage {
  const { principal, rule, hour } = notice;
  const action = notice.exemptBecause
    ? `Not suspended: ${notice.exemptBecause}.`
    : notice.executionName
      ? `Suspended (reason: rate) until its rolling hour falls back to ${formatUsd(rule.maxUsdPerHour)} or an admin lifts it (workflow ${notice.executionName}).`
      : rule.onRate === 'suspend'
        ? 'Already suspended or lifted for the period: no new suspension.'
        : 'Alert only: its rule does not suspend.';
  return {
    subject: `Bedrock burn rate: ${principal} spent ${formatUsd(hour.spendUsd)} in an hour (limit ${formatUsd(rule.maxUsdPerHour)}/h)`,
    body: [
      `${principal} spent ${formatUsd(hour.spendUsd, 4)} on Bedrock between ${iso(hour.from)} and ${iso(hour.to)}, above its rate of ${formatUsd(rule.maxUsdPerHour)} per rolling hour.`,
      '',
      action,
      '',
      `Period: ${notice.period}. Lift: budgeteer lift ${principal} --reason <why>`,
    ].join('\n'),
    attributes: {
      kind: 'rate',
      severity: rule.onRate === 'suspend' ? 'critical' : 'warning',
      principal,
      period: notice.period,
    },
  };
}

function forecastMessage(notice: {
  principal: string;
  period: string;
  spend: Usd;
  limit: Usd;
  forecast: { at: Date; usdPerHour: Usd };
  recent: RateWindow;
}): AlertMessage {
  const { principal, forecast } = notice;
  return {
    subject: `Bedrock forecast: ${principal} exhausts its budget at ${iso(forecast.at).slice(0, 16)} UTC at this rate`,
    body: [
      `At ${formatUsd(forecast.usdPerHour, 4)} an hour (its spend from ${iso(notice.recent.from)} to ${iso(notice.recent.to)}), ${principal} reaches its limit of ${formatUsd(notice.limit)} for ${notice.period} at ${iso(forecast.at)}, before the period ends.`,
      '',
      `Spent so far: ${formatUsd(notice.spend, 4)}. One forecast per generation: a new limit or a lift re-arms it.`,
    ].join('\n'),
    attributes: { kind: 'forecast', severity: 'warning', principal, period: notice.period },
  };
}

function anomalyMessage(notice: {
  principal: string;
  period: string;
  hour: RateWindow;
  usual: Usd;
  rule: AnomalyRule;
  executionName?: string;
}): AlertMessage {
  const { principal, hour } = notice;
  return {
    subject: `Bedrock anomaly: ${principal} spent ${formatUsd(hour.spendUsd)} in an hour, usually ${formatUsd(notice.usual)}`,
    body: [
      `${principal} spent ${formatUsd(hour.spendUsd, 4)} between ${iso(hour.from)} and ${iso(hour.to)}: at least ${notice.rule.factor} times its usual hour (the median of the ${notice.rule.trailingHours} hours before, ${formatUsd(notice.usual, 4)}) and at least ${formatUsd(notice.rule.floorUsd)}.`,
      '',
      notice.executionName
        ? `Suspended (reason: anomaly) until an admin decides or the period ends (workflow ${notice.executionName}).`
        : `A leaked key or a runaway loop looks like this. Suspend it: budgeteer budget set ${principal} 0`,
    ].join('\n'),
    attributes: { kind: 'anomaly', severity: 'critical', principal, period: notice.period },
  };
}
