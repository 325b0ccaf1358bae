import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { BudgeteerConfig } from '../config';
import type { AuditLog } from './audit';
import { type Enforcement, outboxEnvironment } from './enforcement';
import { BudgeteerFunction, scheduleFunction } from './function';
import type { Topics } from './topics';

export interface DigestProps {
  readonly config: BudgeteerConfig;
  readonly budgets: dynamodb.ITable;
  readonly usage: dynamodb.ITable;
  readonly audit: AuditLog;
  readonly topics: Topics;
  /** Its pending-decisions table is read for the decisions awaiting an admin. */
  readonly enforcement: Enforcement;
  /** Ingest's rejected-records queue, whose counts the digest reports. */
  readonly rejectedQueue: sqs.IQueue;
}

/** When the digest runs: 06:00 UTC, so the day it reports (yesterday, UTC) is whole and its records have arrived. */
export const DIGEST_SCHEDULE = events.Schedule.cron({ minute: '0', hour: '6' });

/**
 * `functions/digest` once a day (opt-in, CDK context `digest: true`): yesterday's and the period's spend, crossings,
 * suspensions, pending decisions, unknown models and rejected records, one message on each topic, exactly once.
 * It reads what the report reads, claims one item in Budgets and appends one audit entry; nothing else.
 */
export class Digest extends Construct {
  public readonly function: BudgeteerFunction;
  public readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: DigestProps) {
    super(scope, id);
    const { config } = props;
    this.function = new BudgeteerFunction(this, 'Digest', {
      entry: 'functions/digest/handler.ts',
      description: "Sends yesterday's Bedrock spend digest to the alert and critical topics, once a day",
      timeout: Duration.minutes(5),
      logRetentionDays: config.logRetentionDays,
      environment: {
        ...outboxEnvironment(props.budgets, props.topics, props.enforcement),
        USAGE_TABLE: props.usage.tableName,
        AUDIT_TABLE: props.audit.table.tableName,
        PENDING_TABLE: props.enforcement.pending.tableName,
        REJECTED_QUEUE_URL: props.rejectedQueue.queueUrl,
        DEFAULT_BUDGET_USD: config.defaultBudgetUsd,
        ACCOUNT_BUDGET_USD: config.accountBudgetUsd,
        PERIOD: config.period,
        EXTRA_PERIOD_KINDS: JSON.stringify(config.extraPeriodKinds),
      },
    });
    const fn = this.function.function;
    // Budgets: the periods' counters, limits and unknown-model markers (scans), and the day's claim, its delivery
    // and clearing (GetItem, UpdateItem). On the table alone: no index is read.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Scan', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [props.budgets.tableArn],
      }),
    );
    // Usage: the day's charged calls (one scan a day); pending decisions: the waits nobody decided.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Scan'],
        resources: [props.usage.tableArn, props.enforcement.pending.tableArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['sqs:GetQueueAttributes'], resources: [props.rejectedQueue.queueArn] }),
    );
    // The day's crossings are read from the audit log (its by-day index), and the digest appends its own entry.
    props.audit.grantAppend(fn);
    props.topics.alerts.grantPublish(fn);
    props.topics.critical.grantPublish(fn);
    this.schedule = scheduleFunction(
      this,
      this.function,
      DIGEST_SCHEDULE,
      "Daily Bedrock spend digest (yesterday's, UTC)",
    );
  }
}
