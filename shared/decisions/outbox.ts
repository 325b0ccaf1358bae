import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { SNSClient } from '@aws-sdk/client-sns';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  NumberValue,
  ScanCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { AuditInput } from '../audit/entry';
import type { AuditLog } from '../audit/log';
import { ATTRIBUTE_PREFIXES, ATTRIBUTES } from '../budgets/items';
import { requireEnv } from '../config';
import { type AlertMessage, publishAlert } from '../notify';

/**
 * Every decision is claimed by one conditional write on the item it is about, and that same write records the
 * effects still owed (`outbox:<decision id>`). Delivery completes each effect idempotently: the audit entry is
 * appended once under the decision id, messages carry the decision id (a subscriber drops a repeat), a workflow is
 * started under a name derived from the decision, a deny is a named hold. Then the entry is cleared. Whatever a
 * crash leaves is completed by the next stream record of the item, the stream's retry, or the sweep.
 */
export interface Effects {
  readonly decisionId: string;
  readonly messages?: readonly { readonly topic: 'alerts' | 'critical'; readonly message: AlertMessage }[];
  readonly audit?: Omit<AuditInput, 'at'> & { readonly at?: string };
  readonly start?: { readonly machine: 'suspend' | 'emergency-stop'; readonly name: string; readonly input: unknown };
  /** A step of `functions/suspend` run synchronously (the circuit breaker's deny of a newcomer). */
  readonly invoke?: unknown;
}

export const OUTBOX_PREFIX = ATTRIBUTE_PREFIXES.outbox;
/** Set while an item has effects owed, so the sweep finds them without reading every item. */
export const OUTBOX_SINCE = ATTRIBUTES.outboxSince;

export interface OutboxTargets {
  readonly table: string;
  readonly alertsTopicArn: string;
  readonly criticalTopicArn: string;
  readonly suspendStateMachineArn: string;
  readonly emergencyStopStateMachineArn: string;
  readonly suspendFunctionName?: string;
}

export interface OutboxDeps {
  readonly documents: DynamoDBDocumentClient;
  readonly sns: SNSClient;
  readonly sfn: SFNClient;
  readonly audit: AuditLog;
  readonly lambda?: LambdaClient;
  readonly now?: () => Date;
}

type Key = { readonly principal: string; readonly period: string };
type Item = Record<string, unknown>;

export class EffectError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EffectError';
  }
}

/** The effects owed on an item, by decision id. */
export function pendingEffects(item: Item): Effects[] {
  return Object.entries(item)
    .filter(([key]) => key.startsWith(OUTBOX_PREFIX))
    .map(([, value]) => value as Effects);
}

/** Step Functions execution names: 1-80 of [A-Za-z0-9-_]; a hash keeps distinct decisions distinct. */
export function executionName(kind: 'suspend' | 'emergency-stop', decisionId: string, readable: string): string {
  const hash = createHash('sha256').update(decisionId).digest('hex').slice(0, 16);
  return `${kind}-${hash}-${readable.replace(/[^A-Za-z0-9_-]+/g, '-')}`.slice(0, 80);
}

export const executionArnOf = (stateMachineArn: string, name: string) =>
  `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;

/**
 * JSON for a workflow or function input. Effects delivered after a crash were read back with wrapNumbers, so their
 * numbers are NumberValue objects (`{"value":"1"}` in JSON); they go out as the numbers they were claimed with.
 */
const inputJson = (value: unknown) =>
  JSON.stringify(value, (_key, member: unknown) => (member instanceof NumberValue ? Number(member.value) : member));

export class Outbox {
  private readonly now: () => Date;

  /** For functions: targets from the environment the stack sets; a missing variable fails the cold start. */
  static fromEnv(deps: OutboxDeps, env: Record<string, string | undefined> = process.env): Outbox {
    const suspendFunctionName = env.SUSPEND_FUNCTION_NAME;
    return new Outbox(
      {
        table: requireEnv('BUDGETS_TABLE', env),
        alertsTopicArn: requireEnv('ALERTS_TOPIC_ARN', env),
        criticalTopicArn: requireEnv('CRITICAL_TOPIC_ARN', env),
        suspendStateMachineArn: requireEnv('SUSPEND_STATE_MACHINE_ARN', env),
        emergencyStopStateMachineArn: requireEnv('EMERGENCY_STOP_STATE_MACHINE_ARN', env),
        ...(suspendFunctionName ? { suspendFunctionName } : {}),
      },
      deps,
    );
  }

  constructor(
    private readonly targets: OutboxTargets,
    private readonly deps: OutboxDeps,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Claims a decision: `update` (with its condition) and the effects land in one write. False when the condition
   * does not hold: the decision was made before (a retry, a duplicate, a concurrent evaluation).
   */
  async claim(
    key: Key,
    update: Pick<UpdateCommandInput, 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'> & {
      ExpressionAttributeNames?: Record<string, string>;
    },
    effects: Effects,
  ): Promise<Item | undefined> {
    const expression = update.UpdateExpression ?? '';
    const set = `#outbox = :effects, #since = if_not_exists(#since, :now)`;
    const UpdateExpression = /\bSET\b/.test(expression)
      ? expression.replace(/\bSET\b/, `SET ${set},`)
      : `SET ${set} ${expression}`;
    try {
      const { Attributes } = await this.deps.documents.send(
        new UpdateCommand({
          TableName: this.targets.table,
          Key: key,
          UpdateExpression,
          ConditionExpression: update.ConditionExpression,
          ExpressionAttributeNames: {
            ...update.ExpressionAttributeNames,
            '#outbox': `${OUTBOX_PREFIX}${effects.decisionId}`,
            '#since': OUTBOX_SINCE,
          },
          ExpressionAttributeValues: {
            ...update.ExpressionAttributeValues,
            ':effects': effects,
            ':now': this.now().toISOString(),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /** Completes every effect owed on the item as it is now (a consistent read: what another delivery cleared is gone). */
  async deliverPending(key: Key): Promise<number> {
    const { Item } = await this.deps.documents.send(
      new GetCommand({ TableName: this.targets.table, Key: key, ConsistentRead: true }),
    );
    if (!Item) return 0;
    const owed = pendingEffects(Item);
    for (const effects of owed) await this.deliver(key, effects);
    if (owed.length === 0 && Item[OUTBOX_SINCE] !== undefined) await this.clearSince(key);
    return owed.length;
  }

  /** Delivers one decision's effects, then clears them. Safe to repeat. */
  async deliver(key: Key, effects: Effects): Promise<void> {
    for (const { topic, message } of effects.messages ?? []) {
      // Read back after a crash, its typed data holds NumberValues: the numbers it was claimed with go out.
      const claimed = JSON.parse(inputJson(message)) as AlertMessage;
      await publishAlert(
        this.deps.sns,
        topic === 'critical' ? this.targets.criticalTopicArn : this.targets.alertsTopicArn,
        { ...claimed, attributes: { ...claimed.attributes, decisionId: effects.decisionId } },
      );
    }
    if (effects.audit) {
      const { at, ...audit } = effects.audit;
      await this.deps.audit.append({ ...audit, ...(at ? { at: new Date(at) } : {}) }, { once: effects.decisionId });
    }
    if (effects.start) await this.start(effects.start);
    if (effects.invoke !== undefined) await this.invoke(effects.invoke);
    await this.deps.documents.send(
      new UpdateCommand({
        TableName: this.targets.table,
        Key: key,
        UpdateExpression: 'REMOVE #outbox',
        ExpressionAttributeNames: { '#outbox': `${OUTBOX_PREFIX}${effects.decisionId}` },
      }),
    );
  }

  /** The sweep's part: every item with effects owed (left by a crash), completed. */
  async deliverAll(): Promise<number> {
    let delivered = 0;
    let ExclusiveStartKey: Item | undefined;
    do {
      const page = await this.deps.documents.send(
        new ScanCommand({
          TableName: this.targets.table,
          FilterExpression: 'attribute_exists(#since)',
          ExpressionAttributeNames: { '#since': OUTBOX_SINCE, '#period': 'period' },
          ProjectionExpression: 'principal, #period',
          ConsistentRead: true,
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        delivered += await this.deliverPending({ principal: String(item.principal), period: String(item.period) });
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return delivered;
  }

  private async clearSince(key: Key): Promise<void> {
    // Only if nothing was claimed since the read: a claim sets the marker, so its presence alone cannot tell.
    const { Item } = await this.deps.documents.send(
      new GetCommand({ TableName: this.targets.table, Key: key, ConsistentRead: true }),
    );
    if (!Item || pendingEffects(Item).length > 0) return;
    await this.deps.documents
      .send(
        new UpdateCommand({
          TableName: this.targets.table,
          Key: key,
          UpdateExpression: 'REMOVE #since',
          ConditionExpression: '#since = :since',
          ExpressionAttributeNames: { '#since': OUTBOX_SINCE },
          ExpressionAttributeValues: { ':since': Item[OUTBOX_SINCE] },
        }),
      )
      .catch((error: unknown) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      });
  }

  private async start(start: NonNullable<Effects['start']>): Promise<void> {
    const stateMachineArn =
      start.machine === 'suspend' ? this.targets.suspendStateMachineArn : this.targets.emergencyStopStateMachineArn;
    try {
      await this.deps.sfn.send(
        new StartExecutionCommand({ stateMachineArn, name: start.name, input: inputJson(start.input) }),
      );
    } catch (error) {
      // Started before (a retry, a redelivery): the name makes the start idempotent.
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
  }

  private async invoke(payload: unknown): Promise<void> {
    if (!this.deps.lambda || !this.targets.suspendFunctionName) {
      throw new EffectError('no suspend function is configured to deny a principal seen during an emergency stop');
    }
    const result = await this.deps.lambda.send(
      new InvokeCommand({
        FunctionName: this.targets.suspendFunctionName,
        Payload: new TextEncoder().encode(inputJson(payload)),
      }),
    );
    if (result.FunctionError) {
      const detail = result.Payload ? new TextDecoder().decode(result.Payload) : result.FunctionError;
      throw new EffectError(`the suspend function failed: ${detail.slice(0, 500)}`);
    }
  }
}
