import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { BudgeteerConfig } from '../config';
import type { AuditLog } from './audit';
import { BudgeteerFunction, REPO_ROOT } from './function';
import { writesOnlyFromTheStack } from './tables';

export interface EnforcementProps {
  readonly config: BudgeteerConfig;
  readonly budgets: dynamodb.ITable;
  readonly audit: AuditLog;
  readonly criticalTopic: sns.ITopic;
}

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
      // Every state transition is logged, but not its data: the wait step hands its task token to the suspend
      // function as a parameter, and a task token must never reach a log (it is kept in the Pending table only).
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
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

/** Role names of this stack start with its name: the suspend function refuses to deny them. */
export const systemRolePattern = (stack: Stack) => `${stack.stackName}-*`;

/**
 * Suspension and emergency stop: `functions/suspend` (the only code with IAM write access, and only to the
 * `BudgeteerDeny` policy) and the two workflows that drive it, plus the table of decisions they wait for.
 */
export class Enforcement extends Construct {
  public readonly function: BudgeteerFunction;
  public readonly suspendPrincipal: sfn.StateMachine;
  public readonly emergencyStop: sfn.StateMachine;
  /** Workflows waiting for a decision: the task token, keyed by a short random id, with a TTL. */
  public readonly pending: dynamodb.Table;

  constructor(scope: Construct, id: string, props: EnforcementProps) {
    super(scope, id);
    const { config, budgets } = props;
    const stack = Stack.of(this);
    const retention = config.logRetentionDays as logs.RetentionDays;
    this.pending = new dynamodb.Table(this, 'Pending', {
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      // A decision recorded here is acted on (a raised limit, a lift): only the stack's functions write it.
      resourcePolicy: writesOnlyFromTheStack(stack),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.function = new BudgeteerFunction(this, 'Suspend', {
      entry: 'functions/suspend/handler.ts',
      description: 'Applies and lifts the BudgeteerDeny policy for the suspension and emergency-stop workflows',
      logRetentionDays: retention,
      timeout: Duration.seconds(60),
      environment: {
        BUDGETS_TABLE: budgets.tableName,
        AUDIT_TABLE: props.audit.table.tableName,
        PENDING_TABLE: this.pending.tableName,
        CRITICAL_TOPIC_ARN: props.criticalTopic.topicArn,
        BREAK_GLASS_PRINCIPALS: JSON.stringify(config.breakGlassPrincipals),
        SYSTEM_ROLE_PATTERNS: JSON.stringify([systemRolePattern(stack)]),
        IDENTITY_CENTER_INSTANCE_ARN: config.identityCenterInstanceArn,
        DECISION_HOURS: String(config.approvalLinkHours),
      },
    });
    const fn = this.function.function;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Scan'],
        resources: [budgets.tableArn],
      }),
    );
    this.pending.grant(fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Scan');
    props.audit.grantAppend(fn);
    props.criticalTopic.grantPublish(fn);
    const iamArn = (resource: string) => stack.formatArn({ service: 'iam', region: '', resource, resourceName: '*' });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'DenyPolicyOnly',
        actions: [
          'iam:PutUserPolicy',
          'iam:DeleteUserPolicy',
          'iam:GetUserPolicy',
          'iam:ListUserPolicies',
          'iam:PutRolePolicy',
          'iam:DeleteRolePolicy',
          'iam:GetRolePolicy',
          'iam:ListRolePolicies',
          'iam:GetRole',
        ],
        resources: [iamArn('user'), iamArn('role')],
      }),
    );
    // Defence in depth: whatever the code does, this role cannot touch the stack's own roles.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'NeverTheSystemRoles',
        effect: iam.Effect.DENY,
        actions: ['iam:PutRolePolicy', 'iam:DeleteRolePolicy'],
        resources: [
          stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: systemRolePattern(stack) }),
        ],
      }),
    );
    if (config.identityCenterInstanceArn) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: [
            'sso:ListPermissionSets',
            'sso:DescribePermissionSet',
            'sso:GetInlinePolicyForPermissionSet',
            'sso:PutInlinePolicyToPermissionSet',
            'sso:DeleteInlinePolicyFromPermissionSet',
            'sso:ProvisionPermissionSet',
          ],
          resources: ['*'],
        }),
      );
    }

    const substitutions = { SuspendFunction: fn.functionArn };
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
    for (const machine of [this.suspendPrincipal, this.emergencyStop]) fn.grantInvoke(machine);
    // A lift or raise that came before the wait began: the await step ends the wait itself. SendTaskSuccess takes
    // no resource (the task token is the credential), and naming the machines here would make a dependency cycle.
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'], resources: ['*'] }),
    );
  }

  /** Lets a function end a workflow's wait (a raised limit, a lift) through the pending-decisions table. */
  grantDecide(grantee: iam.IGrantable): void {
    this.pending.grant(grantee, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Scan');
    for (const machine of [this.suspendPrincipal, this.emergencyStop]) machine.grantTaskResponse(grantee);
  }
}
