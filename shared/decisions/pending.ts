import { randomBytes } from 'node:crypto';
import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';

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

export const newWaitId = () => randomBytes(12).toString('base64url');

export class PendingWaits {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly sfn: SFNClient,
    private readonly table: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(wait: Omit<PendingWait, 'createdAt' | 'decided'>, taskToken: string): Promise<void> {
    const ttl = Math.floor(Date.parse(wait.expiresAt) / 1000) + KEEP_DAYS * 86_400;
    await this.documents.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...wait, createdAt: this.now().toISOString(), taskToken, ttl },
        ConditionExpression: 'attribute_not_exists(id)',
      }),
    );
  }

  async get(id: string): Promise<PendingWait | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { taskToken: _token, ttl: _ttl, wakePending: _wake, ...wait } = Item;
    return wait as PendingWait;
  }

  /**
   * The first decision wins: it is recorded with a condition (nobody decided before), then sent to the workflow.
   * A crash between the two leaves `wakePending` set, and `wakeAll` (the sweep) sends it again.
   */
  async decide(id: string, decision: Decision): Promise<PendingWait> {
    const at = this.now().toISOString();
    try {
      const { Attributes } = await this.documents.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          UpdateExpression: 'SET decided = :decided, wakePending = :yes',
          ConditionExpression: 'attribute_exists(id) AND attribute_not_exists(decided)',
          ExpressionAttributeValues: { ':decided': { ...decision, at }, ':yes': true },
          ReturnValues: 'ALL_NEW',
        }),
      );
      await this.wake(Attributes as Record<string, unknown>);
      const { taskToken: _token, ttl: _ttl, wakePending: _wake, ...wait } = Attributes as Record<string, unknown>;
      return wait as unknown as PendingWait;
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const existing = await this.get(id);
      if (!existing) throw new DecisionError(`no pending decision ${id}`, 'unknown', { cause: error });
      throw new DecisionError(
        `already decided: ${existing.decided?.decision} by ${existing.decided?.actor} at ${existing.decided?.at}`,
        'decided',
        { cause: error },
      );
    }
  }

  /** Sends every recorded decision whose workflow was not told yet (after a crash). */
  async wakeAll(): Promise<number> {
    let woken = 0;
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'wakePending = :yes',
          ExpressionAttributeValues: { ':yes': true },
          ConsistentRead: true,
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        await this.wake(item);
        woken++;
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return woken;
  }

  private async wake(item: Record<string, unknown>): Promise<void> {
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
