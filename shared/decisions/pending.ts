import { createHash } from 'node:crypto';
import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { type DynamoDBDocumentClient, GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';

/**
 * A workflow waiting for a decision (`.waitForTaskToken`): a suspension waits for a raise, a lift or the period end,
 * an emergency stop for a resume. The task token stays here, server-side, keyed by a short random id; links,
 * messages, logs and audit entries carry only the id.
 */
export type WaitKind = 'suspension' | 'emergency-stop';

export const DECISIONS = {
  suspension: ['raise', 'lift', 'keep'],
  'emergency-stop': ['resume', 'keep'],
} as const;
export type DecisionName = 'raise' | 'lift' | 'keep' | 'resume';

/** What ends a wait: sent to the workflow as the task's output. */
export interface Decision {
  readonly decision: DecisionName;
  /** Why the wait ended: `approval`, `admin`, `limit-raised`, `period-end`. */
  readonly reason: string;
  readonly actor: string;
  readonly note?: string;
  readonly amountUsd?: string;
  /** Present when an admin decided by a link or `budgeteer override`: its effects are applied before the wake. */
  readonly override?: OverrideEffects;
}

/** What an override changes besides ending the wait, recorded with the decision so a retry applies the same. */
export interface OverrideEffects {
  readonly via: 'link' | 'cli';
  /** Who decided, as they named themselves on a link's page or as their signature named them (CLI). */
  readonly approver?: string;
  /** For `raise`: the limit in force when decided, whether it was the principal's own, and the new one. */
  readonly limitFrom?: string;
  readonly ownLimit?: boolean;
  readonly limitTo?: string;
  /** Where the decision came from (a link's POST), for the audit entry. */
  readonly sourceIp?: string;
  readonly userAgent?: string;
}

export interface PendingWait {
  readonly id: string;
  readonly kind: WaitKind;
  readonly principal: string;
  readonly period: string;
  readonly executionArn: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly decided?: Decision & { readonly at: string };
}

export class DecisionError extends Error {
  constructor(
    message: string,
    readonly code: 'unknown' | 'decided' | 'expired' | 'not-allowed',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DecisionError';
  }
}

const isConditionFailed = (error: unknown) =>
  (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
const isGoneTask = (error: unknown) =>
  ['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist'].includes((error as { name?: string } | undefined)?.name ?? '');

/** Days a decided or expired wait is kept (TTL) for the "already decided" page and for auditors' cross-checks. */
const KEEP_DAYS = 40;

/** The name to show for who decided: the approver an override names, else the deciding actor. */
export const approverOf = (decided?: Pick<Decision, 'actor' | 'override'>): string =>
  decided?.override?.approver ?? decided?.actor ?? '?';

/** A wait as callers see it: the task token stays in this module. */
function withoutSecrets(item: Record<string, unknown>): PendingWait {
  const { taskToken: _token, ttl: _ttl, wakePending: _wake, notifiedAt: _notified, ...wait } = item;
  return wait as unknown as PendingWait;
}

/**
 * A workflow's wait has one id, whatever retries of its step follow: the links sent with the first attempt stay
 * good, and a decision recorded while no attempt held a token reaches the next one. Not a secret (links are
 * signed; the token stays here).
 */
export const waitIdOf = (executionArn: string, kind: WaitKind): string =>
  createHash('sha256').update(`${kind}\u0000${executionArn}`).digest('base64url').slice(0, 16);

/** What registering a wait's task token found. */
export interface Registered {
  readonly wait: PendingWait;
  /** A decision was recorded before this attempt began (an earlier attempt failed): sent to this token at once. */
  readonly woken: boolean;
  /** The critical message with the links went out with an earlier attempt. */
  readonly notified: boolean;
}

export class PendingWaits {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly sfn: SFNClient,
    private readonly table: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Keeps a wait's task token under its id. Every attempt of the workflow's step (Step Functions gives each a new
   * token) registers its own over the last; the first attempt's creation time and expiry stay, so its links stay
   * good. A decision recorded before (while no attempt was waiting) is sent to the new token at once.
   */
  async register(wait: Omit<PendingWait, 'createdAt' | 'decided'>, taskToken: string): Promise<Registered> {
    const ttl = Math.floor(Date.parse(wait.expiresAt) / 1000) + KEEP_DAYS * 86_400;
    const { Attributes = {} } = await this.documents.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id: wait.id },
        UpdateExpression:
          'SET taskToken = :token, #kind = :kind, principal = :principal, #period = :period, executionArn = :execution, ' +
          'createdAt = if_not_exists(createdAt, :now), expiresAt = if_not_exists(expiresAt, :expires), ' +
          '#ttl = if_not_exists(#ttl, :ttl)',
        ExpressionAttributeNames: { '#kind': 'kind', '#period': 'period', '#ttl': 'ttl' },
        ExpressionAttributeValues: {
          ':token': taskToken,
          ':kind': wait.kind,
          ':principal': wait.principal,
          ':period': wait.period,
          ':execution': wait.executionArn,
          ':now': this.now().toISOString(),
          ':expires': wait.expiresAt,
          ':ttl': ttl,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const decided = Attributes.decided as Decision | undefined;
    const woken = decided !== undefined && decided.decision !== 'keep';
    if (woken) await this.send(Attributes);
    return { wait: withoutSecrets(Attributes), woken, notified: typeof Attributes.notifiedAt === 'string' };
  }

  /** The critical message with the wait's links went out: a retried step does not send it again. */
  async notified(id: string): Promise<void> {
    await this.documents.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id },
        UpdateExpression: 'SET notifiedAt = if_not_exists(notifiedAt, :now)',
        ExpressionAttributeValues: { ':now': this.now().toISOString() },
      }),
    );
  }

  async get(id: string): Promise<PendingWait | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }),
    );
    return Item ? withoutSecrets(Item) : undefined;
  }

  /**
   * The first decision wins: it is recorded with a condition (nobody decided before), then sent to the workflow.
   * A crash between the two leaves `wakePending` set, and the sweep sends it again.
   */
  async decide(id: string, decision: Decision): Promise<PendingWait> {
    // An admin's command, a raised limit or the system may end a wait that an override kept: `keep` spends the
    // link, not the admins' power to lift.
    const recorded = await this.recordRaw(id, decision, true);
    await this.send(recorded);
    return withoutSecrets(recorded);
  }

  /**
   * Records the first decision (a conditional write: nobody decided before, the wait has not expired) and marks it
   * to be sent; `wake` sends it. Between the two, the caller may apply the decision's own effects.
   */
  async record(id: string, decision: Decision): Promise<PendingWait> {
    return withoutSecrets(await this.recordRaw(id, decision));
  }

  private async recordRaw(id: string, decision: Decision, overKeep = false): Promise<Record<string, unknown>> {
    const at = this.now().toISOString();
    try {
      const { Attributes } = await this.documents.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          UpdateExpression: overKeep
            ? 'SET kept = if_not_exists(decided, :none), decided = :decided, wakePending = :yes'
            : 'SET decided = :decided, wakePending = :yes',
          ConditionExpression: overKeep
            ? 'attribute_exists(id) AND (attribute_not_exists(decided) OR decided.decision = :keep)'
            : 'attribute_exists(id) AND attribute_not_exists(decided)',
          ExpressionAttributeValues: {
            ':decided': { ...decision, at },
            ':yes': true,
            ...(overKeep ? { ':keep': 'keep', ':none': null } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ?? {};
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const existing = await this.get(id);
      if (!existing) throw new DecisionError(`no pending decision ${id}`, 'unknown', { cause: error });
      throw new DecisionError(
        `already decided: ${existing.decided?.decision} by ${approverOf(existing.decided)} at ${existing.decided?.at}`,
        'decided',
        { cause: error },
      );
    }
  }

  /** Decisions recorded but not yet sent to their workflow (a crash between the two), for the sweep. */
  async *unsent(): AsyncGenerator<PendingWait> {
    yield* this.scan('wakePending = :yes', { ':yes': true });
  }

  /** Waits nobody has decided yet, expired ones included (the caller tells them apart by `expiresAt`). */
  async *undecided(): AsyncGenerator<PendingWait> {
    yield* this.scan('attribute_not_exists(decided)', {});
  }

  /** Sends a recorded decision to its workflow (`keep` sends nothing: the workflow goes on waiting). */
  async wake(wait: Pick<PendingWait, 'id'>): Promise<void> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.table, Key: { id: wait.id }, ConsistentRead: true }),
    );
    if (!Item) return;
    await this.send(Item);
  }

  private async *scan(filter: string, values: Record<string, unknown>): AsyncGenerator<PendingWait> {
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: filter,
          ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
          ConsistentRead: true,
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) yield withoutSecrets(item);
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }

  private async send(item: Record<string, unknown>): Promise<void> {
    const decided = item.decided as Decision | undefined;
    if (decided && decided.decision !== 'keep') {
      try {
        await this.sfn.send(
          new SendTaskSuccessCommand({ taskToken: String(item.taskToken), output: JSON.stringify(decided) }),
        );
      } catch (error) {
        // The workflow ended meanwhile (its period ended): nothing is waiting for this decision any more.
        if (!isGoneTask(error)) throw error;
      }
    }
    await this.documents.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id: String(item.id) },
        UpdateExpression: 'REMOVE wakePending',
      }),
    );
  }
}
