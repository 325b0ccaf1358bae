import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { IAMClient } from '@aws-sdk/client-iam';
import middy from '@middy/core';
import { documents, sqs } from '../../shared/clients';
import {
  extraPeriodKindsFromEnv,
  jsonListFromEnv,
  periodKindFromEnv,
  positiveIntFromEnv,
  requireEnv,
} from '../../shared/config';
import { GROUP_CACHE_SECONDS_ENV, groupResolverFor } from '../../shared/groups/membership';
import { Ledger } from '../../shared/ledger';
import { sum, toDecimalString } from '../../shared/money';
import { bedrockProfileSource } from '../../shared/pricing/profile-client';
import { InferenceProfileCache } from '../../shared/pricing/profiles';
import { PRICE_CACHE_SECONDS_ENV, PRICES_TABLE_ENV, PriceBookCache, PriceStore } from '../../shared/pricing/store';
import { ingest, rejectionsByKind } from './ingest';
import { deadLetter } from './rejected';
import { recordsOf } from './sources';

// Configuration is read and checked once, at cold start: a missing variable fails the init with its name.
const config = {
  usageTable: requireEnv('USAGE_TABLE'),
  budgetsTable: requireEnv('BUDGETS_TABLE'),
  rejectedQueueUrl: requireEnv('REJECTED_QUEUE_URL'),
  periodKind: periodKindFromEnv(),
  extraPeriodKinds: extraPeriodKindsFromEnv(),
  usageTtlDays: positiveIntFromEnv('USAGE_TTL_DAYS', 400),
  rules: { perSessionRoles: jsonListFromEnv('PER_SESSION_ROLES', process.env, ['AWSReservedSSO_*']) },
  // Only envelopes AWS sent from the deployment's own account and invocation log group are believed.
  trusted: { account: requireEnv('ACCOUNT_ID'), invocationLogGroup: requireEnv('INVOCATION_LOG_GROUP') },
};

const logger = new Logger({ serviceName: 'budgeteer-ingest' });
const metrics = new Metrics({ namespace: 'Budgeteer', serviceName: 'ingest' });
// Groups are read once a minute, and a principal's IAM tags once per 5 minutes, per warm environment.
const ledger = new Ledger(
  documents,
  config,
  groupResolverFor(
    documents,
    config.budgetsTable,
    new IAMClient({}),
    positiveIntFromEnv(GROUP_CACHE_SECONDS_ENV, 60) * 1000,
    (principal, error) =>
      logger.warn('tags unread: tag membership not counted for this call', { principal, error: String(error) }),
  ),
);
// Price versions are read once per priceCacheSeconds at most, not per call: a change reaches a warm function
// within that.
const prices = new PriceBookCache(
  new PriceStore(documents, requireEnv(PRICES_TABLE_ENV)),
  positiveIntFromEnv(PRICE_CACHE_SECONDS_ENV, 60) * 1000,
);

// Application inference profiles resolved to their models (and tags), kept per warm environment (see the cache).
const profiles = new InferenceProfileCache(bedrockProfileSource(), {
  // Not resolved: its calls are charged at the fallback price; tags not read: they are tried again later.
  onFailure: (profile, reason) => logger.warn('application inference profile lookup failed', { profile, reason }),
});

export async function ingestEvent(event: unknown) {
  const { records, rejected: unreadable } = recordsOf(event, config.trusted);
  const { book, requests: priceReads } = await prices.current();
  const outcome = await ingest(records, ledger, config.rules, {
    trusted: config.trusted,
    prices: book,
    profiles: (ref) => profiles.resolve(ref),
  });
  const rejected = [...unreadable, ...outcome.rejected];
  for (const rejection of rejected) {
    logger.warn('rejected record', { recordId: rejection.id, kind: rejection.kind, error: rejection.error });
  }
  if (rejected.length > 0) await deadLetter(sqs, config.rejectedQueueUrl, rejected);
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
    records: records.length,
    charged: outcome.charged.length,
    duplicates: outcome.duplicates.length,
    conflicting: outcome.conflicting.length,
    sighted: outcome.sighted,
    ignored: outcome.ignored,
    rejected: rejected.length,
    dynamoRequests: outcome.dynamoRequests,
  });
  // Rejections are dead-lettered above, so no record is handed back for a pointless retry.
  return { batchItemFailures: [] as { itemIdentifier: string }[] };
}

export const handler = middy(ingestEvent).use(injectLambdaContext(logger)).use(logMetrics(metrics));
