import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { IAMClient } from '@aws-sdk/client-iam';
import { SSOAdminClient } from '@aws-sdk/client-sso-admin';
import middy from '@middy/core';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { documents, sfn, sns } from '../../shared/clients';
import { jsonListFromEnv, positiveIntFromEnv, requireEnv } from '../../shared/config';
import { PendingWaits, type WaitKind } from '../../shared/decisions/pending';
import { linkSigner, signingSecret } from '../../shared/decisions/secret';
import { ZERO } from '../../shared/money';
import { DenyStore, IamDenyWriter, IdentityCenterDenyWriter } from './deny';
import { type EnforcementInput, Enforcer } from './suspend';

// IAM throttles bursts of writes: retry with backoff well beyond the SDK's default before a step fails.
const iam = new IAMClient({ maxAttempts: 8 });
const budgetsTable = requireEnv('BUDGETS_TABLE');
const instanceArn = process.env.IDENTITY_CENTER_INSTANCE_ARN ?? '';
const writer = new IamDenyWriter(
  iam,
  instanceArn ? new IdentityCenterDenyWriter(new SSOAdminClient({ maxAttempts: 8 }), instanceArn) : undefined,
);
// Only its limit items are read (a rate suspension ends by the rule in force): no budget is judged here.
const limitItems = new BudgetStore(documents, budgetsTable, { configuredDefault: ZERO, configuredAccount: ZERO });
const enforcer = new Enforcer(
  {
    budgetsTable,
    criticalTopicArn: requireEnv('CRITICAL_TOPIC_ARN'),
    protection: {
      breakGlassArns: jsonListFromEnv('BREAK_GLASS_PRINCIPALS'),
      systemRolePatterns: jsonListFromEnv('SYSTEM_ROLE_PATTERNS'),
    },
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

/** What a workflow step sends: the step, the workflow's state (`input`) and what the step needs besides. */
export type SuspendEvent =
  | { readonly action: 'apply'; readonly input: EnforcementInput }
  | {
      readonly action: 'await';
      readonly kind: WaitKind;
      /** An emergency stop's state carries what its Map step denied (`denied`). */
      readonly input: EnforcementInput & { readonly denied?: readonly unknown[] };
      readonly taskToken: string;
    }
  | {
      readonly action: 'lift' | 'endStop';
      readonly input: EnforcementInput;
      readonly decision: { readonly reason: string; readonly actor?: string };
    }
  | { readonly action: 'beginStop' | 'recheck'; readonly input: EnforcementInput }
  | {
      readonly action: 'failed';
      readonly step: string;
      /** After a failed wait, the state carries the retry loop's count (`wait.retries`). */
      readonly input: EnforcementInput & { readonly wait?: { readonly retries?: number } };
      readonly error: unknown;
    };

/** Only the reason and the actor of a wait's output: nothing else in it may steer the step (which hold, whom). */
const decisionOf = (decision: { readonly reason: string; readonly actor?: string }) => ({
  reason: String(decision.reason),
  ...(typeof decision.actor === 'string' ? { actor: decision.actor } : {}),
});

/** The workflows' IAM and bookkeeping steps; each is idempotent, so Step Functions may retry any of them. */
export async function runStep(step: SuspendEvent & { readonly executionArn?: string }): Promise<unknown> {
  const event = { ...step, input: { ...step.input, executionArn: step.executionArn ?? step.input.executionArn } };
  logger.info('step', { action: event.action, principal: event.input.principal, decisionId: event.input.decisionId });
  switch (event.action) {
    case 'apply': {
      const applied = await enforcer.apply(event.input);
      // Each deny applied: a principal's suspension, or one principal of an emergency stop.
      if (applied.outcome === 'applied') count('Suspensions');
      return applied;
    }
    case 'await':
      return { waitId: await enforcer.await({ ...event.input, kind: event.kind }, event.taskToken) };
    case 'lift':
      return enforcer.lift({ ...event.input, ...decisionOf(event.decision) });
    case 'beginStop':
      return enforcer.beginStop(event.input);
    case 'recheck':
      return enforcer.recheck(event.input);
    case 'endStop':
      return { lifted: await enforcer.endStop({ ...event.input, ...decisionOf(event.decision) }) };
    case 'failed': {
      const retry = await enforcer.failed({ ...event.input, step: event.step, error: event.error });
      // Counted once the failure is recorded (audited as enforcement.failed, the critical alert sent), so a step that
      // throws and is retried counts once; a wait's later retries go on quietly until the period ends.
      if (!retry || retry.retries <= 1) count('EnforcementFailures');
      return retry;
    }
  }
}

export const handler = middy(runStep).use(injectLambdaContext(logger));
