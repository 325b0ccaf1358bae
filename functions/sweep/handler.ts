import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import middy from '@middy/core';
import { AuditLog } from '../../shared/audit/log';
import { documents, sfn, sns } from '../../shared/clients';
import {
  booleanFromEnv,
  extraPeriodKindsFromEnv,
  periodKindFromEnv,
  positiveIntFromEnv,
  requireEnv,
} from '../../shared/config';
import { Approvals } from '../../shared/decisions/approvals';
import { Outbox } from '../../shared/decisions/outbox';
import { groupResolverFor } from '../../shared/groups/membership';
import { Ledger } from '../../shared/ledger';
import { usd } from '../../shared/money';
import { CoverageSweep } from './sweep';

const usageTable = requireEnv('USAGE_TABLE');
const budgetsTable = requireEnv('BUDGETS_TABLE');
const audit = AuditLog.fromEnv(documents);
const outbox = Outbox.fromEnv({ documents, sns, sfn, lambda: new LambdaClient({}), audit });
const logger = new Logger({ serviceName: 'budgeteer-sweep' });
const sweep = new CoverageSweep(
  {
    usageTable,
    budgetsTable,
    unmeteredIndex: requireEnv('UNMETERED_INDEX'),
    delayMinutes: positiveIntFromEnv('UNMETERED_DELAY_MINUTES', 15),
    unmeteredCallUsd: usd(requireEnv('UNMETERED_CALL_USD')),
    maxCallsPerRun: positiveIntFromEnv('SWEEP_MAX_CALLS', 5000),
    requireConfirmation: booleanFromEnv('REQUIRE_CLOUDTRAIL_CONFIRMATION', false),
  },
  {
    documents,
    outbox,
    waits: Approvals.fromEnv({ documents, sns, sfn, audit }),
    // The estimate of a member's call counts in its groups too, exactly as ingest counts a logged one.
    ledger: new Ledger(
      documents,
      {
        usageTable,
        budgetsTable,
        periodKind: periodKindFromEnv(),
        extraPeriodKinds: extraPeriodKindsFromEnv(),
        usageTtlDays: positiveIntFromEnv('USAGE_TTL_DAYS', 400),
      },
      groupResolverFor(documents, budgetsTable, new IAMClient({}), (principal, error) =>
        logger.warn('tags unread: tag membership not counted for this call', { principal, error: String(error) }),
      ),
    ),
  },
);
const metrics = new Metrics({ namespace: 'Budgeteer', serviceName: 'sweep' });

/** Runs on a schedule: charges calls whose invocation log never came (see CoverageSweep). */
export async function sweepUnmetered() {
  const result = await sweep.run();
  // Calls CloudTrail saw whose invocation log never came, charged at the estimate (the UnmeteredCalls alarm).
  metrics.addMetric('UnmeteredCalls', MetricUnit.Count, result.found);
  if (result.found > 0) logger.warn('unmetered calls charged at the estimate', { ...result });
  if (result.unconfirmed.length > 0) {
    logger.warn('spend past the limit still unconfirmed by CloudTrail after the wait', { ...result });
  }
  return result;
}

export const handler = middy(sweepUnmetered).use(injectLambdaContext(logger)).use(logMetrics(metrics));
