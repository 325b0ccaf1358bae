import { ArnFormat, CfnOutput, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudformation from 'aws-cdk-lib/aws-cloudformation';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MEMBER_ENFORCEMENT_ROLE_NAME } from '../../shared/enforcement/organization';
import { SCP_TAG } from '../../shared/enforcement/scp';
import type { BudgeteerConfig } from '../config';
import type { Enforcement } from '../constructs/enforcement';
import { KEEPING_QUEUE } from '../constructs/function';
import type { Ingestion } from '../constructs/ingestion';
import { acknowledgeWildcardResources } from '../nag';
import { type MEMBER_PARAMETERS, memberTemplate } from './member';

/**
 * The suspend function's part of an organization: the settings it reads (functions/suspend/handler.ts) and the
 * AWS Organizations calls of the organization stop, through the management account's role when one is configured,
 * else directly (the budget account then a delegated administrator for policy management).
 */
function grantOrganizationStop(enforcement: Enforcement, config: BudgeteerConfig): void {
  const fn = enforcement.function.function;
  const stack = Stack.of(fn);
  // Where the SCP goes: as configured, else the OUs the member stack goes to, else (empty) the root.
  const targets =
    config.organizationStopTargets.length > 0 ? config.organizationStopTargets : config.organizationalUnitIds;
  const environment: Record<string, string> = {
    ORGANIZATION_ID: config.organizationId,
    PARTITION: stack.partition,
    ORGANIZATION_STOP_TARGETS: JSON.stringify(targets),
    ORGANIZATION_MANAGEMENT_ROLE_ARN: config.organizationManagementRoleArn,
    MANAGEMENT_ACCOUNT_ID: config.managementAccountId,
  };
  for (const [name, value] of Object.entries(environment)) fn.addEnvironment(name, value);

  if (config.organizationManagementRoleArn) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'OrganizationManagementRole',
        actions: ['sts:AssumeRole'],
        resources: [config.organizationManagementRoleArn],
      }),
    );
    return;
  }
  // Organizations ARNs name the management account, known only when configured; the rest is the organization's.
  const organizationsArn = (resource: string) =>
    `arn:${stack.partition}:organizations::${config.managementAccountId || '*'}:${resource}`;
  const policies = organizationsArn(`policy/${config.organizationId}/service_control_policy/*`);
  const targetArns = ['root', 'ou', 'account'].map((kind) => organizationsArn(`${kind}/${config.organizationId}/*`));
  // The stop's own SCP is known by its tag (SCP_TAG): the function may update, attach and detach that policy only,
  // never the organization's other SCPs (FullAWSAccess, its guardrails), and may create no other kind.
  const ours = { StringEquals: { [`aws:ResourceTag/${SCP_TAG.key}`]: SCP_TAG.value } };
  const created = {
    StringEquals: {
      [`aws:RequestTag/${SCP_TAG.key}`]: SCP_TAG.value,
      'organizations:PolicyType': 'SERVICE_CONTROL_POLICY',
    },
    'ForAllValues:StringEquals': { 'aws:TagKeys': [SCP_TAG.key] },
  };
  const statements: { sid: string; actions: string[]; resources: string[]; conditions?: Record<string, unknown> }[] = [
    // Finding the policy by name, the root, and the management account: these take no resource.
    { sid: 'OrganizationRead', actions: ['DescribeOrganization', 'ListRoots', 'ListPolicies'], resources: ['*'] },
    // CreatePolicy's policy has no id yet: it must be a service control policy, tagged as the stop's.
    { sid: 'OrganizationStopPolicy', actions: ['CreatePolicy', 'TagResource'], resources: ['*'], conditions: created },
    {
      sid: 'OrganizationStopPolicyUpkeep',
      actions: ['DescribePolicy', 'UpdatePolicy', 'ListTargetsForPolicy', 'AttachPolicy', 'DetachPolicy'],
      resources: [policies],
      conditions: ours,
    },
    // AttachPolicy and DetachPolicy are authorized on the target too: any root, OU or account of this organization.
    { sid: 'OrganizationStopTargets', actions: ['AttachPolicy', 'DetachPolicy'], resources: targetArns },
    // Which accounts the targets cover: their children, OU by OU.
    { sid: 'OrganizationStopCoverage', actions: ['ListChildren'], resources: targetArns.slice(0, 2) },
  ];
  for (const { sid, actions, resources, conditions } of statements) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid,
        actions: actions.map((action) => `organizations:${action}`),
        resources,
        ...(conditions ? { conditions } : {}),
      }),
    );
  }
  acknowledgeWildcardResources(
    enforcement.function.role,
    [policies, ...targetArns],
    'The organization stop attaches one SCP, created at run time (its id unknown at deploy), to roots, OUs or ' +
      "accounts of this organization only (its id in every ARN); the management account's id is left open when " +
      'not configured (managementAccountId)',
  );
  Validations.of(enforcement.function.role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'organizations:DescribeOrganization, ListRoots and ListPolicies take no resource; CreatePolicy names a ' +
      'policy that has no id yet (only BudgeteerOrganizationStop, a service control policy, is ever created)',
  });
}

export interface OrganizationCentralProps {
  readonly config: BudgeteerConfig;
  /** The deployment's ingest: it meters the members' events and invocation logs as it does the account's own. */
  readonly ingestion: Ingestion;
  /** The deployment's suspend function: the only principal the members' enforcement roles trust. */
  readonly enforcement: Enforcement;
}

/** Invocation log batches the ingest function takes from the stream at a time (each holds many log events). */
export const INVOCATION_LOG_BATCH_SIZE = 100;

/**
 * What a budget account adds to meter and enforce across an AWS Organization: a central event bus the members'
 * CloudTrail events are forwarded to, a Logs destination their invocation logs are subscribed to (through a Kinesis
 * data stream: a cross-account destination cannot target Lambda), leave for the suspend function to assume their
 * enforcement roles, and a service-managed StackSet that deploys the member stack to the configured OUs.
 */
export class OrganizationCentral extends Construct {
  public readonly bus: events.EventBus;
  public readonly stream: kinesis.Stream;
  public readonly destination: logs.CrossAccountDestination;
  /** Stream batches ingest failed on past its retries (their position, for an operator to replay). */
  public readonly streamFailures: sqs.Queue;
  /** The member stack's deployment to the OUs; absent when no OU is configured (members by `cdk deploy`). */
  public readonly stackSet?: cloudformation.CfnStackSet;

  constructor(scope: Construct, id: string, props: OrganizationCentralProps) {
    super(scope, id);
    const { config, ingestion, enforcement } = props;
    const stack = Stack.of(this);
    const inOrganization = { StringEquals: { 'aws:PrincipalOrgID': config.organizationId } };

    // Events: every account of the organization may put events on the bus, nobody else; ingest's rule on it
    // takes the Bedrock calls into the same CloudTrail queue as the account's own.
    this.bus = new events.EventBus(this, 'Bus', { eventBusName: `${stack.stackName}-organization` });
    this.bus.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OrganizationAccountsPutEvents',
        principals: [new iam.AnyPrincipal()],
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
        conditions: inOrganization,
      }),
    );
    ingestion.acceptFrom(this.bus, 'OrganizationBedrockCalls');

    // Invocation logs. On-demand: the stream follows the organization's volume (up to 200 MiB/s of writes)
    // without a shard count to size and resize as accounts join; pay per GB, not per idle shard.
    this.stream = new kinesis.Stream(this, 'InvocationLogs', {
      streamMode: kinesis.StreamMode.ON_DEMAND,
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: Duration.hours(24),
    });
    const logsRole = new iam.Role(this, 'LogsDeliveryRole', {
      description: 'CloudWatch Logs puts the member accounts invocation log subscriptions on the stream',
      assumedBy: new iam.ServicePrincipal('logs.amazonaws.com', {
        conditions: {
          StringLike: { 'aws:SourceArn': stack.formatArn({ service: 'logs', account: '*', resource: '*' }) },
        },
      }),
    });
    logsRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kinesis:PutRecord'], resources: [this.stream.streamArn] }),
    );
    const destinationName = `${stack.stackName}-invocation-logs`;
    this.destination = new logs.CrossAccountDestination(this, 'Destination', {
      destinationName,
      role: logsRole,
      targetArn: this.stream.streamArn,
    });
    this.destination.node.addDependency(logsRole);
    // Named, not the resource's own ARN attribute: a resource's policy cannot refer to the resource itself.
    const destinationArn = stack.formatArn({
      service: 'logs',
      resource: 'destination',
      resourceName: destinationName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.destination.addToPolicy(
      new iam.PolicyStatement({
        sid: 'OrganizationAccountsSubscribe',
        principals: [new iam.AnyPrincipal()],
        actions: ['logs:PutSubscriptionFilter'],
        resources: [destinationArn],
        conditions: inOrganization,
      }),
    );

    this.streamFailures = new sqs.Queue(this, 'StreamFailures', KEEPING_QUEUE);
    Validations.of(this.streamFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself where failures end: the event source mapping puts here the position of each ' +
        'invocation log batch ingest failed on past its retries, for an operator to replay. Nothing consumes it',
    });
    // The same function, handler and guarantees as the account's own logs: ingest counts a request once whichever
    // route brings it, and dead-letters what it cannot read to the rejected-records queue.
    ingestion.function.function.addEventSource(
      new KinesisEventSource(this.stream, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: INVOCATION_LOG_BATCH_SIZE,
        // A member's call reaches its counter within about a second, as the account's own do (docs/performance.md:
        // at the design load a batch of 100 fills in 2 s, so below it the window decides the latency).
        maxBatchingWindow: Duration.seconds(1),
        // Two batches per shard at once (order kept per partition key): the design load needs 6 concurrent
        // ingests, and an on-demand stream starts with 4 shards.
        parallelizationFactor: 2,
        bisectBatchOnError: true,
        retryAttempts: 5,
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(this.streamFailures),
      }),
    );

    // Enforcement: the suspend function may assume the enforcement role of the organization's accounts, only.
    const memberEnforcementRoles = stack.formatArn({
      service: 'iam',
      region: '',
      account: '*',
      resource: 'role',
      resourceName: MEMBER_ENFORCEMENT_ROLE_NAME,
    });
    enforcement.function.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'MemberEnforcementRoles',
        actions: ['sts:AssumeRole'],
        resources: [memberEnforcementRoles],
        conditions: { StringEquals: { 'aws:ResourceOrgID': config.organizationId } },
      }),
    );
    acknowledgeWildcardResources(
      enforcement.function.role,
      [memberEnforcementRoles],
      "A suspension falls in whichever member account spent past its limit: the role's name is fixed, its " +
        'account is any of the organization (aws:ResourceOrgID), and each such role trusts this role alone',
    );
    grantOrganizationStop(enforcement, config);

    const parameters: Record<keyof typeof MEMBER_PARAMETERS, string> = {
      CentralEventBusArn: this.bus.eventBusArn,
      InvocationLogDestinationArn: this.destination.destinationArn,
      SuspendRoleArn: enforcement.function.role.roleArn,
    };
    // What a single extra account's `cdk deploy` of the member stack is given (--parameters).
    for (const [name, value] of Object.entries(parameters)) new CfnOutput(this, name, { value });

    if (config.organizationalUnitIds.length > 0) {
      this.stackSet = new cloudformation.CfnStackSet(this, 'Members', {
        stackSetName: `${stack.stackName}-members`,
        description: 'Budgeteer member stack: forwards Bedrock usage to the budget account and lets it enforce',
        permissionModel: 'SERVICE_MANAGED',
        // Run from the budget account, registered as a delegated administrator for StackSets.
        callAs: 'DELEGATED_ADMIN',
        autoDeployment: { enabled: true, retainStacksOnAccountRemoval: false },
        capabilities: ['CAPABILITY_NAMED_IAM'],
        managedExecution: { Active: true },
        operationPreferences: {
          failureTolerancePercentage: 10,
          maxConcurrentPercentage: 25,
          regionConcurrencyType: 'PARALLEL',
        },
        templateBody: JSON.stringify(memberTemplate(config)),
        parameters: Object.entries(parameters).map(([parameterKey, parameterValue]) => ({
          parameterKey,
          parameterValue,
        })),
        stackInstancesGroup: [
          {
            deploymentTargets: { organizationalUnitIds: [...config.organizationalUnitIds] },
            regions: [stack.region],
          },
        ],
      });
    }
  }
}
