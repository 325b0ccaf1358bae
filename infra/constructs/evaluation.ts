import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { BudgeteerConfig } from '../config';
import type { AuditLog } from './audit';
import { BudgeteerFunction, KEEPING_QUEUE, REPO_ROOT } from './function';

export interface EvaluationProps {
  readonly config: BudgeteerConfig;
  readonly budgets: dynamodb.ITable;
  readonly audit: AuditLog;
}

/** Stream batches are small and not held back: an alert should leave within seconds of the spend that causes it. */
export const STREAM_BATCH_SIZE = 100;

/**
 * A workflow defined in `statemachines/<file>`, with a log group and alarms on failed, throttled and aborted
 * executions.
 */
class Workflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;

  constructor(
    scope: Construct,
    id: string,
    file: string,
    substitutions: Record<string, string>,
    retention: logs.RetentionDays,
  ) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', { retention, removalPolicy: RemovalPolicy.DESTROY });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      // Inline, not an S3 asset: the template alone carries the definition (and the local stack deploys it).
      definitionBody: sfn.DefinitionBody.fromString(readFileSync(path.join(REPO_ROOT, 'statemachines', file), 'utf8')),
      definitionSubstitutions: substitutions,
      stateMachineType: sfn.StateMachineType.STANDARD,
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
    const alarm = (name: string, metric: cloudwatch.Metric) =>
      new cloudwatch.Alarm(this, name, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    alarm('Failed', this.stateMachine.metricFailed({ period: Duration.minutes(5) }));
    alarm('Throttled', this.stateMachine.metricThrottled({ period: Duration.minutes(5) }));
    alarm('Aborted', this.stateMachine.metricAborted({ period: Duration.minutes(5) }));
  }
}

/**
 * `functions/evaluate` on the Budgets stream: alerts at the thresholds (SNS), and at 100% the suspension or
 * emergency-stop workflow.
 */
export class Evaluation extends Construct {
  public readonly function: BudgeteerFunction;
  /** Budget alerts (thresholds, unknown models). */
  public readonly alertsTopic: sns.Topic;
  /** High severity: budgets exhausted, suspensions, emergency stops. */
  public readonly criticalTopic: sns.Topic;
  public readonly suspendPrincipal: sfn.StateMachine;
  public readonly emergencyStop: sfn.StateMachine;
  public readonly streamFailures: sqs.Queue;

  constructor(scope: Construct, id: string, props: EvaluationProps) {
    super(scope, id);
    const { config, budgets } = props;
    this.alertsTopic = new sns.Topic(this, 'Alerts', { displayName: 'Bedrock budget alerts', enforceSSL: true });
    this.criticalTopic = new sns.Topic(this, 'Critical', { displayName: 'Bedrock budget: critical', enforceSSL: true });
    for (const email of config.alertEmails) {
      this.alertsTopic.addSubscription(new subscriptions.EmailSubscription(email));
      this.criticalTopic.addSubscription(new subscriptions.EmailSubscription(email));
    }

    const substitutions = { BudgetsTable: budgets.tableName };
    const retention = config.logRetentionDays as logs.RetentionDays;
    this.suspendPrincipal = new Workflow(
      this,
      'SuspendPrincipal',
      'suspend-principal.asl.json',
      substitutions,
      retention,
    ).stateMachine;
    this.emergencyStop = new Workflow(
      this,
      'EmergencyStop',
      'emergency-stop.asl.json',
      substitutions,
      retention,
    ).stateMachine;
    for (const machine of [this.suspendPrincipal, this.emergencyStop]) {
      machine.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:UpdateItem'], resources: [budgets.tableArn] }),
      );
    }

    this.function = new BudgeteerFunction(this, 'Evaluate', {
      entry: 'functions/evaluate/handler.ts',
      description: 'Turns spend changes into threshold alerts, suspensions and emergency stops',
      logRetentionDays: retention,
      environment: {
        BUDGETS_TABLE: budgets.tableName,
        AUDIT_TABLE: props.audit.table.tableName,
        PERIOD: config.period,
        EXTRA_PERIOD_KINDS: JSON.stringify(config.extraPeriodKinds),
        THRESHOLDS: JSON.stringify(config.thresholds),
        DEFAULT_BUDGET_USD: config.defaultBudgetUsd,
        ACCOUNT_BUDGET_USD: config.accountBudgetUsd,
        BREAK_GLASS_PRINCIPALS: JSON.stringify(config.breakGlassPrincipals),
        ALERTS_TOPIC_ARN: this.alertsTopic.topicArn,
        CRITICAL_TOPIC_ARN: this.criticalTopic.topicArn,
        SUSPEND_STATE_MACHINE_ARN: this.suspendPrincipal.stateMachineArn,
        EMERGENCY_STOP_STATE_MACHINE_ARN: this.emergencyStop.stateMachineArn,
      },
    });
    const fn = this.function.function;
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resources: [budgets.tableArn] }),
    );
    props.audit.grantAppend(fn);
    this.alertsTopic.grantPublish(fn);
    this.criticalTopic.grantPublish(fn);
    this.suspendPrincipal.grantStartExecution(fn);
    this.emergencyStop.grantStartExecution(fn);

    this.streamFailures = new sqs.Queue(this, 'StreamFailures', KEEPING_QUEUE);
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
  }
}
