import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { IAMClient } from '@aws-sdk/client-iam';
import middy from '@middy/core';
import { documents, sqs } from '../../shared/clients';
import {
  extraPeriodKindsFromEnv,
  identityRulesFromEnv,
  periodKindFromEnv,
  positiveIntFromEnv,
  requireEnv,
} from '../../shared/config';
import { groupResolverFor } from '../../shared/groups/membership';
import { Ledger } from '../../shared/ledger';
import { bedrockProfileSource } from '../../shared/pricing/profile-client';
import { InferenceProfileCache } from '../../shared/pricing/profiles';
import { PRICE_CACHE_SECONDS_ENV, PRICES_TABLE_ENV, PriceBookCache, PriceStore } from '../../shared/pricing/store';
import { ingest } from './ingest';
import { deadLetter } from './rejected';
import { reportBatch } from './report';
import { recordsOf } from './sources';

// Configuration is read and checked once, at cold start: a missing variable fails the init with its name.
const config = {
  usageTable: requireEnv('USAGE_TABLE'),
  budgetsTable: requireEnv('BUDGETS_TABLE'),
  rejectedQueueUrl: requireEnv('REJECTED_QUEUE_URL'),
  periodKind: periodKindFromEnv(),
  extraPeriodKinds: extraPeriodKindsFromEnv(),
  usageTtlDays: positiveIntFromEnv('USAGE_TTL_DAYS', 400),
  rules: identityRulesFromEnv(),
  // Only envelopes AWS sent from the deployment's own account (or its organization's) and invocation log group.
  trusted: {
    account: requireEnv('ACCOUNT_ID'),
    invocationLogGroup: requireEnv('INVOCATION_LOG_GROUP'),
    ...(process.env.ORGANIZATION_ID ? { organizationId: process.env.ORGANIZATION_ID } : {}),
  },
};

const logger = new Logger({ serviceName: 'budgeteer-ingest' });
const metrics = new Metrics({ namespace: 'Budgeteer', serviceName: 'ingest' });
// Groups are read once a minute, and a principal's IAM tags once per 5 minutes, per warm environment.
const ledger = new Ledger(
  documents,
  config,
  groupResolverFor(documents, config.budgetsTable, new IAMClient({}), (principal, error) =>
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
  reportBatch({ records: records.length, outcome, rejected, priceReads }, metrics, logger);
  // Rejections are dead-lettered above, so no record is handed back for a pointless retry.
  return { batchItemFailures: [] as { itemIdentifier: string }[] };
}

export const handler = middy(ingestEvent).use(injectLambdaContext(logger)).use(logMetrics(metrics));
