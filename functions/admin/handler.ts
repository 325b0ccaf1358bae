import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { LambdaClient } from '@aws-sdk/client-lambda';
import middy from '@middy/core';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { DefaultLimitReview } from '../../shared/admin/default-review';
import { AdminService } from '../../shared/admin/service';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { documents, sfn, sns } from '../../shared/clients';
import {
  extraPeriodKindsFromEnv,
  identityRulesFromEnv,
  jsonListFromEnv,
  periodKindFromEnv,
  requireEnv,
} from '../../shared/config';
import { AdminActions } from '../../shared/decisions/admin';
import { Approvals } from '../../shared/decisions/approvals';
import { Outbox } from '../../shared/decisions/outbox';
import { PendingWaits } from '../../shared/decisions/pending';
import { GroupStore } from '../../shared/groups/store';
import { usd } from '../../shared/money';
import { PriceRecorder } from '../../shared/pricing/admin';
import { priceRefresher } from '../../shared/pricing/price-list-client';
import { PRICES_FUNCTION_ENV, PRICES_TABLE_ENV, PriceStore } from '../../shared/pricing/store';
import { answer, callerOf } from './admin';

const budgetsTable = requireEnv('BUDGETS_TABLE');
const audit = AuditLog.fromEnv(documents);
const outbox = Outbox.fromEnv({ documents, sns, sfn, lambda: new LambdaClient({}), audit });
const periodKind = periodKindFromEnv();
const budgets = new BudgetStore(documents, budgetsTable, {
  configuredDefault: usd(requireEnv('DEFAULT_BUDGET_USD')),
  configuredAccount: usd(requireEnv('ACCOUNT_BUDGET_USD')),
});
const service = new AdminService(
  {
    periodKind,
    extraPeriodKinds: extraPeriodKindsFromEnv(),
    adminPrincipals: jsonListFromEnv('ADMIN_PRINCIPALS'),
    identityRules: identityRulesFromEnv(),
  },
  {
    budgets,
    audit,
    admin: new AdminActions({
      documents,
      table: budgetsTable,
      waits: new PendingWaits(documents, sfn, requireEnv('PENDING_TABLE')),
      audit,
      outbox,
      emergencyStopStateMachineArn: requireEnv('EMERGENCY_STOP_STATE_MACHINE_ARN'),
    }),
    approvals: Approvals.fromEnv({ documents, sns, sfn, audit }),
    defaultReview: new DefaultLimitReview(budgets, outbox, periodKind),
    prices: new PriceRecorder(new PriceStore(documents, requireEnv(PRICES_TABLE_ENV)), audit),
    refreshPrices: priceRefresher(new LambdaClient({}), requireEnv(PRICES_FUNCTION_ENV)),
    groups: new GroupStore(documents, budgetsTable),
  },
);
const logger = new Logger({ serviceName: 'budgeteer-admin' });

/** Admin actions, for IAM-authenticated callers only (the function URL's auth type is AWS_IAM). */
export async function administer(event: LambdaFunctionURLEvent) {
  const result = await answer(event, service);
  logger.info('admin request', { caller: callerOf(event)?.arn, status: result.statusCode });
  return result;
}

export const handler = middy(administer).use(injectLambdaContext(logger));
