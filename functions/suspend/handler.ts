import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { IAMClient } from '@aws-sdk/client-iam';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { SSOAdminClient } from '@aws-sdk/client-sso-admin';
import { STSClient } from '@aws-sdk/client-sts';
import middy from '@middy/core';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { documents, sfn, sns } from '../../shared/clients';
import { jsonListFromEnv, positiveIntFromEnv, requireEnv } from '../../shared/config';
import { PendingWaits } from '../../shared/decisions/pending';
import { linkSigner, signingSecret } from '../../shared/decisions/secret';
import { MEMBER_SYSTEM_ROLE_NAMES } from '../../shared/enforcement/organization';
import type { ProtectionRules } from '../../shared/enforcement/target';
import { ZERO } from '../../shared/money';
import { assumedRoleCredentials, MemberAccounts } from './accounts';
import { DenyStore, IamDenyWriter, IdentityCenterDenyWriter } from './deny';
import { OrganizationStop, OrganizationStopRecords } from './scp';
import { stepRunner } from './steps';
import { Enforcer } from './suspend';

// IAM throttles bursts of writes: retry with backoff well beyond the SDK's default before a step fails.
const iam = new IAMClient({ maxAttempts: 8 });
const budgetsTable = requireEnv('BUDGETS_TABLE');
const instanceArn = process.env.IDENTITY_CENTER_INSTANCE_ARN ?? '';
// An organization deployment (the central stack): members' entities are written through their enforcement roles,
// and the account-wide stop attaches the SCP, from the management account's role when one is configured.
const organizationId = process.env.ORGANIZATION_ID ?? '';
const sts = organizationId ? new STSClient({}) : undefined;
const partition = organizationId ? requireEnv('PARTITION') : 'aws';
const writer = new IamDenyWriter(
  iam,
  instanceArn ? new IdentityCenterDenyWriter(new SSOAdminClient({ maxAttempts: 8 }), instanceArn) : undefined,
  sts ? new MemberAccounts(sts, partition, { maxAttempts: 8 }) : undefined,
);
const protection: ProtectionRules = {
  breakGlassArns: jsonListFromEnv('BREAK_GLASS_PRINCIPALS'),
  systemRolePatterns: jsonListFromEnv('SYSTEM_ROLE_PATTERNS'),
  ...(process.env.ACCOUNT_ID ? { accountId: process.env.ACCOUNT_ID } : {}),
  ...(organizationId ? { organization: true } : {}),
};
const managementRoleArn = process.env.ORGANIZATION_MANAGEMENT_ROLE_ARN ?? '';
const organizationStop = sts
  ? new OrganizationStop(
      new OrganizationsClient({
        maxAttempts: 8,
        ...(managementRoleArn ? { credentials: assumedRoleCredentials(sts, managementRoleArn) } : {}),
      }),
      new OrganizationStopRecords(documents, budgetsTable),
      {
        targets: jsonListFromEnv('ORGANIZATION_STOP_TARGETS'),
        ...(process.env.MANAGEMENT_ACCOUNT_ID ? { managementAccountId: process.env.MANAGEMENT_ACCOUNT_ID } : {}),
        exceptions: {
          // The member stack's roles by their exact names; no pattern a member account could name a role into.
          systemRolePatterns: [...MEMBER_SYSTEM_ROLE_NAMES],
          breakGlassPrincipals: protection.breakGlassArns,
          partition,
        },
      },
    )
  : undefined;
// Only its limit items are read (a rate suspension ends by the rule in force): no budget is judged here.
const limitItems = new BudgetStore(documents, budgetsTable, { configuredDefault: ZERO, configuredAccount: ZERO });
const enforcer = new Enforcer(
  {
    budgetsTable,
    criticalTopicArn: requireEnv('CRITICAL_TOPIC_ARN'),
    protection,
    identityCenter: instanceArn !== '',
    decisionHours: positiveIntFromEnv('DECISION_HOURS', 24),
  },
  {
    documents,
    sns,
    audit: AuditLog.fromEnv(documents),
    denies: new DenyStore(documents, budgetsTable, writer),
    writer,
    waits: new PendingWaits(documents, sfn, requireEnv('PENDING_TABLE')),
    rateRuleOf: (principal: string) => limitItems.rateRuleOf(principal),
    ...(organizationStop ? { organizationStop } : {}),
    ...(process.env.APPROVAL_URL && process.env.SIGNING_SECRET_ARN
      ? { links: linkSigner(process.env.APPROVAL_URL, signingSecret(process.env.SIGNING_SECRET_ARN)) }
      : {}),
  },
);
const logger = new Logger({ serviceName: 'budgeteer-suspend' });
const metrics = new Metrics({ namespace: 'Budgeteer', serviceName: 'suspend' });

/** Published at once, and only by the steps that count something: most steps have nothing to report. */
function count(name: 'Suspensions' | 'EnforcementFailures'): void {
  metrics.addMetric(name, MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}

export const runStep = stepRunner(enforcer, count, logger);

export const handler = middy(runStep).use(injectLambdaContext(logger));
