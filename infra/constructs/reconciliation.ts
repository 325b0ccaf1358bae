import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { PERIOD_INDEX } from '../../shared/budgets';
import type { BudgeteerConfig } from '../config';
import type { AuditLog } from './audit';
import { type Enforcement, outboxEnvironment } from './enforcement';
import { BudgeteerFunction, identityEnvironment, scheduleFunction } from './function';
import { budgeteerMetric } from './operations';
import type { Topics } from './topics';

export interface ReconciliationProps {
  /** `reconcilePrincipalGroup` (non-empty: the construct is made), `reconcileToleranceUsd`, `reconcileDelayDays`. */
  readonly config: BudgeteerConfig;
  readonly budgets: dynamodb.ITable;
  readonly usage: dynamodb.ITable;
  readonly audit: AuditLog;
  readonly topics: Topics;
  /** Named as the outbox's targets only: reconciliation starts no workflow. */
  readonly enforcement: Enforcement;
}

/** 06:00 UTC, like the digest: the day it compares is `reconcileDelayDays` back, whole and (mostly) billed. */
export const RECONCILE_SCHEDULE = events.Schedule.cron({ minute: '0', hour: '6' });

/**
 * `functions/reconcile` once a day (opt-in, CDK context `reconcilePrincipalGroup`): each principal's metered spend
 * for a day against Cost Explorer's bill per IAM principal; a drift above `reconcileToleranceUsd` is claimed on the
 * day's RECONCILE# item in Budgets, alerted once and audited `reconcile.drift`. It reads the Usage table and Cost
 * Explorer, writes its claims and appends audit entries; nothing else.
 */
export class Reconciliation extends Construct {
  public readonly function: BudgeteerFunction;
  public readonly schedule: events.Rule;
  /** Three daily runs in a row without a bill: Cost Explorer is not enabled, or the principal group is wrong. */
  public readonly unavailableAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ReconciliationProps) {
    super(scope, id);
    const { config } = props;
    this.function = new BudgeteerFunction(this, 'Reconcile', {
      entry: 'functions/reconcile/handler.ts',
      description: "Compares each principal's metered Bedrock spend for a day with AWS's bill, once a day",
      timeout: Duration.minutes(5),
      logRetentionDays: config.logRetentionDays,
      environment: {
        ...outboxEnvironment(props.budgets, props.topics, props.enforcement),
        USAGE_TABLE: props.usage.tableName,
        AUDIT_TABLE: props.audit.table.tableName,
        RECONCILE_PRINCIPAL_GROUP: config.reconcilePrincipalGroup,
        RECONCILE_TOLERANCE_USD: config.reconcileToleranceUsd,
        RECONCILE_DELAY_DAYS: String(config.reconcileDelayDays),
        // The bill's ARNs are named as ingest names principals (per-session roles per session).
        ...identityEnvironment(this, config),
        // With daily counters kept, the day's metered spend is read from them, not from a scan of Usage.
        PERIOD: config.period,
        EXTRA_PERIOD_KINDS: JSON.stringify(config.extraPeriodKinds),
      },
    });
    const fn = this.function.function;
    // Budgets: the day's claims, their delivery and clearing, on the table alone (no index is read).
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [props.budgets.tableArn],
      }),
    );
    if ([config.period, ...config.extraPeriodKinds].includes('daily')) {
      // The day's counters: listed by the period index, read a hundred at a time.
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: [`${props.budgets.tableArn}/index/${PERIOD_INDEX}`],
        }),
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:BatchGetItem'], resources: [props.budgets.tableArn] }),
      );
    } else {
      // Usage: the day's charged calls (one scan a day, which grows with the table: keep daily counters at scale).
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:Scan'], resources: [props.usage.tableArn] }));
    }
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ce:GetCostAndUsage'], resources: ['*'] }));
    Validations.of(this.function.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ce:GetCostAndUsage has no resource type (Cost Explorer answers for the whole account): it cannot be ' +
        'scoped; the role reads nothing else outside its two tables, its audit append and the alerts topic',
    });
    props.audit.grantAppend(fn);
    props.topics.alerts.grantPublish(fn);
    this.unavailableAlarm = new cloudwatch.Alarm(this, 'BillUnavailableAlarm', {
      alarmDescription:
        'The daily reconciliation found no bill to compare with three days running (Cost Explorer not enabled, IAM ' +
        'principal data missing, or reconcilePrincipalGroup not the group Cost Explorer fills): metered spend is not ' +
        "being checked against AWS's bill. The reconcile function's log says why.",
      metric: budgeteerMetric('reconcile', 'ReconcileBillUnavailable').with({ period: Duration.days(1) }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.schedule = scheduleFunction(
      this,
      this.function,
      RECONCILE_SCHEDULE,
      `Daily reconciliation of metered Bedrock spend with the bill (${config.reconcileDelayDays} days back, UTC)`,
    );
  }
}
