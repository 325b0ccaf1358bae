import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { sum, toDecimalString } from '../../shared/money';
import { type IngestOutcome, type Rejection, rejectionsByKind } from './ingest';

/** What one invocation did, for its metrics and log. */
export interface BatchReport {
  readonly records: number;
  readonly outcome: IngestOutcome;
  /** Every record rejected: unreadable envelopes and the ingest's own rejections. */
  readonly rejected: readonly Rejection[];
  /** DynamoDB requests made to read the price versions (none while they are cached). */
  readonly priceReads: number;
}

/** The batch's metrics (the dashboard's and alarms' figures) and its log lines. */
export function reportBatch(
  { records, outcome, rejected, priceReads }: BatchReport,
  metrics: Pick<Metrics, 'addMetric' | 'singleMetric'>,
  logger: Pick<Logger, 'info' | 'warn'>,
): void {
  metrics.addMetric('ChargedCalls', MetricUnit.Count, outcome.charged.length);
  // For the dashboard only (a metric is a double): what is charged stays exact in the ledger.
  const cost = sum(outcome.charged.map((charge) => charge.costUsd));
  metrics.addMetric('CostMeteredUsd', MetricUnit.NoUnit, Number(toDecimalString(cost)));
  // From each call to its charge: how far behind the calls spend is counted (Bedrock's delivery included).
  const chargedAt = Date.now();
  for (const { call } of outcome.charged) {
    metrics.addMetric('CallToChargeLatency', MetricUnit.Milliseconds, chargedAt - Date.parse(call.time));
  }
  metrics.addMetric('DuplicateCalls', MetricUnit.Count, outcome.duplicates.length);
  metrics.addMetric('ConflictingRecords', MetricUnit.Count, outcome.conflicting.length);
  for (const requestId of outcome.conflicting) {
    logger.warn('a record disagrees with the one counted for its request: the dearer stands', { requestId });
  }
  metrics.addMetric('SightedCalls', MetricUnit.Count, outcome.sighted);
  metrics.addMetric('RejectedRecords', MetricUnit.Count, rejected.length);
  // The same metric by reason, so the rejections alarm says what kind of record is failing.
  for (const [kind, count] of rejectionsByKind(rejected)) {
    metrics.singleMetric().addDimension('reason', kind).addMetric('RejectedRecords', MetricUnit.Count, count);
  }
  metrics.addMetric('DynamoDBRequests', MetricUnit.Count, outcome.dynamoRequests + priceReads);
  for (const charge of outcome.charged.filter((c) => c.unknownModel)) {
    logger.warn('unknown model charged at the fallback price', {
      model: charge.model,
      requestId: charge.call.requestId,
    });
  }
  logger.info('batch ingested', {
    records,
    charged: outcome.charged.length,
    duplicates: outcome.duplicates.length,
    conflicting: outcome.conflicting.length,
    sighted: outcome.sighted,
    ignored: outcome.ignored,
    rejected: rejected.length,
    dynamoRequests: outcome.dynamoRequests,
  });
}
