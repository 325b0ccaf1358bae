import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { LambdaClient } from '@aws-sdk/client-lambda';
import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { documents, sfn, sns } from '../../shared/clients';
import {
  booleanFromEnv,
  ConfigError,
  jsonListFromEnv,
  periodKindFromEnv,
  positiveIntFromEnv,
  requireEnv,
} from '../../shared/config';
import { Outbox } from '../../shared/decisions/outbox';
import { PendingWaits } from '../../shared/decisions/pending';
import { usd } from '../../shared/money';
import { type BudgetItem, Evaluator, needsEvaluation } from './evaluate';
import { parseStreamRecord } from './stream';

function thresholdsFromEnv(): number[] {
  let values: unknown;
  try {
    values = JSON.parse(requireEnv('THRESHOLDS'));
  } catch (cause) {
    throw new ConfigError('THRESHOLDS must be a JSON array of whole percentages', { cause });
  }
  if (!Array.isArray(values) || values.some((t) => !Number.isInteger(t) || t <= 0 || t >= 100)) {
    throw new ConfigError('THRESHOLDS must be a JSON array of whole percentages between 1 and 99');
  }
  return [...(values as number[])].sort((a, b) => a - b);
}

const budgetsTable = requireEnv('BUDGETS_TABLE');
const requireConfirmation = booleanFromEnv('REQUIRE_CLOUDTRAIL_CONFIRMATION', false);
const evaluator = new Evaluator(
  {
    budgetsTable,
    thresholds: thresholdsFromEnv(),
    periodKind: periodKindFromEnv(),
    suspendStateMachineArn: requireEnv('SUSPEND_STATE_MACHINE_ARN'),
    emergencyStopStateMachineArn: requireEnv('EMERGENCY_STOP_STATE_MACHINE_ARN'),
    protection: {
      breakGlassArns: jsonListFromEnv('BREAK_GLASS_PRINCIPALS'),
      systemRolePatterns: jsonListFromEnv('SYSTEM_ROLE_PATTERNS'),
    },
    graceSeconds: Number(process.env.SUSPEND_GRACE_SECONDS ?? 0),
    requireConfirmation,
    confirmationWaitMinutes: positiveIntFromEnv('UNMETERED_DELAY_MINUTES', 15),
  },
  {
    documents,
    outbox: Outbox.fromEnv({ documents, sns, sfn, lambda: new LambdaClient({}), audit: AuditLog.fromEnv(documents) }),
    waits: new PendingWaits(documents, sfn, requireEnv('PENDING_TABLE')),
    budgets: new BudgetStore(documents, budgetsTable, {
      configuredDefault: usd(requireEnv('DEFAULT_BUDGET_USD')),
      configuredAccount: usd(requireEnv('ACCOUNT_BUDGET_USD')),
    }),
  },
);
const logger = new Logger({ serviceName: 'budgeteer-evaluate' });
const metrics = new Metrics({ namespace: 'Budgeteer', serviceName: 'evaluate' });

/**
 * Records are evaluated in stream order. On a failure, the records from the failed one on are handed back
 * (ReportBatchItemFailures), so the event source mapping retries them in order and never skips a decision. A
 * record that is not a valid Budgets stream record would fail every retry and hold up every record behind it: it
 * is logged as an error with what it is and why, counted (UnparseableStreamRecords), and passed over.
 */
export async function evaluateStream(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  evaluator.startBatch();
  let unparseable = 0;
  for (const raw of event.Records) {
    if (raw.eventName === 'REMOVE') continue;
    const parsed = parseStreamRecord(raw);
    if (!parsed.ok) {
      unparseable++;
      logger.error('unparseable Budgets stream record: passed over, not retried', {
        eventID: parsed.eventID,
        sequenceNumber: parsed.sequenceNumber,
        keys: parsed.keys,
        reason: parsed.error,
      });
      continue;
    }
    const { record, newImage, oldImage } = parsed;
    if (!newImage) continue;
    try {
      // The evaluator's own claims and clears come back here: drop those that change nothing it judges.
      if (!needsEvaluation(oldImage as BudgetItem | undefined, newImage, requireConfirmation)) continue;
      await evaluator.evaluate(newImage);
    } catch (error) {
      logger.error('evaluation failed; the batch is retried from this record', { error, eventID: record.eventID });
      return { batchItemFailures: [{ itemIdentifier: record.dynamodb.SequenceNumber }] };
    }
  }
  if (unparseable > 0) {
    // Published only when there is something to count: most batches have nothing to report.
    metrics.addMetric('UnparseableStreamRecords', MetricUnit.Count, unparseable);
    metrics.publishStoredMetrics();
  }
  return { batchItemFailures: [] };
}

export const handler = middy(evaluateStream).use(injectLambdaContext(logger));
