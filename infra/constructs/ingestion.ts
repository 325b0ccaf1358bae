import { Duration, Lazy, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as destinations from 'aws-cdk-lib/aws-logs-destinations';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import {
  MANTLE_EVENT_SOURCE,
  MANTLE_INFERENCE_OPERATIONS,
  METERED_OPERATIONS,
  RUNTIME_EVENT_SOURCE,
} from '../../shared/events/schemas';
import type { BudgeteerConfig } from '../config';
import { acknowledgeWildcardResources } from '../nag';
import { BudgeteerFunction, identityEnvironment, KEEPING_QUEUE, QUEUE_DEFAULTS } from './function';
import { countsGroups } from './groups';

export interface IngestionProps {
  readonly config: BudgeteerConfig;
  readonly budgets: dynamodb.ITable;
  readonly usage: dynamodb.ITable;
  /** Where the rejected-records alarm notifies (the operations topic). @default the alarm notifies no one */
  readonly alarmTopic?: sns.ITopic;
  /** Rejected records in five minutes above which the rejections alarm goes off. @default 5 */
  readonly rejectionAlarmThreshold?: number;
}

/** Bedrock inference recorded by CloudTrail, as EventBridge matches it (here, and in an organization's members). */
export const BEDROCK_CALLS: events.EventPattern = {
  // aws.bedrock and aws.bedrock-mantle; only AWS can send an `aws.` source, so no one can forge a call here.
  source: events.Match.prefix('aws.bedrock'),
  detailType: ['AWS API Call via CloudTrail'],
  detail: {
    eventSource: [RUNTIME_EVENT_SOURCE, MANTLE_EVENT_SOURCE],
    eventName: [...METERED_OPERATIONS, ...MANTLE_INFERENCE_OPERATIONS],
  },
};
/** The invocation log records ingest meters, as a CloudWatch Logs subscription filters them. */
export const INVOCATION_LOG_RECORDS = logs.FilterPattern.literal('{ $.schemaType = "ModelInvocationLog" }');

/** Every application inference profile of the stack's account, in any Region. */
export const applicationProfilesOf = (stack: Stack) =>
  `arn:${stack.partition}:bedrock:*:${stack.account}:application-inference-profile/*`;

/** CloudTrail events arrive through SQS so ingest sees them in large batches: fewer, bigger DynamoDB writes. */
export const CLOUDTRAIL_BATCH_SIZE = 1000;
export const CLOUDTRAIL_BATCH_WINDOW = Duration.seconds(5);

/**
 * Every Bedrock runtime call reaches `functions/ingest` twice: as a CloudTrail event (EventBridge -> SQS) and as a
 * model invocation log record (CloudWatch Logs subscription). Ingest merges the two by request id.
 */
export class Ingestion extends Construct {
  public readonly function: BudgeteerFunction;
  public readonly cloudTrailQueue: sqs.Queue;
  /** CloudTrail events ingest failed five times. */
  public readonly cloudTrailDeadLetters: sqs.Queue;
  public readonly rejectedQueue: sqs.Queue;
  public readonly rule: events.Rule;
  public readonly invocationLogGroup: logs.ILogGroup;
  /** Goes off when ingest rejects more records than the threshold in five minutes: a new record shape, or a bug. */
  public readonly rejectionAlarm: cloudwatch.Alarm;
  /** The ARNs of the rules allowed to send to the CloudTrail queue. */
  private readonly senders: string[] = [];

  constructor(scope: Construct, id: string, props: IngestionProps) {
    super(scope, id);
    const { config } = props;

    // Records ingest cannot read, kept with the reason for an operator to inspect.
    this.rejectedQueue = new sqs.Queue(this, 'Rejected', KEEPING_QUEUE);
    Validations.of(this.rejectedQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself where failures end: ingest puts here each record it cannot read, with the reason, ' +
        'for an operator. Nothing consumes it, so a dead-letter queue behind it would stay empty',
    });

    this.function = new BudgeteerFunction(this, 'Ingest', {
      entry: 'functions/ingest/handler.ts',
      description: 'Meters Bedrock calls from CloudTrail and invocation logs into per-principal spend',
      timeout: Duration.seconds(60),
      memorySize: 1024,
      logRetentionDays: config.logRetentionDays,
      environment: {
        USAGE_TABLE: props.usage.tableName,
        BUDGETS_TABLE: props.budgets.tableName,
        REJECTED_QUEUE_URL: this.rejectedQueue.queueUrl,
        PERIOD: config.period,
        EXTRA_PERIOD_KINDS: JSON.stringify(config.extraPeriodKinds),
        USAGE_TTL_DAYS: String(config.usageRetentionDays),
        // What ingest believes: envelopes from this account (or, given ORGANIZATION_ID, the organization's) and
        // the invocation log group (nothing else is spend); and how it names their principals.
        ...identityEnvironment(this, config),
        INVOCATION_LOG_GROUP: config.invocationLogGroupName,
        POWERTOOLS_METRICS_NAMESPACE: 'Budgeteer',
      },
    });
    const fn = this.function.function;
    // Least privilege: the ledger only writes with conditions and ADDs; it never reads, scans or deletes.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:ConditionCheckItem'],
        resources: [props.usage.tableArn, props.budgets.tableArn],
      }),
    );
    countsGroups(fn, props.budgets, config);
    this.rejectedQueue.grantSendMessages(fn);
    // A call through an application inference profile is priced as the model the profile routes to, and the
    // profile's tags are read with it: read-only, and only on this account's application profiles (any Region).
    const profiles = applicationProfilesOf(Stack.of(this));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['bedrock:GetInferenceProfile', 'bedrock:ListTagsForResource'],
        resources: [profiles],
      }),
    );
    acknowledgeWildcardResources(
      fn.role ?? fn,
      [profiles],
      'A call may go through any application inference profile of the account, created after the deployment and ' +
        'in any Region; these two read-only actions are allowed on application profiles alone',
    );

    this.cloudTrailDeadLetters = new sqs.Queue(this, 'CloudTrailDeadLetters', KEEPING_QUEUE);
    this.cloudTrailQueue = new sqs.Queue(this, 'CloudTrailEvents', {
      ...QUEUE_DEFAULTS,
      visibilityTimeout: Duration.seconds(6 * 60),
      deadLetterQueue: { queue: this.cloudTrailDeadLetters, maxReceiveCount: 5 },
    });
    fn.addEventSource(
      new SqsEventSource(this.cloudTrailQueue, {
        batchSize: CLOUDTRAIL_BATCH_SIZE,
        maxBatchingWindow: CLOUDTRAIL_BATCH_WINDOW,
        reportBatchItemFailures: true,
      }),
    );

    this.rule = new events.Rule(this, 'BedrockCalls', {
      description:
        'Bedrock inference recorded by CloudTrail: runtime calls (read-only management events) and bedrock-mantle inference (data events)',
      eventPattern: BEDROCK_CALLS,
      targets: [new targets.SqsQueue(this.cloudTrailQueue)],
    });
    this.senders.push(this.rule.ruleArn);
    // InvokeModel and friends are read-only management events: a rule in the default state never sees them.
    // Mantle's CreateInference is a data event: it reaches EventBridge only from a trail that logs it.
    (this.rule.node.defaultChild as events.CfnRule).state = 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS';
    // Whoever may send to this queue could write CloudTrail events that ingest believes: only the rule may. An
    // explicit Deny in the queue's policy beats any Allow an identity policy gives (admins included); a request
    // without `aws:SourceArn` matches `ArnNotEquals`, so it is denied too. The statement lives in the queue's
    // policy resource, which already names the rule for its Allow: no dependency cycle.
    this.cloudTrailQueue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheBedrockRuleSends',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['sqs:SendMessage'],
        resources: [this.cloudTrailQueue.queueArn],
        // The rule's ARN, or every rule's (acceptFrom adds the organization bus's): a request matching none is denied.
        conditions: {
          ArnNotEquals: {
            'aws:SourceArn': Lazy.any({
              produce: () => (this.senders.length === 1 ? this.senders[0] : this.senders),
            }),
          },
        },
      }),
    );

    // Ingest publishes RejectedRecords (and the same metric by `reason`) through Powertools Metrics.
    this.rejectionAlarm = new cloudwatch.Alarm(this, 'RejectedRecordsAlarm', {
      alarmDescription:
        'Ingest rejected Bedrock records: they are not metered until fixed. The RejectedRecords metric by reason and the rejected-records queue say which and why.',
      metric: new cloudwatch.Metric({
        namespace: 'Budgeteer',
        metricName: 'RejectedRecords',
        dimensionsMap: { service: 'ingest' },
        statistic: cloudwatch.Stats.SUM,
        period: Duration.minutes(5),
      }),
      threshold: props.rejectionAlarmThreshold ?? 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) {
      this.rejectionAlarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
      this.rejectionAlarm.addOkAction(new actions.SnsAction(props.alarmTopic));
    }

    this.invocationLogGroup = config.enableInvocationLogging
      ? this.enableInvocationLogging(config)
      : logs.LogGroup.fromLogGroupName(this, 'InvocationLogs', config.invocationLogGroupName);
    new logs.SubscriptionFilter(this, 'InvocationLogSubscription', {
      logGroup: this.invocationLogGroup,
      destination: new destinations.LambdaDestination(fn),
      filterPattern: INVOCATION_LOG_RECORDS,
    });
  }

  /**
   * Meters the Bedrock calls another event bus receives (an organization's central bus): the same events, through
   * the same queue, by a rule of that bus, which the queue's policy then lets send too.
   */
  acceptFrom(bus: events.IEventBus, id: string): events.Rule {
    const rule = new events.Rule(this, id, {
      eventBus: bus,
      description: 'Bedrock inference recorded by CloudTrail in other accounts, forwarded to this bus',
      eventPattern: BEDROCK_CALLS,
      targets: [new targets.SqsQueue(this.cloudTrailQueue)],
    });
    // On a custom bus as on the default one, a rule in the plain enabled state never sees read-only management
    // events such as InvokeModel, forwarded or not (EventBridge guide, read-only management events).
    (rule.node.defaultChild as events.CfnRule).state = 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS';
    this.senders.push(rule.ruleArn);
    return rule;
  }

  /** Bedrock has no CloudFormation resource for its logging settings: set them with the API, and undo on delete. */
  private enableInvocationLogging(config: BudgeteerConfig): logs.LogGroup {
    const logGroup = new logs.LogGroup(this, 'InvocationLogs', {
      logGroupName: config.invocationLogGroupName,
      retention: logs.RetentionDays.ONE_MONTH,
    });
    const stack = Stack.of(this);
    const bedrockRole = new iam.Role(this, 'BedrockLoggingRole', {
      assumedBy: new iam.ServicePrincipal('bedrock.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:bedrock:${stack.region}:${stack.account}:*` },
        },
      }),
    });
    logGroup.grantWrite(bedrockRole);
    const call = (action: string, parameters?: Record<string, unknown>): cr.AwsSdkCall => ({
      service: 'Bedrock',
      action,
      parameters,
      physicalResourceId: cr.PhysicalResourceId.of(`bedrock-invocation-logging-${stack.region}`),
    });
    // The provider function's own role and log group: the default role would carry AWSLambdaBasicExecutionRole
    // (every log group of the account) and its log group would be created by Lambda, kept forever.
    const providerLogs = new logs.LogGroup(this, 'InvocationLoggingProviderLogs', {
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const providerRole = new iam.Role(this, 'InvocationLoggingProviderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sets and removes the account Bedrock model invocation logging configuration',
    });
    providerLogs.grantWrite(providerRole);
    const setting = new cr.AwsCustomResource(this, 'InvocationLogging', {
      onUpdate: call('PutModelInvocationLoggingConfiguration', {
        loggingConfig: {
          cloudWatchConfig: { logGroupName: logGroup.logGroupName, roleArn: bedrockRole.roleArn },
          textDataDeliveryEnabled: true,
          imageDataDeliveryEnabled: false,
          embeddingDataDeliveryEnabled: false,
        },
      }),
      onDelete: call('DeleteModelInvocationLoggingConfiguration'),
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({
          actions: [
            'bedrock:PutModelInvocationLoggingConfiguration',
            'bedrock:DeleteModelInvocationLoggingConfiguration',
          ],
          resources: ['*'],
        }),
        new iam.PolicyStatement({ actions: ['iam:PassRole'], resources: [bedrockRole.roleArn] }),
      ]),
      installLatestAwsSdk: false,
      role: providerRole,
      logGroup: providerLogs,
    });
    Validations.of(setting).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        "Bedrock's model invocation logging configuration is a setting of the account and region: " +
        'Put/DeleteModelInvocationLoggingConfiguration take no resource',
    });
    setting.node.addDependency(logGroup);
    return logGroup;
  }
}
