import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { BudgeteerConfig } from '../config';
import type { AuditLog } from './audit';
import { type Enforcement, outboxEnvironment } from './enforcement';
import { BudgeteerFunction, scheduleFunction } from './function';
import { countsGroups } from './groups';
import { UNMETERED_INDEX } from './tables';
import type { Topics } from './topics';

export interface CoverageProps {
  readonly config: BudgeteerConfig;
  readonly budgets: dynamodb.ITable;
  readonly usage: dynamodb.ITable;
  readonly audit: AuditLog;
  readonly topics: Topics;
  readonly enforcement: Enforcement;
}

/** How often the sweep looks for calls whose invocation log never came. */
export const SWEEP_RATE = Duration.minutes(5);

/** `functions/sweep` on a schedule: charges unmetered calls at the estimate and alerts once per principal a day. */
export class Coverage extends Construct {
  public readonly function: BudgeteerFunction;
  public readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: CoverageProps) {
    super(scope, id);
    const { config } = props;
    this.function = new BudgeteerFunction(this, 'Sweep', {
      entry: 'functions/sweep/handler.ts',
      description: 'Charges calls seen in CloudTrail whose invocation log never arrived',
      timeout: Duration.minutes(2),
      logRetentionDays: config.logRetentionDays,
      environment: {
        USAGE_TABLE: props.usage.tableName,
        ...outboxEnvironment(props.budgets, props.topics, props.enforcement),
        AUDIT_TABLE: props.audit.table.tableName,
        UNMETERED_INDEX,
        SUSPEND_FUNCTION_NAME: props.enforcement.function.function.functionName,
        PENDING_TABLE: props.enforcement.pending.tableName,
        DEFAULT_BUDGET_USD: config.defaultBudgetUsd,
        ACCOUNT_BUDGET_USD: config.accountBudgetUsd,
        PERIOD: config.period,
        EXTRA_PERIOD_KINDS: JSON.stringify(config.extraPeriodKinds),
        USAGE_TTL_DAYS: String(config.usageRetentionDays),
        UNMETERED_DELAY_MINUTES: String(config.unmeteredDelayMinutes),
        UNMETERED_CALL_USD: config.unmeteredCallUsd,
        REQUIRE_CLOUDTRAIL_CONFIRMATION: String(config.requireCloudTrailConfirmation),
      },
    });
    const fn = this.function.function;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${props.usage.tableArn}/index/${UNMETERED_INDEX}`],
      }),
    );
    // The ledger's conditional writes, and the daily alert claim in Budgets.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:ConditionCheckItem'],
        resources: [props.usage.tableArn, props.budgets.tableArn],
      }),
    );
    // Completing decisions a crash left owed (the outbox) and decisions a workflow was not told of.
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:Scan'], resources: [props.budgets.tableArn] }),
    );
    // The estimate of a member's call counts in its groups, as ingest counts a logged one.
    countsGroups(fn, props.budgets, config);
    props.audit.grantAppend(fn);
    props.topics.alerts.grantPublish(fn);
    props.topics.critical.grantPublish(fn);
    props.enforcement.suspendPrincipal.grantStartExecution(fn);
    props.enforcement.emergencyStop.grantStartExecution(fn);
    props.enforcement.function.function.grantInvokeLatestVersion(fn);
    props.enforcement.grantDecide(fn);
    this.schedule = scheduleFunction(
      this,
      this.function,
      events.Schedule.rate(SWEEP_RATE),
      'Coverage sweep for Bedrock calls without invocation logs',
    );
  }
}
