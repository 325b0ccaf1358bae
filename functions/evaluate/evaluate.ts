import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { SNSClient } from '@aws-sdk/client-sns';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  NumberValue,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { AuditLog } from '../../shared/audit/log';
import { type BudgetStore, decimalOf } from '../../shared/budgets';
import { ACCOUNT_PRINCIPAL } from '../../shared/identity';
import { LIMIT_PERIOD, MODEL_SPEND_PREFIX } from '../../shared/ledger';
import { toDecimalString, type Usd } from '../../shared/money';
import { publishAlert } from '../../shared/notify';
import { type PeriodKind, periodEnd, periodKey, periodKindOfKey } from '../../shared/period';
import { type AlertMessage, exhaustedMessage, thresholdAlertMessage, unknownModelMessage } from './alerts';
import { crossingFor, isExhausted } from './crossing';

export interface EvaluatorConfig {
  readonly budgetsTable: string;
  readonly thresholds: readonly number[];
  readonly periodKind: PeriodKind;
  readonly alertsTopicArn: string;
  readonly criticalTopicArn: string;
  readonly suspendStateMachineArn: string;
  readonly emergencyStopStateMachineArn: string;
  /** Principal ARNs never suspended (alert only). */
  readonly breakGlassArns: readonly string[];
}

export interface EvaluatorDeps {
  readonly documents: DynamoDBDocumentClient;
  readonly sns: SNSClient;
  readonly sfn: SFNClient;
  readonly audit: AuditLog;
  readonly budgets: BudgetStore;
  readonly now?: () => Date;
}

/** A Budgets item as the stream shows it (unmarshalled with wrapNumbers). */
export type BudgetItem = Record<string, unknown> & { principal: string; period: string };

interface PendingAlert {
  readonly alertId: string;
  readonly threshold: number;
  readonly skipped: number[];
  readonly percent: string;
  readonly spendUsd: string;
  readonly limitUsd: string;
}

const ACTOR = 'system:evaluate';
const TOP_MODELS = 3;

/** Step Functions execution names: 1-80 of [A-Za-z0-9-_]; a hash keeps distinct principals distinct. */
export function executionName(kind: 'suspend' | 'emergency-stop', principal: string, period: string): string {
  const hash = createHash('sha256').update(`${principal}\u0000${period}`).digest('hex').slice(0, 16);
  const readable = principal.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 40);
  return `${kind}-${period}-${hash}-${readable}`.slice(0, 80);
}

/**
 * Turns spend changes into decisions. Every decision is claimed with a conditional write on the principal's
 * period item before it is acted on, so stream retries, duplicates and concurrent updates cannot repeat it:
 * - threshold alerts: `alertLevel` only rises; the claim also stores the alert as `pendingAlert`, which is
 *   published and then cleared. A failure after the claim leaves it pending, and the claim's own stream record
 *   (or the retry) publishes it: nothing is lost, and at most that failure window can repeat it.
 * - 100%: the suspension (or, for the account, emergency-stop) workflow is started under a name derived from
 *   principal and period, so a second start is a no-op.
 */
export class Evaluator {
  private readonly now: () => Date;
  private readonly budgets = new Map<string, Promise<{ limitUsd: Usd; periodKind?: PeriodKind }>>();

  constructor(
    private readonly config: EvaluatorConfig,
    private readonly deps: EvaluatorDeps,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Limits are read once per batch: a change of limit arrives as its own stream record and is seen next batch. */
  startBatch(): void {
    this.budgets.clear();
  }

  async evaluate(item: BudgetItem): Promise<void> {
    if (item.principal.startsWith('MODEL#')) return this.unknownModel(item);
    if (item.period === LIMIT_PERIOD) {
      // A new limit counts at once: re-evaluate the principal's current period against it.
      if (item.principal !== ACCOUNT_PRINCIPAL && item.principal.includes('#')) return;
      const kind = (await this.budgetOf(item.principal)).periodKind ?? this.config.periodKind;
      const current = await this.read(item.principal, periodKey(kind, this.now()));
      if (current) await this.evaluateCounter(current);
      return;
    }
    if (item.principal.includes('#')) return;
    await this.evaluateCounter(item);
  }

  private budgetOf(principal: string): Promise<{ limitUsd: Usd; periodKind?: PeriodKind }> {
    let budget = this.budgets.get(principal);
    if (!budget) {
      budget = this.deps.budgets.budgetOf(principal);
      this.budgets.set(principal, budget);
    }
    return budget;
  }

  private async evaluateCounter(item: BudgetItem): Promise<void> {
    const budget = await this.budgetOf(item.principal);
    // Counters are kept for every enabled kind of period; a principal is judged on its own kind's only.
    if (periodKindOfKey(item.period) !== (budget.periodKind ?? this.config.periodKind)) return;
    const spend = decimalOf(item.spendUsd);
    const limit = budget.limitUsd;
    const alertedLevel = item.alertLevel === undefined ? 0 : Number(decimalOf(item.alertLevel));
    const crossing = crossingFor({ spend, limit, thresholds: this.config.thresholds, alertedLevel });
    if (crossing) {
      const pending: PendingAlert = {
        alertId: `${item.principal}|${item.period}|${crossing.threshold}`,
        threshold: crossing.threshold,
        skipped: [...crossing.skipped],
        percent: crossing.percent.toFixed(2),
        spendUsd: toDecimalString(spend),
        limitUsd: toDecimalString(limit),
      };
      if (await this.claimAlert(item, pending)) await this.deliver(item, pending);
    } else if (item.pendingAlert) {
      // A record written by a claim (or a retry after a failure): deliver it if nobody has yet.
      const current = await this.read(item.principal, item.period);
      const pending = current?.pendingAlert as PendingAlert | undefined;
      if (current && pending) await this.deliver(current, pending);
    }
    if (isExhausted(spend, limit)) await this.exhausted(item, spend, limit);
  }

  private claimAlert(item: BudgetItem, pending: PendingAlert): Promise<boolean> {
    return this.updateIf(item, {
      UpdateExpression:
        'SET alertLevel = :t, alerts = list_append(if_not_exists(alerts, :none), :sent), pendingAlert = :pending',
      ConditionExpression: 'attribute_not_exists(alertLevel) OR alertLevel < :t',
      ExpressionAttributeValues: {
        ':t': pending.threshold,
        ':none': [],
        ':sent': [pending.threshold],
        ':pending': pending,
      },
    });
  }

  /**
   * A conditional update of a Budgets item: the way every decision is claimed. Resolves false when the condition
   * does not hold, i.e. the decision was already made (by an earlier delivery or a concurrent one).
   */
  private async updateIf(
    item: BudgetItem,
    update: Pick<UpdateCommandInput, 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'>,
  ): Promise<boolean> {
    try {
      await this.deps.documents.send(
        new UpdateCommand({
          TableName: this.config.budgetsTable,
          Key: { principal: item.principal, period: item.period },
          ...update,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private async deliver(item: BudgetItem, pending: PendingAlert): Promise<void> {
    const message = thresholdAlertMessage({
      alertId: pending.alertId,
      principal: item.principal,
      principalArn: typeof item.principalArn === 'string' ? item.principalArn : undefined,
      period: item.period,
      periodEnd: periodEnd(periodKindOfKey(item.period) ?? this.config.periodKind, this.now()),
      threshold: pending.threshold,
      skipped: pending.skipped.map(Number),
      percent: decimalOf(pending.percent),
      spend: decimalOf(pending.spendUsd),
      limit: decimalOf(pending.limitUsd),
      topModels: topModels(item),
    });
    await this.publish(this.config.alertsTopicArn, message);
    await this.deps.audit.append({
      actor: ACTOR,
      action: 'threshold.alerted',
      subject: item.principal,
      period: item.period,
      details: {
        threshold: pending.threshold,
        skipped: pending.skipped.map(Number),
        percent: pending.percent,
        spendUsd: pending.spendUsd,
        limitUsd: pending.limitUsd,
        alertId: pending.alertId,
      },
    });
    await this.updateIf(item, {
      UpdateExpression: 'REMOVE pendingAlert SET lastAlertAt = :now',
      ConditionExpression: 'pendingAlert.alertId = :id',
      ExpressionAttributeValues: { ':id': pending.alertId, ':now': this.now().toISOString() },
    });
  }

  private async exhausted(item: BudgetItem, spend: Usd, limit: Usd): Promise<void> {
    if (item.enforcementStartedAt) return;
    const isAccount = item.principal === ACCOUNT_PRINCIPAL;
    const exemptBecause = this.exemption(item);
    let executionArn: string | undefined;
    let name: string | undefined;
    if (!exemptBecause) {
      name = executionName(isAccount ? 'emergency-stop' : 'suspend', item.principal, item.period);
      executionArn = await this.startWorkflow(
        isAccount ? this.config.emergencyStopStateMachineArn : this.config.suspendStateMachineArn,
        name,
        {
          principal: item.principal,
          principalArn: item.principalArn ?? null,
          principalKind: item.principalKind ?? null,
          period: item.period,
          spendUsd: toDecimalString(spend),
          limitUsd: toDecimalString(limit),
        },
      );
    }
    // Recorded after the start, so a failure in between retries the (idempotent) start rather than skipping it.
    const recorded = await this.updateIf(item, {
      UpdateExpression: 'SET enforcementStartedAt = :now, enforcement = :enforcement',
      ConditionExpression: 'attribute_not_exists(enforcementStartedAt)',
      ExpressionAttributeValues: {
        ':now': this.now().toISOString(),
        ':enforcement': exemptBecause
          ? { exempt: exemptBecause }
          : { executionArn: executionArn as string, executionName: name as string },
      },
    });
    if (!recorded) return;
    await this.publish(
      this.config.criticalTopicArn,
      exhaustedMessage({
        principal: item.principal,
        period: item.period,
        spend,
        limit,
        exemptBecause,
        executionName: name,
      }),
    );
    await this.deps.audit.append({
      actor: ACTOR,
      action: isAccount ? 'emergency-stop.started' : 'suspension.requested',
      subject: item.principal,
      period: item.period,
      executionArn,
      details: {
        spendUsd: toDecimalString(spend),
        limitUsd: toDecimalString(limit),
        reason: exemptBecause ? `exempt: ${exemptBecause}` : 'budget exhausted',
      },
    });
  }

  private exemption(item: BudgetItem): string | undefined {
    if (item.principal === 'root' || item.principalKind === 'root') return 'the account root is never suspended';
    if (typeof item.principalArn === 'string' && this.config.breakGlassArns.includes(item.principalArn)) {
      return 'it is a break-glass principal';
    }
    return undefined;
  }

  private async startWorkflow(stateMachineArn: string, name: string, input: Record<string, unknown>): Promise<string> {
    try {
      const { executionArn } = await this.deps.sfn.send(
        new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
      );
      return executionArn ?? executionArnOf(stateMachineArn, name);
    } catch (error) {
      // Started before (a retry, or a second trigger): the name makes the start idempotent.
      if (error instanceof ExecutionAlreadyExists) return executionArnOf(stateMachineArn, name);
      throw error;
    }
  }

  private async unknownModel(item: BudgetItem): Promise<void> {
    const model = item.principal.slice('MODEL#'.length);
    const claimed = await this.updateIf(item, {
      UpdateExpression: 'SET alertedAt = :now',
      ConditionExpression: 'attribute_not_exists(alertedAt)',
      ExpressionAttributeValues: { ':now': this.now().toISOString() },
    });
    if (!claimed) return;
    const requests = Number(decimalOf(item.requests ?? new NumberValue('0')));
    await this.publish(this.config.alertsTopicArn, unknownModelMessage(model, requests));
    await this.deps.audit.append({
      actor: ACTOR,
      action: 'model.unknown-seen',
      subject: item.principal,
      details: { model, requests },
    });
  }

  private async read(principal: string, period: string): Promise<BudgetItem | undefined> {
    const { Item } = await this.deps.documents.send(
      new GetCommand({ TableName: this.config.budgetsTable, Key: { principal, period }, ConsistentRead: true }),
    );
    return Item as BudgetItem | undefined;
  }

  private publish(topicArn: string, message: AlertMessage): Promise<void> {
    return publishAlert(this.deps.sns, topicArn, message);
  }
}

function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

function topModels(item: BudgetItem): { model: string; spend: Usd }[] {
  return Object.entries(item)
    .filter(([key]) => key.startsWith(MODEL_SPEND_PREFIX))
    .map(([key, value]) => ({ model: key.slice(MODEL_SPEND_PREFIX.length), spend: decimalOf(value) }))
    .sort((a, b) => b.spend.cmp(a.spend))
    .slice(0, TOP_MODELS);
}
