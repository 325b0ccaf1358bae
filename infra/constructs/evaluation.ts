import { Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { BudgeteerConfig } from '../config';
import type { AuditLog } from './audit';
import { type Enforcement, outboxEnvironment, systemRolePattern } from './enforcement';
import { BudgeteerFunction, KEEPING_QUEUE } from './function';
import type { Topics } from './topics';

export interface EvaluationProps {
  readonly config: BudgeteerConfig;
  readonly budgets: dynamodb.ITable;
  readonly audit: AuditLog;
  readonly topics: Topics;
  readonly enforcement: Enforcement;
}

/** Stream batches are small and not held back: an alert should leave within seconds of the spend that causes it. */
export const STREAM_BATCH_SIZE = 100;

/**
 * `functions/evaluate` on the Budgets stream: alerts at the thresholds (SNS), and at 100% the suspension or
 * emergency-stop workflow.
 */
export class Evaluation extends Construct {
  public readonly function: BudgeteerFunction;
  public readonly streamFailures: sqs.Queue;

  constructor(scope: Construct, id: string, props: EvaluationProps) {
    super(scope, id);
    const { config, budgets, topics, enforcement } = props;
    const retention = config.logRetentionDays as logs.RetentionDays;
    this.function = new BudgeteerFunction(this, 'Evaluate', {
      entry: 'functions/evaluate/handler.ts',
      description: 'Turns spend changes into threshold alerts, suspensions and emergency stops',
      logRetentionDays: retention,
      environment: {
        ...outboxEnvironment(budgets, topics, enforcement),
        AUDIT_TABLE: props.audit.table.tableName,
        PERIOD: config.period,
        EXTRA_PERIOD_KINDS: JSON.stringify(config.extraPeriodKinds),
        THRESHOLDS: JSON.stringify(config.thresholds),
        DEFAULT_BUDGET_USD: config.defaultBudgetUsd,
        ACCOUNT_BUDGET_USD: config.accountBudgetUsd,
        BREAK_GLASS_PRINCIPALS: JSON.stringify(config.breakGlassPrincipals),
        SUSPEND_FUNCTION_NAME: enforcement.function.function.functionName,
        PENDING_TABLE: enforcement.pending.tableName,
        SUSPEND_GRACE_SECONDS: String(config.suspendGraceSeconds),
        REQUIRE_CLOUDTRAIL_CONFIRMATION: String(config.requireCloudTrailConfirmation),
        UNMETERED_DELAY_MINUTES: String(config.unmeteredDelayMinutes),
        SYSTEM_ROLE_PATTERNS: JSON.stringify([systemRolePattern(Stack.of(this))]),
      },
    });
    const fn = this.function.function;
    fn.addToRolePolicy(
      // Query: the burn-rate guard reads a principal's rate buckets (shared/rate/store.ts).
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        resources: [budgets.tableArn],
      }),
    );
    props.audit.grantAppend(fn);
    topics.alerts.grantPublish(fn);
    topics.critical.grantPublish(fn);
    enforcement.suspendPrincipal.grantStartExecution(fn);
    enforcement.emergencyStop.grantStartExecution(fn);
    // The circuit breaker: while the account is stopped, a principal first seen spending is denied at once.
    enforcement.function.function.grantInvokeLatestVersion(fn);
    // A raised limit or a lift ends the suspension's wait.
    enforcement.grantDecide(fn);

    this.streamFailures = new sqs.Queue(this, 'StreamFailures', KEEPING_QUEUE);
    Validations.of(this.streamFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This is a dead-letter queue: the stream mapping's on-failure destination, which keeps for an operator the " +
        'batches evaluate could not take after its retries. Nothing consumes it, so a queue behind it would stay empty',
    });
    fn.addEventSource(
      new DynamoEventSource(budgets, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: STREAM_BATCH_SIZE,
        bisectBatchOnError: true,
        retryAttempts: 10,
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(this.streamFailures),
        parallelizationFactor: 1,
      }),
    );
    Validations.of(this.function.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'dynamodb:ListStreams, which the stream event source needs to find the Budgets stream, takes no resource ' +
        '(the stream itself is read by its ARN)',
    });
  }
}
