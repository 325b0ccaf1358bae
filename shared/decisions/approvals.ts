import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SNSClient } from '@aws-sdk/client-sns';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditLog } from '../audit/log';
import { BudgetStore, LimitChangedError, topModels } from '../budgets';
import { ENFORCEMENT_ATTRIBUTES, OrganizationStopSchema } from '../budgets/items';
import { requireEnv } from '../config';
import { ACCOUNT_PRINCIPAL } from '../identity';
import { formatUsd, type MoneyError, parseLimitUsd, toDecimalString, type Usd, usd } from '../money';
import { publishAlert } from '../notify';
import { markLifted } from './admin';
import {
  approverOf,
  DECISIONS,
  type Decision,
  DecisionError,
  type DecisionName,
  type OverrideEffects,
  type PendingWait,
  PendingWaits,
} from './pending';

/**
 * Overrides: an admin's decision on a waiting workflow, by a signed link or `budgeteer override`. The decision is
 * recorded first (the first one wins, atomically), then its effects are applied (a raised limit, a lift, an audit
 * entry), then the workflow is told. Each effect is idempotent and keyed by the decision id, so a crash anywhere is
 * completed by the sweep (`wakeAll`) with the same result.
 */
export interface ApprovalsDeps {
  readonly documents: DynamoDBDocumentClient;
  readonly budgetsTable: string;
  readonly waits: PendingWaits;
  readonly budgets: BudgetStore;
  readonly audit: AuditLog;
  readonly sns: SNSClient;
  readonly criticalTopicArn: string;
  readonly now?: () => Date;
}

export interface OverrideRequest {
  readonly decision: string;
  readonly reason: string;
  readonly approver: string;
  /** For `raise`: by how much, in USD, as a decimal string. */
  readonly amountUsd?: string;
  readonly via: OverrideEffects['via'];
  readonly sourceIp?: string;
  readonly userAgent?: string;
}

/** What the confirmation page and `overrides` show of one decision. */
export interface ApprovalView {
  readonly wait: PendingWait;
  readonly spendUsd: Usd;
  /** For a suspension, the principal's limit in force; for a stop, the account budget. */
  readonly limitUsd: Usd;
  readonly principalArn?: string;
  readonly topModels: readonly { model: string; spend: Usd }[];
  /** For a suspension: the amounts the page offers to raise by. */
  readonly raiseOffers: readonly { amount: Usd; label: string }[];
  /** An organization's stop: the roots, OUs and accounts its SCP is attached to, which a resume detaches it from. */
  readonly scpTargets?: readonly string[];
}

/** A request that is not a decision: a missing reason or approver, a bad amount, a decision of the other kind. */
export class OverrideError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OverrideError';
  }
}

const MAX_TEXT = 500;

/** The organization stop's SCP record on the account's counter, if it is well formed. */
const organizationStopOf = (counter: Record<string, unknown> | undefined) => {
  const parsed = OrganizationStopSchema.safeParse(counter?.[ENFORCEMENT_ATTRIBUTES.organizationStop]);
  return parsed.success ? parsed.data : undefined;
};

/** The raises a message and the page offer: 25%, 50% and 100% of the limit, to the cent (any amount may be typed). */
export function raiseOffers(limit: Usd): { amount: Usd; label: string }[] {
  if (!limit.gt(0)) return [];
  return [
    ['0.25', '25%'],
    ['0.5', '50%'],
    ['1', '100%'],
  ].map(([share, label]) => ({ amount: usd(limit.times(share as string).round(2, 3)), label: label as string }));
}

function text(value: string | undefined, what: string): string {
  const trimmed = (value ?? '').trim();
  if (trimmed === '') throw new OverrideError(`${what} is required`);
  if (trimmed.length > MAX_TEXT) throw new OverrideError(`${what} is longer than ${MAX_TEXT} characters`);
  // Control characters would garble the audit entry and the messages that quote it.
  if (/\p{Cc}/u.test(trimmed)) throw new OverrideError(`${what} contains control characters`);
  return trimmed;
}

function raiseAmount(amountUsd: string | undefined): Usd {
  if (amountUsd === undefined || amountUsd.trim() === '') throw new OverrideError('raise needs an amount in USD');
  let amount: Usd;
  try {
    amount = parseLimitUsd(amountUsd.trim());
  } catch (error) {
    throw new OverrideError(`amount: ${(error as MoneyError).message}`);
  }
  if (amount.lte(0)) throw new OverrideError('amount: a raise must be more than 0 USD');
  return amount;
}

export const fitsKind = (kind: PendingWait['kind'], decision: string): decision is DecisionName =>
  (DECISIONS[kind] as readonly string[]).includes(decision);

/** The audit action and the once key of an override's entry. */
const auditOnce = (id: string) => `override:${id}`;

export class Approvals {
  private readonly now: () => Date;

  /** As a function builds it: tables, topic and workflows from its environment. */
  static fromEnv(
    deps: { documents: DynamoDBDocumentClient; sns: SNSClient; sfn: SFNClient; audit: AuditLog },
    env: Record<string, string | undefined> = process.env,
  ): Approvals {
    const budgetsTable = requireEnv('BUDGETS_TABLE', env);
    const waits = new PendingWaits(deps.documents, deps.sfn, requireEnv('PENDING_TABLE', env));
    return new Approvals({
      documents: deps.documents,
      budgetsTable,
      waits,
      budgets: new BudgetStore(deps.documents, budgetsTable, {
        configuredDefault: usd(requireEnv('DEFAULT_BUDGET_USD', env)),
        configuredAccount: usd(requireEnv('ACCOUNT_BUDGET_USD', env)),
      }),
      audit: deps.audit,
      sns: deps.sns,
      criticalTopicArn: requireEnv('CRITICAL_TOPIC_ARN', env),
    });
  }

  constructor(private readonly deps: ApprovalsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async view(id: string): Promise<ApprovalView | undefined> {
    const wait = await this.deps.waits.get(id);
    if (!wait) return undefined;
    const counter = await this.counter(wait.principal, wait.period);
    // A stop's page shows the limit of whose stop it is: the account's, or a group's.
    const limitUsd =
      wait.kind === 'suspension' || wait.principal !== ACCOUNT_PRINCIPAL
        ? (await this.deps.budgets.budgetOf(wait.principal)).limitUsd
        : await this.deps.budgets.limitOf(ACCOUNT_PRINCIPAL);
    const principalArn = typeof counter?.principalArn === 'string' ? counter.principalArn : undefined;
    const scp = wait.kind === 'emergency-stop' ? organizationStopOf(counter) : undefined;
    return {
      wait,
      spendUsd: await this.deps.budgets.spendOf(wait.principal, wait.period),
      limitUsd,
      ...(principalArn ? { principalArn } : {}),
      topModels: counter ? topModels(counter) : [],
      raiseOffers: wait.kind === 'suspension' ? raiseOffers(limitUsd) : [],
      ...(scp?.attached?.length ? { scpTargets: scp.attached } : {}),
    };
  }

  /** Waits that can still be decided, oldest first. */
  async pending(): Promise<PendingWait[]> {
    const now = this.now().getTime();
    const open: PendingWait[] = [];
    for await (const wait of this.deps.waits.undecided()) if (Date.parse(wait.expiresAt) > now) open.push(wait);
    return open.sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
  }

  /**
   * Decides a waiting workflow. Refused with DecisionError (unknown, decided, expired, not-allowed) or
   * OverrideError (the request itself), and then nothing changes.
   */
  async decide(id: string, request: OverrideRequest): Promise<PendingWait> {
    const reason = text(request.reason, 'a reason');
    const approver = text(request.approver, 'the approver');
    const wait = await this.deps.waits.get(id);
    if (!wait) throw new DecisionError(`no pending decision ${id}`, 'unknown');
    if (wait.decided) {
      const { decision, at } = wait.decided;
      throw new DecisionError(`already decided: ${decision} by ${approverOf(wait.decided)} at ${at}`, 'decided');
    }
    if (Date.parse(wait.expiresAt) <= this.now().getTime()) {
      throw new DecisionError(`the decision ${id} expired at ${wait.expiresAt}`, 'expired');
    }
    if (!fitsKind(wait.kind, request.decision)) {
      throw new DecisionError(
        `${request.decision} is not a decision for ${wait.kind === 'suspension' ? 'a suspension' : 'an emergency stop'} (${DECISIONS[wait.kind].join(', ')})`,
        'not-allowed',
      );
    }
    const override: OverrideEffects = {
      via: request.via,
      approver,
      ...(request.sourceIp ? { sourceIp: request.sourceIp } : {}),
      ...(request.userAgent ? { userAgent: request.userAgent.slice(0, 200) } : {}),
      ...(request.decision === 'raise' ? await this.raiseOf(wait.principal, raiseAmount(request.amountUsd)) : {}),
    };
    const decision: Decision = {
      decision: request.decision,
      reason: 'approval',
      // What the workflow records as who lifted: a link's holder is known only as the link, whatever name they type.
      actor: request.via === 'link' ? `link:${id}` : approver,
      note: reason,
      ...(request.decision === 'raise' ? { amountUsd: toDecimalString(raiseAmount(request.amountUsd)) } : {}),
      override,
    };
    const recorded = await this.deps.waits.record(id, decision);
    await this.complete(recorded);
    return recorded;
  }

  /** Completes every decision recorded but not sent to its workflow (the sweep, after a crash). */
  async wakeAll(): Promise<number> {
    let woken = 0;
    for await (const wait of this.deps.waits.unsent()) {
      await this.complete(wait);
      woken++;
    }
    return woken;
  }

  private async raiseOf(principal: string, amount: Usd): Promise<Partial<OverrideEffects>> {
    const own = await this.deps.budgets.ownLimit(principal);
    const from = own?.limitUsd ?? (await this.deps.budgets.limitOf(principal));
    return {
      limitFrom: toDecimalString(from),
      ownLimit: own !== undefined,
      limitTo: toDecimalString(from.plus(amount)),
    };
  }

  /** Applies a recorded decision's effects (each idempotent), audits it once, then wakes the workflow. */
  private async complete(wait: PendingWait): Promise<void> {
    const decided = wait.decided;
    const override = decided?.override;
    if (decided && override) {
      const limitNote = await this.applyEffects(wait, decided, override);
      await this.deps.audit.append(
        {
          // A link's holder is known only by the link; the name they typed is the approver, in the details.
          actor: decided.actor,
          action: decided.decision === 'keep' ? 'override.denied' : 'override.approved',
          subject: wait.principal,
          period: wait.period,
          executionArn: wait.executionArn,
          details: {
            decision: decided.decision,
            approver: approverOf(decided),
            reason: decided.note ?? '',
            approvalId: wait.id,
            via: override.via,
            ...(decided.amountUsd ? { amountUsd: decided.amountUsd } : {}),
            ...(override.limitFrom ? { limitFromUsd: override.limitFrom, limitToUsd: override.limitTo } : {}),
            ...(limitNote ? { note: limitNote } : {}),
            ...(override.sourceIp ? { sourceIp: override.sourceIp } : {}),
            ...(override.userAgent ? { userAgent: override.userAgent } : {}),
          },
        },
        { once: auditOnce(wait.id) },
      );
      if (decided.decision === 'keep') await this.notifyKept(wait, decided);
    }
    await this.deps.waits.wake(wait);
  }

  /** The effect of the decision itself; a note when it could not be applied as decided. */
  private async applyEffects(
    wait: PendingWait,
    decided: Decision,
    override: OverrideEffects,
  ): Promise<string | undefined> {
    switch (decided.decision) {
      case 'raise':
        return this.raiseLimit(wait.principal, decided.actor, override);
      case 'lift':
      case 'resume':
        await markLifted(
          { documents: this.deps.documents, table: this.deps.budgetsTable, now: this.now },
          wait.principal,
          wait.period,
          decided.actor,
          decided.note ?? '',
          wait.id,
        );
        return undefined;
      case 'keep':
        return undefined;
    }
  }

  private async raiseLimit(principal: string, actor: string, override: OverrideEffects): Promise<string | undefined> {
    if (override.limitFrom === undefined || override.limitTo === undefined) return 'no amount recorded';
    const to = usd(override.limitTo);
    const own = await this.deps.budgets.ownLimit(principal);
    try {
      await this.deps.budgets.setLimit(
        principal,
        to,
        actor,
        this.now(),
        override.ownLimit ? usd(override.limitFrom) : null,
        // The kind of period the principal's own limit is for (budgetOf would read the same item again).
        own?.periodKind,
      );
      return undefined;
    } catch (error) {
      if (!(error instanceof LimitChangedError)) throw error;
      // Applied already (a retry), or somebody set the limit in between: theirs stands, and the entry says so.
      if (own?.limitUsd.eq(to)) return undefined;
      return `the limit was changed by someone else meanwhile (now ${own ? formatUsd(own.limitUsd) : 'unset'}); it was not raised`;
    }
  }

  private async notifyKept(wait: PendingWait, decided: Decision): Promise<void> {
    const what = wait.kind === 'suspension' ? `${wait.principal} stays suspended` : 'the emergency stop stays on';
    await publishAlert(this.deps.sns, this.deps.criticalTopicArn, {
      subject: `Bedrock override refused: ${what} (${wait.period})`,
      body: [
        `${approverOf(decided)} decided to keep it: ${what} until the period ends or an admin lifts it.`,
        `  Reason: ${decided.note ?? ''}`,
        '',
        `Decision id: override:${wait.id}`,
      ].join('\n'),
      data: { approver: approverOf(decided), reason: decided.note ?? '', approvalId: wait.id, decision: 'keep' },
      attributes: {
        kind: 'override-kept',
        severity: 'critical',
        principal: wait.principal,
        period: wait.period,
        decisionId: `override:${wait.id}`,
      },
    });
  }

  private async counter(principal: string, period: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.deps.documents.send(
      new GetCommand({ TableName: this.deps.budgetsTable, Key: { principal, period }, ConsistentRead: true }),
    );
    return Item;
  }
}
