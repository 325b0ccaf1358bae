import { type DynamoDBDocumentClient, GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditLog } from '../audit/log';
import { ENFORCEMENT_ATTRIBUTES as A, type Suspension, stopHolder } from '../enforcement/state';
import { ACCOUNT_PRINCIPAL } from '../identity';
import { type Effects, executionArnOf, executionName, type Outbox } from './outbox';
import { type Decision, DecisionError, type PendingWaits } from './pending';

/**
 * What admins decide without waiting for a threshold: lift one principal until the period ends, stop the whole
 * account, resume it. Each goes through the same generations, outbox and workflows as the evaluator's decisions.
 */
export interface AdminDeps {
  readonly documents: DynamoDBDocumentClient;
  readonly table: string;
  readonly waits: PendingWaits;
  readonly audit: AuditLog;
  readonly outbox: Outbox;
  readonly emergencyStopStateMachineArn: string;
  readonly now?: () => Date;
}

export class AdminActionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdminActionError';
  }
}

type Item = Record<string, unknown>;
const wholeOf = (value: unknown) => Number((value as { value?: string } | undefined)?.value ?? value ?? 0);

/** A suspension or stop in force, as `suspensions` lists it. */
export interface SuspensionView {
  readonly principal: string;
  readonly period: string;
  readonly state: string;
  readonly since: string;
  readonly reason: string;
  readonly executionArn: string;
  readonly generation: number;
  /** The pending decision that can end it, once the workflow waits. */
  readonly waitId?: string;
}

export class AdminActions {
  private readonly now: () => Date;

  constructor(private readonly deps: AdminDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Allows the principal until its period ends without changing its limit: recorded on the item (no suspension of
   * it follows in this period), a new generation, and a suspension in force ended through its workflow.
   */
  async lift(
    principal: string,
    period: string,
    actor: string,
    reason: string,
    context: Readonly<Record<string, string>> = {},
  ): Promise<{ wasSuspended: boolean }> {
    const next = await markLifted(this.deps, principal, period, actor, reason);
    await this.deps.audit.append({
      actor,
      action: 'override.approved',
      subject: principal,
      period,
      details: { decision: 'lift', reason, generation: wholeOf(next[A.generation]), ...context },
    });
    const suspension = next[A.suspension] as Suspension | undefined;
    if (suspension?.waitId) {
      await endWait(this.deps.waits, suspension.waitId, { decision: 'lift', reason: 'admin', actor, note: reason });
    }
    return { wasSuspended: suspension !== undefined };
  }

  /** Stops all Bedrock use in the account now: the emergency-stop workflow, claimed once per generation. */
  async emergencyStop(
    period: string,
    actor: string,
    reason: string,
    context: Readonly<Record<string, string>> = {},
  ): Promise<string> {
    const item = await this.read(ACCOUNT_PRINCIPAL, period);
    if (item?.[A.state] === 'stopped') throw new AdminActionError('the account is already stopped');
    const g = wholeOf(item?.[A.generation]);
    const decisionId = `stop|ACCOUNT|${period}|g${g}|admin`;
    const name = executionName('emergency-stop', decisionId, `${period}-g${g}-admin`);
    const executionArn = executionArnOf(this.deps.emergencyStopStateMachineArn, name);
    const effects: Effects = {
      decisionId,
      audit: {
        actor,
        action: 'emergency-stop.started',
        subject: ACCOUNT_PRINCIPAL,
        period,
        executionArn,
        details: { reason, generation: g, cause: 'admin', ...context },
      },
      start: {
        machine: 'emergency-stop',
        name,
        input: {
          principal: ACCOUNT_PRINCIPAL,
          principalArn: null,
          period,
          generation: g,
          decisionId,
          holder: stopHolder(name),
          reason,
          graceSeconds: 0,
        },
      },
    };
    const key = { principal: ACCOUNT_PRINCIPAL, period };
    const claimed = await this.deps.outbox.claim(
      key,
      {
        UpdateExpression: 'SET #stopBy = :actor',
        ConditionExpression: 'attribute_not_exists(#state) OR #state <> :stopped',
        ExpressionAttributeNames: { '#stopBy': 'stopRequestedBy', '#state': A.state },
        ExpressionAttributeValues: { ':actor': actor, ':stopped': 'stopped' },
      },
      effects,
    );
    if (!claimed) throw new AdminActionError('the account is already stopped');
    await this.deps.outbox.deliver(key, effects);
    return executionArn;
  }

  /** Ends the emergency stop: a new generation (no automatic stop follows this period) and the wait ended. */
  async resume(
    period: string,
    actor: string,
    reason: string,
    context: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    const item = await this.read(ACCOUNT_PRINCIPAL, period);
    const stop = item?.[A.suspension] as Suspension | undefined;
    if (item?.[A.state] !== 'stopped' || !stop) throw new AdminActionError('the account is not stopped');
    const next = await markLifted(this.deps, ACCOUNT_PRINCIPAL, period, actor, reason);
    await this.deps.audit.append({
      actor,
      action: 'override.approved',
      subject: ACCOUNT_PRINCIPAL,
      period,
      details: { decision: 'resume', reason, generation: wholeOf(next[A.generation]), ...context },
    });
    // A stop still denying principals has no wait yet: the new generation ends it as soon as it waits.
    if (stop.waitId) {
      await endWait(this.deps.waits, stop.waitId, { decision: 'resume', reason: 'admin', actor, note: reason });
    }
  }

  /** Every suspension and stop in force in the period. */
  async suspensions(period: string): Promise<SuspensionView[]> {
    const views: SuspensionView[] = [];
    let ExclusiveStartKey: Item | undefined;
    do {
      const page = await this.deps.documents.send(
        new ScanCommand({
          TableName: this.deps.table,
          FilterExpression: '#period = :period AND attribute_exists(#s)',
          ExpressionAttributeNames: { '#period': 'period', '#s': A.suspension },
          ExpressionAttributeValues: { ':period': period },
          ConsistentRead: true,
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const s = item[A.suspension] as Suspension;
        views.push({
          principal: String(item.principal),
          period,
          state: String(item[A.state] ?? 'active'),
          since: s.since,
          reason: s.reason,
          executionArn: s.executionArn,
          generation: wholeOf(s.generation),
          ...(s.waitId ? { waitId: s.waitId } : {}),
        });
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return views.sort((a, b) => (a.principal < b.principal ? -1 : 1));
  }

  private read(principal: string, period: string): Promise<Item | undefined> {
    return readItem(this.deps, principal, period);
  }
}

/** What a lift needs: the Budgets table and a clock. */
export type LiftDeps = Pick<AdminDeps, 'documents' | 'table' | 'now'>;

/**
 * Ends the wait of a suspension or stop with an admin's decision. A wait another decision ended already (a lift,
 * raise or resume; a `keep` does not end one) is ended: two admins lifting at once both succeed, and each lift is
 * recorded on the item and audited, instead of the second failing after its lift was recorded.
 */
async function endWait(waits: PendingWaits, waitId: string, decision: Decision): Promise<void> {
  try {
    await waits.decide(waitId, decision);
  } catch (error) {
    if (!(error instanceof DecisionError && error.code === 'decided')) throw error;
  }
}

async function readItem(deps: LiftDeps, principal: string, period: string): Promise<Item | undefined> {
  const { Item } = await deps.documents.send(
    new GetCommand({ TableName: deps.table, Key: { principal, period }, ConsistentRead: true }),
  );
  return Item;
}

/**
 * Records a lift (or, on ACCOUNT, a resume) on the item and starts a new generation; no suspension of the principal
 * (no automatic stop of the account) follows in this period. With `approvalId`, a repeat for the same approval
 * changes nothing: an override's effects are applied again after a crash.
 */
export async function markLifted(
  deps: LiftDeps,
  principal: string,
  period: string,
  actor: string,
  reason: string,
  approvalId?: string,
): Promise<Item> {
  const item = await readItem(deps, principal, period);
  const lifted = item?.[A.lifted] as { approvalId?: string } | undefined;
  if (approvalId !== undefined && lifted?.approvalId === approvalId && item) return item;
  const at = (deps.now ?? (() => new Date()))().toISOString();
  const g = wholeOf(item?.[A.generation]);
  const condition = g === 0 ? 'attribute_not_exists(#g) OR #g = :g' : '#g = :g';
  try {
    const { Attributes } = await deps.documents.send(
      new UpdateCommand({
        TableName: deps.table,
        Key: { principal, period },
        // Ends the suspension (or stop) in force even if its workflow has not begun to wait yet.
        UpdateExpression: 'SET #g = :next, #cause = :cause, #end = :next, #lifted = :lifted',
        ConditionExpression: condition,
        ExpressionAttributeNames: {
          '#g': A.generation,
          '#cause': A.generationCause,
          '#end': A.endWaitGeneration,
          '#lifted': A.lifted,
        },
        ExpressionAttributeValues: {
          ':g': g,
          ':next': g + 1,
          ':cause': principal === ACCOUNT_PRINCIPAL ? 'resume' : 'lift',
          ':lifted': { by: actor, at, reason, ...(approvalId ? { approvalId } : {}) },
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return Attributes ?? {};
  } catch (error) {
    if ((error as { name?: string }).name === 'ConditionalCheckFailedException') {
      throw new AdminActionError(`${principal} changed meanwhile (a concurrent decision); run the command again`, {
        cause: error,
      });
    }
    throw error;
  }
}
