import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import * as z from 'zod';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { documents, sfn, sns, sqs } from '../../shared/clients';
import { extraPeriodKindsFromEnv, periodKindFromEnv, positiveIntFromEnv, requireEnv } from '../../shared/config';
import { Outbox } from '../../shared/decisions/outbox';
import { PendingWaits } from '../../shared/decisions/pending';
import { dayBefore } from '../../shared/digest/digest';
import { gatherDigest } from '../../shared/digest/gather';
import { sendDigest } from '../../shared/digest/send';
import { usd } from '../../shared/money';

const logger = new Logger({ serviceName: 'budgeteer-digest' });
const budgetsTable = requireEnv('BUDGETS_TABLE');
const audit = AuditLog.fromEnv(documents);
// The digest owes messages and an audit entry only: it starts no workflow and invokes nothing (no grant to).
const outbox = Outbox.fromEnv({ documents, sns, sfn, audit });
const sources = {
  documents,
  sqs,
  audit,
  budgets: new BudgetStore(documents, budgetsTable, {
    configuredDefault: usd(requireEnv('DEFAULT_BUDGET_USD')),
    configuredAccount: usd(requireEnv('ACCOUNT_BUDGET_USD')),
  }),
  waits: new PendingWaits(documents, sfn, requireEnv('PENDING_TABLE')),
  warn: (message: string, error: unknown) => logger.warn(message, { error }),
};
const tables = {
  budgetsTable,
  usageTable: requireEnv('USAGE_TABLE'),
  rejectedQueueUrl: requireEnv('REJECTED_QUEUE_URL'),
  periodKind: periodKindFromEnv(),
  extraPeriodKinds: extraPeriodKindsFromEnv(),
};
const top = positiveIntFromEnv('DIGEST_TOP', 10);

/**
 * EventBridge's Scheduled Event: its `time` is when the schedule fired, the same on every retry of the delivery, so
 * the day reported (the one before it) is too. Invoked by hand without one, the day before now.
 */
const ScheduledEvent = z.looseObject({ time: z.iso.datetime().optional() });

/** Once a day: yesterday's digest on both topics, exactly once (shared/digest/send.ts). */
export async function dailyDigest(event: unknown) {
  const fired = ScheduledEvent.parse(event ?? {}).time;
  const day = dayBefore(fired ? new Date(fired) : new Date());
  const outcome = await sendDigest(outbox, () => gatherDigest(sources, tables, day, new Date()), day, { top });
  logger.info(outcome.sent ? 'daily digest sent' : 'daily digest already sent', { ...outcome });
  return outcome;
}

export const handler = middy(dailyDigest).use(injectLambdaContext(logger));
