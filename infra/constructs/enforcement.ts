import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { BudgeteerConfig } from '../config';
import { acknowledgeWildcardResources } from '../nag';
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
  public readonly alarms: cloudwatch.Alarm[];

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
    this.alarms = [
      alarm('Failed', this.stateMachine.metricFailed({ period: Duration.minutes(5) })),
      alarm('Throttled', this.stateMachine.metricThrottled({ period: Duration.minutes(5) })),
      alarm('Aborted', this.stateMachine.metricAborted({ period: Duration.minutes(5) })),
    ];
    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Execution logging and tracing: CloudWatch Logs log delivery (logs:*LogDelivery*, PutResourcePolicy, ' +
        'DescribeResourcePolicies, DescribeLogGroups) and X-Ray (PutTraceSegments, PutTelemetryRecords, ' +
        'GetSamplingRules, GetSamplingTargets) take no resource',
    });
  }
}

/** Role names of this stack start with its name: the suspend function refuses to deny them. */
export const systemRolePattern = (stack: Stack) => `${stack.stackName}-*`;

/** What the suspend function may do to an IAM user or role: read, write and delete its inline policies. */
export const INLINE_POLICY_ACTIONS = {
  write: ['iam:PutUserPolicy', 'iam:DeleteUserPolicy', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy'],
  read: ['iam:GetUserPolicy', 'iam:ListUserPolicies', 'iam:GetRolePolicy', 'iam:ListRolePolicies', 'iam:GetRole'],
} as const;

/**
 * The IAM resources of the break-glass principals: a user by its ARN, a role by its name at any path (the way
 * shared/enforcement/target.ts recognises a break-glass role). Other ARNs (STS sessions) name no IAM resource.
 */
export function breakGlassResources(arns: readonly string[]): string[] {
  return arns.flatMap((arn) => {
    const role = /^(arn:aws[a-z-]*:iam::\d{12}:role\/)(?:.*\/)?([^/]+)$/.exec(arn);
    if (role) return [`${role[1]}${role[2]}`, `${role[1]}*/${role[2]}`];
    return /^arn:aws[a-z-]*:iam::\d{12}:user\/./.test(arn) ? [arn] : [];
  });
}

/**
 * Lets `role` read, put and delete inline policies of the account's users and roles (the deny policy, whose name and
 * content are the suspend function's: IAM has no condition key for an inline policy's name), with explicit Denies on
 * the system's own roles and the break-glass principals, whatever the code asks.
 */
export function grantDenyPolicyEditing(
  role: iam.IRole,
  options: {
    readonly systemRoles: readonly string[];
    readonly breakGlassPrincipals: readonly string[];
    readonly reason: string;
  },
): void {
  const stack = Stack.of(role);
  const iamArn = (resource: string, name: string) =>
    stack.formatArn({ service: 'iam', region: '', resource, resourceName: name });
  const entities = [iamArn('user', '*'), iamArn('role', '*')];
  // Only inline policies, and only their verbs: no managed policies, trust policies, keys or passwords.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'DenyPolicyOnly',
      actions: [...INLINE_POLICY_ACTIONS.write, ...INLINE_POLICY_ACTIONS.read],
      resources: entities,
    }),
  );
  acknowledgeWildcardResources(role, entities, options.reason);
  // Defence in depth: whatever the code does, the role cannot touch the system's own roles.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'NeverTheSystemRoles',
      effect: iam.Effect.DENY,
      actions: ['iam:PutRolePolicy', 'iam:DeleteRolePolicy'],
      resources: options.systemRoles.map((pattern) => iamArn('role', pattern)),
    }),
  );
  // Nor the break-glass principals (shared/enforcement/target.ts refuses them too).
  const breakGlass = breakGlassResources(options.breakGlassPrincipals);
  if (breakGlass.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NeverBreakGlass',
        effect: iam.Effect.DENY,
        actions: [...INLINE_POLICY_ACTIONS.write],
        resources: breakGlass,
      }),
    );
  }
}

/** The permission sets (and the accounts they are provisioned to) of one IAM Identity Center instance. */
export function identityCenterResources(instanceArn: string): string[] {
  const [, partition] = instanceArn.split(':');
  const instanceId = instanceArn.slice(instanceArn.lastIndexOf('/') + 1);
  return [instanceArn, `arn:${partition}:sso:::permissionSet/${instanceId}/*`, `arn:${partition}:sso:::account/*`];
}

/**
 * Suspension and emergency stop: `functions/suspend` (the only code with IAM write access, and only to the
 * `BudgeteerDeny` policy) and the two workflows that drive it, plus the table of decisions they wait for.
 */
/**
 * The outbox's targets (shared/decisions/outbox.ts, Outbox.fromEnv): the table decisions are claimed on and where
 * their effects go. Naming a state machine grants nothing: a function that starts none is not allowed to.
 */
export function outboxEnvironment(
  budgets: dynamodb.ITable,
  topics: { readonly alerts: sns.ITopic; readonly critical: sns.ITopic },
  enforcement: Enforcement,
): Record<string, string> {
  return {
    BUDGETS_TABLE: budgets.tableName,
    ALERTS_TOPIC_ARN: topics.alerts.topicArn,
    CRITICAL_TOPIC_ARN: topics.critical.topicArn,
    SUSPEND_STATE_MACHINE_ARN: enforcement.suspendPrincipal.stateMachineArn,
    EMERGENCY_STOP_STATE_MACHINE_ARN: enforcement.emergencyStop.stateMachineArn,
  };
}

export class Enforcement extends Construct {
  public readonly function: BudgeteerFunction;
  public readonly suspendPrincipal: sfn.StateMachine;
  public readonly emergencyStop: sfn.StateMachine;
  /** Workflows waiting for a decision: the task token, keyed by a short random id, with a TTL. */
  public readonly pending: dynamodb.Table;
  /** Failed, throttled and aborted executions of either workflow. */
  public readonly workflowAlarms: cloudwatch.Alarm[];

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
        // The account whose application inference profiles a group of profiles denies (and whose roles break glass names).
        ACCOUNT_ID: stack.account,
      },
    });
    const fn = this.function.function;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        // Query: a rate suspension reads the principal's rate buckets to know when its hour falls back.
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Scan', 'dynamodb:Query'],
        resources: [budgets.tableArn],
      }),
    );
    this.pending.grant(fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Scan');
    props.audit.grantAppend(fn);
    props.criticalTopic.grantPublish(fn);
    grantDenyPolicyEditing(this.function.role, {
      systemRoles: [systemRolePattern(stack)],
      breakGlassPrincipals: config.breakGlassPrincipals,
      reason:
        'A suspension falls on whichever IAM user or role of the account spent past its limit: none is known at ' +
        'deploy time. The statement allows only inline-policy verbs; the Deny statements beside it exclude the ' +
        "stack's own roles and the break-glass principals",
    });
    if (config.identityCenterInstanceArn) {
      const permissionSets = identityCenterResources(config.identityCenterInstanceArn);
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
          resources: permissionSets,
        }),
      );
      acknowledgeWildcardResources(
        this.function.role,
        permissionSets.slice(1),
        'An AWSReservedSSO_* role is suspended through its permission set, which is not known at deploy time: any ' +
          'permission set of the configured instance, re-provisioned to the accounts it is provisioned to',
      );
    }

    const substitutions = { SuspendFunction: fn.functionArn };
    const suspendPrincipal = new Workflow(
      this,
      'SuspendPrincipal',
      'suspend-principal.asl.json',
      substitutions,
      retention,
    );
    const emergencyStop = new Workflow(this, 'EmergencyStop', 'emergency-stop.asl.json', substitutions, retention);
    this.suspendPrincipal = suspendPrincipal.stateMachine;
    this.emergencyStop = emergencyStop.stateMachine;
    this.workflowAlarms = [...suspendPrincipal.alarms, ...emergencyStop.alarms];
    // The workflows call the function by its unqualified ARN: no version or alias needs to be invocable.
    for (const machine of [this.suspendPrincipal, this.emergencyStop]) fn.grantInvokeLatestVersion(machine);
    // A lift or raise that came before the wait began: the await step ends the wait itself. SendTaskSuccess takes
    // no resource (the task token is the credential), and naming the machines here would make a dependency cycle.
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'], resources: ['*'] }),
    );
    Validations.of(this.function.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'states:SendTaskSuccess and SendTaskFailure: the task token names the execution, and naming the state ' +
        'machines here would make a dependency cycle (they invoke this function)',
    });
  }

  /** Lets a function end a workflow's wait (a raised limit, a lift) through the pending-decisions table. */
  grantDecide(grantee: iam.IGrantable): void {
    this.pending.grant(grantee, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Scan');
    for (const machine of [this.suspendPrincipal, this.emergencyStop]) machine.grantTaskResponse(grantee);
  }
}
