import { type DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ATTRIBUTES, ENFORCEMENT_ATTRIBUTES, KEYS, wholeOf } from '../../shared/budgets/items';
import type { Effects, Outbox } from '../../shared/decisions/outbox';
import type { BedrockCall } from '../../shared/events/parse';
import type { PrincipalKind } from '../../shared/identity';
import { type Charge, type Ledger, UNMETERED_SHARDS } from '../../shared/ledger';
import { formatUsd, toDecimalString, type Usd } from '../../shared/money';
import { resolveModelId } from '../../shared/pricing';

export interface SweepConfig {
  readonly usageTable: string;
  readonly budgetsTable: string;
  readonly unmeteredIndex: string;
  /** How long a call may wait for its invocation log before it counts as unmetered. */
  readonly delayMinutes: number;
  /** What an unmetered call is charged: a conservative estimate, since its tokens are unknown. */
  readonly unmeteredCallUsd: Usd;
  /** At most this many calls a run; the next run takes the rest. */
  readonly maxCallsPerRun: number;
  /**
   * `requireCloudTrailConfirmation`: spend past a limit that is only logged waits `delayMinutes` for its sighting,
   * then this sweep escalates it (nothing is suspended on it). @default false
   */
  readonly requireConfirmation?: boolean;
}

export interface SweepDeps {
  readonly documents: DynamoDBDocumentClient;
  readonly outbox: Outbox;
  /** Completes and sends decisions recorded but not sent to their workflow (`Approvals`). */
  readonly waits: { wakeAll(): Promise<number> };
  readonly ledger: Ledger;
  readonly now?: () => Date;
}

export interface SweepResult {
  readonly found: number;
  readonly charged: number;
  /** Principals alerted in this run (once per principal per day). */
  readonly alerted: string[];
  /** Decisions whose effects a crash had left owed, completed by this run. */
  readonly completed: number;
  /** Decisions recorded for a waiting workflow that it had not been told of, sent by this run. */
  readonly woken: number;
  /** Principals (or ACCOUNT) whose spend past the limit was still unconfirmed after the wait: escalated now. */
  readonly unconfirmed: string[];
}

/** The catalog version recorded on a charge that is an estimate, not a price of known tokens. */
export const UNMETERED_ESTIMATE = 'unmetered-estimate';
const ACTOR = 'system:sweep';

/**
 * Finds calls seen in CloudTrail whose invocation log has not charged them after `delayMinutes` (logging off,
 * misconfigured, or a body offloaded without usage), charges each at the conservative per-call estimate through
 * the ledger (exactly once: a log that arrives meanwhile wins, one that arrives later is a duplicate), and alerts
 * once per principal per day with the count.
 */
export class CoverageSweep {
  private readonly now: () => Date;

  constructor(
    private readonly config: SweepConfig,
    private readonly deps: SweepDeps,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  async run(): Promise<SweepResult> {
    const now = this.now();
    // First what earlier runs (or the evaluator) left owed after a crash, and decisions not yet sent.
    const completed = await this.deps.outbox.deliverAll();
    const woken = await this.deps.waits.wakeAll();
    const cutoff = new Date(now.getTime() - this.config.delayMinutes * 60_000).toISOString();
    const rows = await this.unmeteredBefore(cutoff);
    const counts = new Map<string, number>();
    for (const row of rows) counts.set(String(row.principal), (counts.get(String(row.principal)) ?? 0) + 1);
    // The alert is claimed, with its effects owed, before the charge: a crash after the charge cannot lose it.
    const day = now.toISOString().slice(0, 10);
    const owed: { key: { principal: string; period: string }; effects: Effects }[] = [];
    for (const [principal, calls] of counts) {
      const key = { principal: `${KEYS.coveragePrefix}${principal}`, period: day };
      const effects = this.alertEffects(principal, day, calls);
      const claimed = await this.deps.outbox.claim(
        key,
        {
          UpdateExpression: 'SET calls = :calls, alertedAt = :at',
          ConditionExpression: 'attribute_not_exists(principal)',
          ExpressionAttributeValues: { ':calls': calls, ':at': now.toISOString() },
        },
        effects,
      );
      if (claimed) owed.push({ key, effects });
    }
    const { charged } = await this.deps.ledger.record(
      rows.map((row) => this.chargeFor(row)),
      [],
    );
    for (const { key, effects } of owed) await this.deps.outbox.deliver(key, effects);
    const unconfirmed = this.config.requireConfirmation ? await this.escalateUnconfirmed(cutoff) : [];
    return {
      found: rows.length,
      charged: charged.length,
      alerted: owed.map(({ key }) => key.principal.slice(KEYS.coveragePrefix.length)),
      completed,
      woken,
      unconfirmed,
    };
  }

  /**
   * Counters (a principal's, or the account's) whose spend past the limit has waited since before `cutoff` for
   * CloudTrail to confirm it, in the same generation, and was neither confirmed (it would be suspended) nor lifted:
   * a critical alert and an audit entry each, once per generation. Nothing is suspended on unconfirmed spend.
   */
  private async escalateUnconfirmed(cutoff: string): Promise<string[]> {
    const names = {
      '#awaiting': ATTRIBUTES.awaitingConfirmationGeneration,
      '#since': ATTRIBUTES.awaitingConfirmationSince,
    };
    const escalated: string[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.deps.documents.send(
        new ScanCommand({
          TableName: this.config.budgetsTable,
          FilterExpression: 'attribute_exists(#awaiting) AND #since < :cutoff',
          ExpressionAttributeNames: { ...names, '#period': 'period' },
          ExpressionAttributeValues: { ':cutoff': cutoff },
          ProjectionExpression: 'principal, #period, #awaiting, #since',
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const key = { principal: String(item.principal), period: String(item.period) };
        const g = wholeOf(item[ATTRIBUTES.awaitingConfirmationGeneration]) ?? 0;
        const effects = this.unconfirmedEffects(key, g, String(item[ATTRIBUTES.awaitingConfirmationSince]));
        const claimed = await this.deps.outbox.claim(
          key,
          {
            UpdateExpression: 'SET #overdue = :g',
            // Still this generation's wait: not escalated, not confirmed past the limit (suspended), not lifted.
            ConditionExpression: `#awaiting = :g AND (attribute_not_exists(#overdue) OR #overdue < :g) AND (attribute_not_exists(#exhausted) OR #exhausted < :g) AND ${
              g === 0 ? '(attribute_not_exists(#g) OR #g = :g)' : '#g = :g'
            } AND attribute_not_exists(#lifted)`,
            ExpressionAttributeNames: {
              '#awaiting': names['#awaiting'],
              '#overdue': ATTRIBUTES.confirmationOverdueGeneration,
              '#exhausted': ATTRIBUTES.exhaustedGeneration,
              '#g': ENFORCEMENT_ATTRIBUTES.generation,
              '#lifted': ENFORCEMENT_ATTRIBUTES.lifted,
            },
            ExpressionAttributeValues: { ':g': g },
          },
          effects,
        );
        if (!claimed) continue;
        await this.deps.outbox.deliver(key, effects);
        escalated.push(key.principal);
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return escalated;
  }

  private unconfirmedEffects(key: { principal: string; period: string }, generation: number, since: string): Effects {
    const who = key.principal === 'ACCOUNT' ? 'the whole account' : key.principal;
    const minutes = this.config.delayMinutes;
    return {
      decisionId: `unconfirmed|${key.principal}|${key.period}|g${generation}`,
      messages: [
        {
          topic: 'critical',
          message: {
            subject: `Bedrock spend past the limit still unconfirmed by CloudTrail: ${who} (${key.period})`,
            body: [
              `${who} reached its Bedrock budget for ${key.period} on spend that only invocation logs report, and CloudTrail`,
              `has not confirmed enough of it in ${minutes} minutes (waiting since ${since}).`,
              '',
              `Only confirmed spend may ${key.principal === 'ACCOUNT' ? 'stop the account' : 'suspend it'} here (requireCloudTrailConfirmation): nothing was`,
              'denied. Either CloudTrail is late or lost the events, or the records were not written by Bedrock: someone',
              'with logs:PutLogEvents on the invocation log group, or lambda:InvokeFunction on ingest, may be forging',
              'spend. `budgeteer status` shows the spend confirmed and only logged; `budgeteer emergency-stop` or',
              'a lower limit acts on it if it is real.',
            ].join('\n'),
            attributes: {
              kind: 'unconfirmed-spend',
              severity: 'critical',
              principal: key.principal,
              period: key.period,
            },
          },
        },
      ],
      audit: {
        actor: ACTOR,
        action: 'suspension.unconfirmed',
        subject: key.principal,
        period: key.period,
        details: { generation, awaitingSince: since, waitMinutes: minutes },
      },
    };
  }

  private async unmeteredBefore(cutoff: string): Promise<Record<string, unknown>[]> {
    const rows: Record<string, unknown>[] = [];
    for (let shard = 0; shard < UNMETERED_SHARDS && rows.length < this.config.maxCallsPerRun; shard++) {
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const page = await this.deps.documents.send(
          new QueryCommand({
            TableName: this.config.usageTable,
            IndexName: this.config.unmeteredIndex,
            KeyConditionExpression: 'unmeteredShard = :shard AND unmeteredSince < :cutoff',
            ExpressionAttributeValues: { ':shard': `U${shard}`, ':cutoff': cutoff },
            Limit: this.config.maxCallsPerRun - rows.length,
            ExclusiveStartKey,
          }),
        );
        rows.push(...(page.Items ?? []));
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey && rows.length < this.config.maxCallsPerRun);
    }
    return rows;
  }

  private chargeFor(row: Record<string, unknown>): Charge {
    const text = (key: string) => String(row[key] ?? '');
    const principalId = text('principal');
    const call: BedrockCall = {
      requestId: text('requestId'),
      source: 'coverage-sweep',
      principal: {
        id: principalId,
        kind: (text('principalKind') || 'user') as PrincipalKind,
        arn: text('principalArn'),
        accountId: text('accountId'),
        name: principalId.split('/')[1] ?? principalId,
      },
      operation: text('operation'),
      modelId: text('modelId'),
      region: text('region'),
      time: text('callTime'),
    };
    return {
      call,
      model: resolveModelId(call.modelId),
      costUsd: this.config.unmeteredCallUsd,
      unknownModel: false,
      catalogVersion: UNMETERED_ESTIMATE,
    };
  }

  private alertEffects(principal: string, day: string, calls: number): Effects {
    const each = formatUsd(this.config.unmeteredCallUsd);
    return {
      decisionId: `unmetered|${principal}|${day}`,
      messages: [
        {
          topic: 'alerts',
          message: {
            subject: `Bedrock calls without invocation logs: ${principal}`,
            body: [
              `${calls} Bedrock call(s) by ${principal} were seen in CloudTrail, but no model invocation log arrived within ${this.config.delayMinutes} minutes.`,
              `They are charged at the conservative estimate of ${each} per call so the budget still moves.`,
              '',
              'Check that model invocation logging is on and delivers to the subscribed log group; large bodies sent',
              'to S3 without usage counts also cause this. This alert is sent once per principal per day.',
            ].join('\n'),
            attributes: { kind: 'unmetered', severity: 'warning', principal },
          },
        },
      ],
      audit: {
        actor: ACTOR,
        action: 'coverage.unmetered',
        subject: principal,
        details: { day, calls, chargedUsdEach: toDecimalString(this.config.unmeteredCallUsd) },
      },
    };
  }
}
