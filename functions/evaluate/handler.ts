import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { LambdaClient } from '@aws-sdk/client-lambda';
import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { documents, sfn, sns } from '../../shared/clients';
import { requireEnv } from '../../shared/config';
import { Outbox } from '../../shared/decisions/outbox';
import { PendingWaits } from '../../shared/decisions/pending';
import { usd } from '../../shared/money';
import { evaluatorConfigFromEnv } from './config';
import { type BudgetItem, Evaluator, needsEvaluation } from './evaluate';
import { DecisionMetrics } from './metrics';
import { parseStreamRecord } from './stream';

const metrics = new Metrics({ namespace: 'Budgeteer', serviceName: 'evaluate' });
const decisions = new DecisionMetrics(metrics);
const config = evaluatorConfigFromEnv();
const requireConfirmation = config.requireConfirmation ?? false;
const evaluator = new Evaluator(config, {
  documents,
  outbox: Outbox.fromEnv({ documents, sns, sfn, lambda: new LambdaClient({}), audit: AuditLog.fromEnv(documents) }),
  waits: new PendingWaits(documents, sfn, requireEnv('PENDING_TABLE')),
  budgets: new BudgetStore(documents, config.budgetsTable, {
    configuredDefault: usd(requireEnv('DEFAULT_BUDGET_USD')),
    configuredAccount: usd(requireEnv('ACCOUNT_BUDGET_USD')),
  }),
  onDecision: decisions.record,
});
const logger = new Logger({ serviceName: 'budgeteer-evaluate' });

/**
 * Records are evaluated in stream order. On a failure, the records from the failed one on are handed back
 * (ReportBatchItemFailures), so the event source mapping retries them in order and never skips a decision. A
 * record that is not a valid Budgets stream record would fail every retry and hold up every record behind it: it
 * is logged as an error with what it is and why, counted (UnparseableStreamRecords), and passed over. The decisions
 * claimed are counted (functions/evaluate/metrics.ts), a failed batch's too: a claim is made once.
 */
export async function evaluateStream(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  try {
    return await evaluateRecords(event);
  } finally {
    // Published only when there is something to count: most batches have nothing to report.
    decisions.publish();
  }
}

async function evaluateRecords(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  evaluator.startBatch();
  for (const raw of event.Records) {
    if (raw.eventName === 'REMOVE') continue;
    const parsed = parseStreamRecord(raw);
    if (!parsed.ok) {
      metrics.addMetric('UnparseableStreamRecords', MetricUnit.Count, 1);
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
      decisions.judging({
        newImage,
        oldImage,
        approximateCreationDateTime: record.dynamodb.ApproximateCreationDateTime,
      });
      await evaluator.evaluate(newImage);
    } catch (error) {
      logger.error('evaluation failed; the batch is retried from this record', { error, eventID: record.eventID });
      return { batchItemFailures: [{ itemIdentifier: record.dynamodb.SequenceNumber }] };
    }
  }
  return { batchItemFailures: [] };
}

export const handler = middy(evaluateStream).use(injectLambdaContext(logger));
