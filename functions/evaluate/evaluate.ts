import { type DynamoDBDocumentClient, GetCommand, NumberValue, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Budget, type BudgetStore, decimalOf, type LimitItemMemo, topModels } from '../../shared/budgets';
import {
  ATTRIBUTE_PREFIXES,
  ATTRIBUTES,
  type ConflictItem,
  KEYS,
  kindOfKey,
  parseBudgetItem,
  sinceGrantStart,
} from '../../shared/budgets/items';
import {
  type Effects,
  executionArnOf,
  executionName,
  type Outbox,
  pendingEffects,
} from '../../shared/decisions/outbox';
import type { PendingWaits } from '../../shared/decisions/pending';
import {
  ENFORCEMENT_ATTRIBUTES as A,
  type Suspension,
  stopHolder,
  suspendHolder,
} from '../../shared/enforcement/state';
import { enforcementTarget, type ProtectionRules } from '../../shared/enforcement/target';
import { groupNameOf, groupPrincipal, groupReason, isGroupPrincipal, stillMember } from '../../shared/groups/groups';
import { ACCOUNT_PRINCIPAL } from '../../shared/identity';
import { MODEL_SPEND_PREFIX } from '../../shared/ledger';
import { toDecimalString, type Usd } from '../../shared/money';
import { type PeriodKind, periodEnd, periodKey, periodKindOfKey, TOTAL_PERIOD } from '../../shared/period';
import {
  type ConflictingRecord,
  exhaustedMessage,
  thresholdAlertMessage,
  unknownModelMessage,
  usageConflictMessage,
} from './alerts';
import { crossingFor, isExhausted, rearmedLevel } from './crossing';
import { RateGuard, type RateGuardConfig } from './rate';

export interface EvaluatorConfig extends Pick<RateGuardConfig, 'anomaly'> {
  readonly budgetsTable: string;
  readonly thresholds: readonly number[];
  readonly periodKind: PeriodKind;
  readonly suspendStateMachineArn: string;
  readonly emergencyStopStateMachineArn: string;
  /** Principals never suspended (alert only): break glass and the stack's own roles. */
  readonly protection: ProtectionRules;
  /** Seconds between exhaustion and the deny. @default 0 */
  readonly graceSeconds?: number;
  /**
   * Only spend CloudTrail confirmed may suspend a principal or stop the account (`requireCloudTrailConfirmation`):
   * spend past the limit that is only logged waits for its sighting, and the coverage sweep escalates what is still
   * unconfirmed after `confirmationWaitMinutes`. @default false
   */
  readonly requireConfirmation?: boolean;
  /** How long logged-only spend past the limit waits for its sighting before the sweep escalates it. @default 15 */
  readonly confirmationWaitMinutes?: number;
}

export interface EvaluatorDeps {
  readonly documents: DynamoDBDocumentClient;
  readonly budgets: BudgetStore;
  readonly outbox: Outbox;
  readonly waits: PendingWaits;
  readonly now?: () => Date;
  /** Told of each decision once, when it is claimed (before its effects are delivered): the handler counts them. */
  readonly onDecision?: (decision: Decision) => void;
}

/** What a claim decided: an alert, an exhaustion (suspension, stop, or alert only), or a marker's one notice. */
export type DecisionKind =
  | 'threshold-alert'
  | 'suspension'
  | 'suspension-skipped'
  | 'awaiting-confirmation'
  | 'emergency-stop'
  | 'group-stop'
  | 'stop-deny'
  | 'unknown-model'
  | 'usage-conflict'
  | 'estimate-replaced';

/** A decision this evaluator claimed: reported once, whatever becomes of its delivery. */
export interface Decision {
  readonly kind: DecisionKind;
  readonly principal: string;
  /** The threshold alerted (threshold alerts only). */
  readonly threshold?: number;
  readonly claimedAt: Date;
}

/** A Budgets item as the stream shows it (unmarshalled with wrapNumbers). */
export type BudgetItem = Record<string, unknown> & { principal: string; period: string };

const ACTOR = 'system:evaluate';

/** A whole number attribute read with wrapNumbers; absent is 0. */
const wholeOf = (value: unknown) => (value === undefined ? 0 : Number(decimalOf(value)));
/** An alert's period end, absent for a prepaid (`total`) budget, which never ends. */
const periodEndOf = (kind: PeriodKind, now: Date) => {
  const end = periodEnd(kind, now);
  return end ? { periodEnd: end } : {};
};
export const generationOf = (item: Record<string, unknown> | undefined) => wholeOf(item?.[A.generation]);

/** The condition that an item is still in generation `g` (an absent attribute is generation 0). */
function inGeneration(g: number): { condition: string; values: Record<string, unknown> } {
  return g === 0
    ? { condition: '(attribute_not_exists(#g) OR #g = :g)', values: { ':g': 0 } }
    : { condition: '#g = :g', values: { ':g': g } };
}

/**
 * Whether a stream record can call for a decision. The evaluator's own claims and clears come back as records
 * too; those that change neither spend nor add effects owed are dropped before any read. Where only confirmed
 * spend may suspend (`requireConfirmation`), a change of the confirmed spend counts too.
 */
export function needsEvaluation(
  oldImage: BudgetItem | undefined,
  newImage: BudgetItem,
  requireConfirmation = false,
): boolean {
  const kind = kindOfKey(newImage.principal, newImage.period);
  if (!oldImage || kind === 'limit' || kind === 'default-limit' || kind === 'unknown-model') return true;
  if (!decimalOf(oldImage.spendUsd).eq(decimalOf(newImage.spendUsd))) return true;
  if (requireConfirmation && !decimalOf(oldImage.confirmedSpendUsd).eq(decimalOf(newImage.confirmedSpendUsd))) {
    return true;
  }
  const owedBefore = new Set(pendingEffects(oldImage).map((e) => e.decisionId));
  return pendingEffects(newImage).some((effects) => !owedBefore.has(effects.decisionId));
}

/**
 * Turns spend changes into decisions. Each decision (a threshold alert, an exhaustion, the circuit breaker's deny,
 * an unknown model) is claimed with one conditional write on the item it is about, together with the effects it
 * owes (see shared/decisions/outbox.ts), then delivered. Decisions belong to a generation of the principal's
 * period: a limit change or a lift starts a new one, which re-arms the thresholds above the current percent and
 * allows a new suspension under a new execution name.
 */
export class Evaluator {
  private readonly now: () => Date;
  private readonly outbox: Outbox;
  private readonly budgets = new Map<string, Promise<Budget>>();
  /** Limit items this batch read (DEFAULT once for every principal on it). */
  private readonly limitItems: LimitItemMemo = new Map();
  private readonly accounts = new Map<string, Promise<BudgetItem | undefined>>();
  /** The counters of the groups this batch's principals are in, by group and period. */
  private readonly groups = new Map<string, Promise<BudgetItem | undefined>>();
  /** Periods whose account total this batch has judged already (see `evaluate`). */
  private readonly accountsJudged = new Set<string>();
  /** The burn-rate guard: judges rate buckets (rate.ts). */
  private readonly rates: RateGuard;

  constructor(
    private readonly config: EvaluatorConfig,
    private readonly deps: EvaluatorDeps,
  ) {
    this.now = deps.now ?? (() => new Date());
    this.outbox = deps.outbox;
    this.rates = new RateGuard(config, deps, this.limitItems);
  }

  /** Limits and the account's state are read once per batch: a change arrives as its own record. */
  startBatch(): void {
    this.budgets.clear();
    this.limitItems.clear();
    this.accounts.clear();
    this.groups.clear();
    this.accountsJudged.clear();
  }

  /** Judges one Budgets item as read; one that is not a valid item of its kind throws BudgetItemError. */
  async evaluate(item: BudgetItem): Promise<void> {
    const parsed = parseBudgetItem(item);
    switch (parsed.kind) {
      case 'unknown-model':
        return this.unknownModel(item);
      case 'default-limit':
        // What this batch read of it before is stale. Its change queues every counter on it to be judged again
        // (shared/admin/default-review.ts): each of those records re-judges its principal.
        this.budgets.clear();
        this.limitItems.delete(parsed.principal);
        return;
      case 'limit': {
        // The limit changed: what this batch read of it before is stale.
        this.budgets.delete(parsed.principal);
        this.limitItems.delete(parsed.principal);
        // A new limit counts at once: re-evaluate the principal's (or group's) current period against it.
        if (
          parsed.principal !== ACCOUNT_PRINCIPAL &&
          !isGroupPrincipal(parsed.principal) &&
          parsed.principal.includes('#')
        ) {
          return;
        }
        const kind = (await this.budgetOf(parsed.principal)).periodKind ?? this.config.periodKind;
        const current = await this.read(parsed.principal, periodKey(kind, this.now()));
        if (current) await this.evaluateCounter(current);
        return;
      }
      case 'account-shard':
        // Every shard record of a batch was written before the batch was read, so the consistent read of all
        // shards made for the first one counts them all: the account is judged once per batch and period.
        if (this.accountsJudged.has(parsed.period)) return;
        this.accountsJudged.add(parsed.period);
        return this.evaluateAccount(parsed.period);
      case 'account':
        return this.evaluateAccount(parsed.period);
      case 'counter':
      case 'group':
        return this.evaluateCounter(item);
      case 'conflict':
        return this.usageConflict(item, parsed);
      case 'rate':
        return this.rates.judge(parsed);
      case 'coverage':
      case 'deny':
      case 'digest':
      case 'reconcile':
        // The sweep delivers what a coverage marker owes; deny records are the suspend function's; the digest and
        // reconcile functions deliver their own claims (the sweep what a crash left).
        return;
    }
  }

  /** The account is judged on its shards added up, with the decisions recorded on the ACCOUNT item. */
  private async evaluateAccount(period: string): Promise<void> {
    const kind = periodKindOfKey(period);
    // Shards are kept for every enabled kind of period; the account is judged on its own kind's only.
    if (!kind || kind !== ((await this.budgetOf(ACCOUNT_PRINCIPAL)).periodKind ?? this.config.periodKind)) return;
    await this.evaluateCounter(await this.accountImage(period));
  }

  /** A principal's (or group's) own limit item, read once per batch. */
  private ownLimit(principal: string) {
    return this.deps.budgets.ownLimitIn(principal, this.limitItems);
  }

  private budgetOf(principal: string): Promise<Budget> {
    let budget = this.budgets.get(principal);
    if (!budget) {
      budget = this.deps.budgets.budgetOf(principal, this.limitItems);
      this.budgets.set(principal, budget);
    }
    return budget;
  }

  private async evaluateCounter(stored: BudgetItem): Promise<void> {
    const key = { principal: stored.principal, period: stored.period };
    if (pendingEffects(stored).length > 0) await this.outbox.deliverPending(key);
    // A group is judged against its own limit only: a deleted group's counters are history, not on the default.
    if (isGroupPrincipal(stored.principal) && !(await this.ownLimit(stored.principal))) return;
    const budget = await this.budgetOf(stored.principal);
    // A prepaid grant is judged on the spend of calls from its first day on (the counter keeps spend per day).
    const image = budget.startsAt && stored.period === TOTAL_PERIOD ? sinceGrantStart(stored, budget.startsAt) : stored;
    const isPrincipal = image.principal !== ACCOUNT_PRINCIPAL && !isGroupPrincipal(image.principal);
    // Counters are kept for every enabled kind of period; a principal is judged on its own kind's only. A stop
    // denies whoever spends whatever their kind: a daily group's stop is seen on its members' daily counters.
    if (periodKindOfKey(image.period) !== (budget.periodKind ?? this.config.periodKind)) {
      if (isPrincipal) await this.circuitBreaker(image);
      return;
    }
    const limit = budget.limitUsd;
    let item = image;
    const judgedAgainst = item[A.generationLimitUsd];
    if (judgedAgainst !== undefined && !decimalOf(judgedAgainst).eq(limit)) {
      // The write returns the item without the spend of the account's shards: keep the spend judged here.
      const next = await this.newGeneration(item, limit);
      if (next) item = { ...next, ...spendAttributes(image) };
    }
    const spend = decimalOf(item.spendUsd);
    const confirmed = decimalOf(item.confirmedSpendUsd);
    await this.thresholds(item, spend, limit, confirmed);
    if (isExhausted(spend, limit)) {
      if (this.config.requireConfirmation && !isExhausted(confirmed, limit)) {
        await this.awaitConfirmation(item, spend, limit, confirmed);
      } else await this.exhausted(item, spend, limit, confirmed);
    }
    if (isPrincipal) await this.circuitBreaker(item);
  }

  /**
   * The limit in force changed since the current generation's decisions: start the next generation. A suspension
   * (or stop) that the new limit no longer justifies ends at once, through its workflow.
   */
  private async newGeneration(item: BudgetItem, limit: Usd): Promise<BudgetItem | undefined> {
    const g = generationOf(item);
    const spend = decimalOf(item.spendUsd);
    const same = inGeneration(g);
    // A lift allows spend until the period ends; a prepaid grant has no end, so its lift lasts until a new limit.
    const unlift = item.period === TOTAL_PERIOD && item[A.lifted] !== undefined;
    let next: BudgetItem | undefined;
    try {
      const { Attributes } = await this.deps.documents.send(
        new UpdateCommand({
          TableName: this.config.budgetsTable,
          Key: { principal: item.principal, period: item.period },
          // A limit the spend is now under also ends a suspension (or stop) whose wait has not begun yet.
          UpdateExpression: `SET #g = :next, #limit = :limit, #cause = :cause, alertLevel = :level${
            isExhausted(spend, limit) ? '' : ', #end = :next'
          }${unlift ? ' REMOVE #lifted' : ''}`,
          ConditionExpression: same.condition,
          ExpressionAttributeNames: {
            '#g': A.generation,
            '#limit': A.generationLimitUsd,
            '#cause': A.generationCause,
            ...(isExhausted(spend, limit) ? {} : { '#end': A.endWaitGeneration }),
            ...(unlift ? { '#lifted': A.lifted } : {}),
          },
          ExpressionAttributeValues: {
            ...same.values,
            ':next': g + 1,
            ':limit': NumberValue.from(toDecimalString(limit)),
            ':cause': 'limit-changed',
            ':level': rearmedLevel(spend, limit, this.config.thresholds),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      next = Attributes as BudgetItem;
    } catch (error) {
      if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
      return this.read(item.principal, item.period);
    }
    const suspension = next[A.suspension] as Suspension | undefined;
    if (suspension?.waitId && !isExhausted(spend, limit)) {
      const isStop = item.principal === ACCOUNT_PRINCIPAL || isGroupPrincipal(item.principal);
      await this.deps.waits
        .decide(suspension.waitId, {
          decision: isStop ? 'resume' : 'lift',
          reason: 'limit-raised',
          actor: ACTOR,
        })
        .catch((error: unknown) => {
          // Decided already (an admin, the period end): nothing more to end.
          if ((error as { name?: string }).name !== 'DecisionError') throw error;
        });
    }
    return next;
  }

  private async thresholds(item: BudgetItem, spend: Usd, limit: Usd, confirmed: Usd): Promise<void> {
    const alertedLevel = wholeOf(item.alertLevel);
    const crossing = crossingFor({ spend, limit, thresholds: this.config.thresholds, alertedLevel });
    if (!crossing) return;
    const g = generationOf(item);
    const decisionId = `threshold|${item.principal}|${item.period}|g${g}|${crossing.threshold}`;
    const details = {
      threshold: crossing.threshold,
      skipped: [...crossing.skipped],
      percent: crossing.percent.toFixed(2),
      spendUsd: toDecimalString(spend),
      limitUsd: toDecimalString(limit),
      alertId: decisionId,
      generation: g,
    };
    const message = thresholdAlertMessage({
      alertId: decisionId,
      principal: item.principal,
      ...(typeof item.principalArn === 'string' ? { principalArn: item.principalArn } : {}),
      period: item.period,
      ...periodEndOf(periodKindOfKey(item.period) ?? this.config.periodKind, this.now()),
      threshold: crossing.threshold,
      skipped: crossing.skipped,
      percent: crossing.percent,
      spend,
      confirmed,
      limit,
      topModels: topModels(item),
    });
    const effects: Effects = {
      decisionId,
      messages: [{ topic: 'alerts', message }],
      audit: {
        actor: ACTOR,
        action: 'threshold.alerted',
        subject: item.principal,
        period: item.period,
        details,
      },
    };
    const same = inGeneration(g);
    // Claimed only from the level this judgement saw: the crossing (and the thresholds it says were skipped) holds
    // for that level alone. If another evaluation raised it meanwhile, the claim fails, and the stream record of the
    // write that raised it judges the item again from the level it is now.
    const seen = alertedLevel === 0 ? '(attribute_not_exists(alertLevel) OR alertLevel = :seen)' : 'alertLevel = :seen';
    await this.decide(
      { kind: 'threshold-alert', principal: item.principal, threshold: crossing.threshold },
      { principal: item.principal, period: item.period },
      {
        UpdateExpression:
          'SET alertLevel = :t, alerts = list_append(if_not_exists(alerts, :none), :sent), #limit = if_not_exists(#limit, :limit), lastAlertAt = :at',
        ConditionExpression: `${seen} AND ${same.condition}`,
        ExpressionAttributeNames: { '#g': A.generation, '#limit': A.generationLimitUsd },
        ExpressionAttributeValues: {
          ...same.values,
          ':seen': alertedLevel,
          ':t': crossing.threshold,
          ':none': [],
          ':sent': [crossing.threshold],
          ':limit': NumberValue.from(toDecimalString(limit)),
          ':at': this.now().toISOString(),
        },
      },
      effects,
    );
  }

  /**
   * Past 100% on spend only logged, where only confirmed spend may suspend: no suspension (or stop) yet, but a
   * critical alert and an audit entry, once per generation. The sighting that confirms the spend comes as a stream
   * record and decides then; the coverage sweep escalates what is still unconfirmed after the wait.
   */
  private async awaitConfirmation(item: BudgetItem, spend: Usd, limit: Usd, confirmed: Usd): Promise<void> {
    if (item[A.state] === 'suspended' || item[A.state] === 'stopped' || item[A.lifted] !== undefined) return;
    const g = generationOf(item);
    const waitMinutes = this.config.confirmationWaitMinutes ?? 15;
    const effects: Effects = {
      decisionId: `awaiting-confirmation|${item.principal}|${item.period}|g${g}`,
      messages: [
        {
          topic: 'critical',
          message: exhaustedMessage({ ...this.notice(item, spend, limit, confirmed), awaitingMinutes: waitMinutes }),
        },
      ],
      audit: {
        actor: ACTOR,
        action: 'suspension.awaiting-confirmation',
        subject: item.principal,
        period: item.period,
        details: {
          spendUsd: toDecimalString(spend),
          confirmedSpendUsd: toDecimalString(confirmed),
          limitUsd: toDecimalString(limit),
          generation: g,
          waitMinutes,
        },
      },
    };
    const same = inGeneration(g);
    await this.decide(
      { kind: 'awaiting-confirmation', principal: item.principal },
      { principal: item.principal, period: item.period },
      {
        // Placeholders of its own: the claim adds the outbox's (`#since`, `:now`) to the same expression.
        UpdateExpression: 'SET #awaiting = :g, #awaitingSince = :at',
        ConditionExpression: `(attribute_not_exists(#awaiting) OR #awaiting < :g) AND ${same.condition} AND attribute_not_exists(#lifted)`,
        ExpressionAttributeNames: {
          '#g': A.generation,
          '#awaiting': ATTRIBUTES.awaitingConfirmationGeneration,
          '#awaitingSince': ATTRIBUTES.awaitingConfirmationSince,
          '#lifted': A.lifted,
        },
        ExpressionAttributeValues: { ...same.values, ':at': this.now().toISOString() },
      },
      effects,
    );
  }

  /** At 100%: a suspension (or, for the account, the emergency stop), once per generation. */
  private async exhausted(item: BudgetItem, spend: Usd, limit: Usd, confirmed: Usd): Promise<void> {
    const isAccount = item.principal === ACCOUNT_PRINCIPAL;
    const isGroup = isGroupPrincipal(item.principal);
    // The account's exhaustion stops all Bedrock use, a group's its members' (one stop each, its holds theirs).
    const isStop = isAccount || isGroup;
    const state = item[A.state];
    if (state === 'suspended' || state === 'stopped' || item[A.lifted] !== undefined) return;
    const g = generationOf(item);
    const decisionId = `${isStop ? 'stop' : 'suspend'}|${item.principal}|${item.period}|g${g}`;
    const principalArn = typeof item.principalArn === 'string' ? item.principalArn : undefined;
    const target = isStop
      ? undefined
      : enforcementTarget(
          { id: item.principal, ...(principalArn ? { arn: principalArn } : {}) },
          this.config.protection,
          false,
        );
    const exemptBecause = target?.status === 'protected' ? target.reason : undefined;
    const money = { spendUsd: toDecimalString(spend), limitUsd: toDecimalString(limit) };
    let effects: Effects;
    if (exemptBecause) {
      effects = {
        decisionId,
        messages: [
          {
            topic: 'critical',
            message: exhaustedMessage({ ...this.notice(item, spend, limit, confirmed), exemptBecause }),
          },
        ],
        audit: {
          actor: ACTOR,
          action: 'suspension.skipped',
          subject: item.principal,
          period: item.period,
          details: { ...money, reason: exemptBecause, generation: g },
        },
      };
    } else {
      const kind = isStop ? 'emergency-stop' : 'suspend';
      const name = executionName(kind, decisionId, `${item.period}-g${g}-${item.principal}`);
      const machine = isStop ? this.config.emergencyStopStateMachineArn : this.config.suspendStateMachineArn;
      const reason = isGroup
        ? groupReason(groupNameOf(item.principal))
        : isAccount
          ? 'account budget exhausted'
          : 'budget';
      const executionArn = executionArnOf(machine, name);
      effects = {
        decisionId,
        messages: [
          {
            topic: 'critical',
            message: exhaustedMessage({ ...this.notice(item, spend, limit, confirmed), executionName: name }),
          },
        ],
        audit: {
          actor: ACTOR,
          action: isGroup ? 'group.stopped' : isAccount ? 'emergency-stop.started' : 'suspension.requested',
          subject: item.principal,
          period: item.period,
          executionArn,
          details: {
            ...money,
            reason: isGroup ? reason : 'budget exhausted',
            generation: g,
            cause: String(item[A.generationCause] ?? 'spend'),
          },
        },
        start: {
          machine: isStop ? 'emergency-stop' : 'suspend',
          name,
          input: {
            principal: item.principal,
            principalArn: principalArn ?? null,
            period: item.period,
            generation: g,
            decisionId,
            holder: isStop ? stopHolder(name) : suspendHolder(name),
            reason,
            graceSeconds: this.config.graceSeconds ?? 0,
            ...money,
          },
        },
      };
    }
    const same = inGeneration(g);
    await this.decide(
      {
        kind: exemptBecause
          ? 'suspension-skipped'
          : isGroup
            ? 'group-stop'
            : isAccount
              ? 'emergency-stop'
              : 'suspension',
        principal: item.principal,
      },
      { principal: item.principal, period: item.period },
      {
        UpdateExpression: 'SET exhaustedGeneration = :g, #limit = if_not_exists(#limit, :limit)',
        ConditionExpression: `(attribute_not_exists(exhaustedGeneration) OR exhaustedGeneration < :g) AND ${same.condition} AND attribute_not_exists(#lifted)`,
        ExpressionAttributeNames: { '#g': A.generation, '#limit': A.generationLimitUsd, '#lifted': A.lifted },
        ExpressionAttributeValues: { ...same.values, ':limit': NumberValue.from(toDecimalString(limit)) },
      },
      effects,
    );
  }

  /**
   * While the account is stopped, any principal seen spending is denied by the stop, once; while a group it is
   * counted in is stopped, by the group's stop, once (a member new to the group, or one the stop's start missed).
   */
  private async circuitBreaker(item: BudgetItem): Promise<void> {
    const account = await this.account(item.period);
    if (account?.[A.state] === 'stopped') {
      const stop = account[A.suspension] as Suspension | undefined;
      await this.denyByStop(item, stop, { of: ACCOUNT_PRINCIPAL, deniedBy: A.stopDenied, reason: 'emergency-stop' });
    }
    const groups = item[ATTRIBUTES.groups];
    if (!(groups instanceof Set)) return;
    for (const name of groups as Set<string>) {
      const group = await this.groupCounter(groupPrincipal(name), item.period);
      if (group?.[A.state] !== 'stopped') continue;
      // Counted in it earlier this period, but taken out of it since: the group's stop is not for it.
      const definition = await this.ownLimit(groupPrincipal(name));
      if (!definition || !stillMember(item.principal, { members: definition.members ?? [], tag: definition.tag })) {
        continue;
      }
      const stop = group[A.suspension] as Suspension | undefined;
      await this.denyByStop(item, stop, {
        of: groupPrincipal(name),
        deniedBy: `${ATTRIBUTE_PREFIXES.groupStop}${name}`,
        reason: groupReason(name),
      });
    }
  }

  /**
   * A principal denied by a stop in force (`of`: whose stop, ACCOUNT or a group), claimed once per stop on the
   * attribute that records it (`deniedBy`).
   */
  private async denyByStop(
    item: BudgetItem,
    stop: Suspension | undefined,
    { of, deniedBy, reason }: { of: string; deniedBy: string; reason: string },
  ): Promise<void> {
    if (!stop || item[deniedBy] === stop.holder) return;
    const principalArn = typeof item.principalArn === 'string' ? item.principalArn : undefined;
    const effects: Effects = {
      decisionId: `${stop.holder}|${item.principal}`,
      invoke: {
        action: 'apply',
        executionArn: stop.executionArn,
        input: {
          principal: item.principal,
          ...(principalArn ? { principalArn } : {}),
          period: item.period,
          decisionId: stop.decisionId,
          holder: stop.holder,
          reason,
          stopOf: of,
          ...(stop.resources ? { resources: stop.resources } : {}),
        },
      },
    };
    await this.decide(
      { kind: 'stop-deny', principal: item.principal },
      { principal: item.principal, period: item.period },
      {
        UpdateExpression: 'SET #denied = :holder',
        ConditionExpression: 'attribute_not_exists(#denied) OR #denied <> :holder',
        ExpressionAttributeNames: { '#denied': deniedBy },
        ExpressionAttributeValues: { ':holder': stop.holder },
      },
      effects,
    );
  }

  private groupCounter(principal: string, period: string): Promise<BudgetItem | undefined> {
    const key = `${principal}\u0000${period}`;
    let group = this.groups.get(key);
    if (!group) {
      group = this.readItem(principal, period);
      this.groups.set(key, group);
    }
    return group;
  }

  private account(period: string): Promise<BudgetItem | undefined> {
    let account = this.accounts.get(period);
    if (!account) {
      account = this.readItem(ACCOUNT_PRINCIPAL, period);
      this.accounts.set(period, account);
    }
    return account;
  }

  private notice(item: BudgetItem, spend: Usd, limit: Usd, confirmed: Usd) {
    return { principal: item.principal, period: item.period, spend, confirmed, limit };
  }

  private async unknownModel(item: BudgetItem): Promise<void> {
    const model = item.principal.slice(KEYS.modelMarkerPrefix.length);
    const requests = wholeOf(item.requests);
    await this.decideOnce('unknown-model', item, {
      decisionId: `unknown-model|${model}`,
      messages: [{ topic: 'alerts', message: unknownModelMessage(model, requests) }],
      audit: { actor: ACTOR, action: 'model.unknown-seen', subject: item.principal, details: { model, requests } },
    });
  }

  /**
   * Two records of one request disagreed (ingest settled which stands in the transaction that wrote the marker):
   * a critical alert, and a `usage.conflict` entry holding both records on the chain of the principal whose record
   * stands. Ingest decided; the entry says so.
   */
  private async usageConflict(item: BudgetItem, conflict: ConflictItem): Promise<void> {
    if (conflict.outcome === 'corrected') return this.estimateReplaced(item, conflict);
    const [first, arriving] = conflict.records;
    const stands = conflict.outcome === 'replaced' ? arriving : first;
    await this.decideOnce('usage-conflict', item, {
      decisionId: `usage-conflict|${conflict.requestId}|${conflict.period}`,
      messages: [
        {
          topic: 'critical',
          message: usageConflictMessage({
            requestId: conflict.requestId,
            first: shownRecord(first),
            arriving: shownRecord(arriving),
            outcome: conflict.outcome,
          }),
        },
      ],
      audit: {
        actor: 'system:ingest',
        action: 'usage.conflict',
        subject: conflict.stands,
        ...this.auditPeriodOf(stands.time),
        requestId: conflict.requestId,
        details: {
          outcome: conflict.outcome,
          addedUsd: toDecimalString(decimalOf(conflict.addedUsd)),
          records: [auditedRecord(first), auditedRecord(arriving)],
        },
      },
    });
  }

  /**
   * The coverage sweep's estimate of a call was replaced by the exact cost its invocation log record gave (ingest
   * credited the one and charged the other in one transaction): audited once on the principal's chain, not alerted.
   */
  private async estimateReplaced(item: BudgetItem, correction: ConflictItem): Promise<void> {
    const [estimate, exact] = correction.records;
    await this.decideOnce('estimate-replaced', item, {
      decisionId: `estimate-replaced|${correction.requestId}|${correction.period}`,
      audit: {
        actor: 'system:ingest',
        action: 'usage.estimate-replaced',
        subject: correction.stands,
        ...this.auditPeriodOf(exact.time),
        requestId: correction.requestId,
        details: {
          estimateUsd: toDecimalString(decimalOf(estimate.costUsd)),
          exactUsd: toDecimalString(decimalOf(exact.costUsd)),
          addedUsd: toDecimalString(decimalOf(correction.addedUsd)),
          records: [auditedRecord(estimate), auditedRecord(exact)],
        },
      },
    });
  }

  /** The period an audit entry about a call belongs to, from the call's time (none for a time that is no date). */
  private auditPeriodOf(time: string): { period?: string } {
    const at = new Date(time);
    return Number.isNaN(at.getTime()) ? {} : { period: periodKey(this.config.periodKind, at) };
  }

  /** A marker's one decision: claimed on the marker (`alertedAt`) with its effects, then delivered. */
  private async decideOnce(kind: DecisionKind, item: BudgetItem, effects: Effects): Promise<void> {
    const key = { principal: item.principal, period: item.period };
    if (pendingEffects(item).length > 0) await this.outbox.deliverPending(key);
    await this.decide(
      { kind, principal: item.principal },
      key,
      {
        UpdateExpression: 'SET alertedAt = :at',
        ConditionExpression: 'attribute_not_exists(alertedAt)',
        ExpressionAttributeValues: { ':at': this.now().toISOString() },
      },
      effects,
    );
  }

  /**
   * One decision: claimed with the effects it owes by one conditional write, reported once claimed, then delivered.
   * A claim that fails its condition was decided before (or is not to be made): nothing more.
   */
  private async decide(
    decision: Omit<Decision, 'claimedAt'>,
    key: { principal: string; period: string },
    update: Parameters<Outbox['claim']>[1],
    effects: Effects,
  ): Promise<void> {
    if (!(await this.outbox.claim(key, update, effects))) return;
    this.deps.onDecision?.({ ...decision, claimedAt: this.now() });
    await this.outbox.deliver(key, effects);
  }

  /** A counter as the evaluator judges it: for the account, its shards added up. */
  private async read(principal: string, period: string): Promise<BudgetItem | undefined> {
    return principal === ACCOUNT_PRINCIPAL ? this.accountImage(period) : this.readItem(principal, period);
  }

  /** The ACCOUNT item's decisions with the spend, requests and per-model spend of all its shards. */
  private async accountImage(period: string): Promise<BudgetItem> {
    const total = await this.deps.budgets.accountTotal(period);
    return {
      ...total.item,
      principal: ACCOUNT_PRINCIPAL,
      period,
      spendUsd: NumberValue.from(toDecimalString(total.spendUsd)),
      confirmedSpendUsd: NumberValue.from(toDecimalString(total.confirmedSpendUsd)),
      requests: total.requests,
      ...Object.fromEntries(
        [...total.modelSpend].map(([model, spend]) => [
          `${MODEL_SPEND_PREFIX}${model}`,
          NumberValue.from(toDecimalString(spend)),
        ]),
      ),
    };
  }

  private async readItem(principal: string, period: string): Promise<BudgetItem | undefined> {
    const { Item } = await this.deps.documents.send(
      new GetCommand({ TableName: this.config.budgetsTable, Key: { principal, period }, ConsistentRead: true }),
    );
    return Item as BudgetItem | undefined;
  }
}

type StoredConflictRecord = ConflictItem['records'][number];

const shownRecord = (record: StoredConflictRecord): ConflictingRecord => ({
  principal: record.principal,
  costUsd: decimalOf(record.costUsd),
  model: record.model,
  source: record.source,
  time: record.time,
});

/** A conflicting record as its audit entry keeps it: money as a decimal string, token counts whole. */
const auditedRecord = (record: StoredConflictRecord) => ({
  principal: record.principal,
  principalArn: record.principalArn,
  costUsd: toDecimalString(decimalOf(record.costUsd)),
  model: record.model,
  modelId: record.modelId,
  source: record.source,
  time: record.time,
  catalogVersion: record.catalogVersion,
  ...(record.tokens
    ? { tokens: Object.fromEntries(Object.entries(record.tokens).map(([name, count]) => [name, wholeOf(count)])) }
    : {}),
});

/** What a counter's spend is: its total, confirmed part, request count and per-model spend. */
function spendAttributes(item: BudgetItem): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(item).filter(
      ([name]) =>
        name === 'spendUsd' ||
        name === 'confirmedSpendUsd' ||
        name === 'requests' ||
        name.startsWith(MODEL_SPEND_PREFIX),
    ),
  );
}
