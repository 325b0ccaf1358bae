import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { PERIOD_INDEX } from '../../shared/budgets';
import { KEYS } from '../../shared/budgets/items';
import type { BudgeteerConfig } from '../config';
import type { AuditLog } from './audit';
import { type Enforcement, outboxEnvironment } from './enforcement';
import { BudgeteerFunction, identityEnvironment } from './function';
import type { Topics } from './topics';

export interface AdministrationProps {
  readonly config: BudgeteerConfig;
  readonly budgets: dynamodb.ITable;
  readonly audit: AuditLog;
  readonly topics: Topics;
  readonly enforcement: Enforcement;
}

/**
 * The one door for admin actions (budget set, lift, emergency-stop, resume, override): `functions/admin` behind a
 * function URL with AWS_IAM auth, so every request is SigV4-signed and the function knows who asks. It checks the
 * caller against `adminPrincipals` and refuses anyone acting on themselves. Admins need the managed policy it
 * outputs (`AdminPolicyArn`) and to match `adminPrincipals`.
 */
export class Administration extends Construct {
  public readonly function: BudgeteerFunction;
  public readonly url: lambda.FunctionUrl;
  /** Attach to admins: lets them call the admin function's URL (and nothing else). */
  public readonly adminPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: AdministrationProps) {
    super(scope, id);
    const { config, budgets, enforcement, topics } = props;
    this.function = new BudgeteerFunction(this, 'Admin', {
      entry: 'functions/admin/handler.ts',
      description: 'Admin actions for IAM-authenticated admins: budget set, lift, emergency stop, resume, overrides',
      logRetentionDays: config.logRetentionDays,
      timeout: Duration.seconds(30),
      environment: {
        ...outboxEnvironment(budgets, topics, enforcement),
        AUDIT_TABLE: props.audit.table.tableName,
        PENDING_TABLE: enforcement.pending.tableName,
        DEFAULT_BUDGET_USD: config.defaultBudgetUsd,
        ACCOUNT_BUDGET_USD: config.accountBudgetUsd,
        PERIOD: config.period,
        EXTRA_PERIOD_KINDS: JSON.stringify(config.extraPeriodKinds),
        ADMIN_PRINCIPALS: JSON.stringify(config.adminPrincipals),
        ...identityEnvironment(this, config),
      },
    });
    const fn = this.function.function;
    this.url = fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        // BatchGetItem: groups (`group set|delete`), whose limit items it reads.
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [budgets.tableArn],
      }),
    );
    // It deletes a group's limit item (`group delete`) and nothing else: no counter, claim or deny record.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:DeleteItem'],
        resources: [budgets.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${KEYS.groupPrefix}*`] } },
      }),
    );
    // A change of the default finds the principals that spent this period through the period index.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${budgets.tableArn}/index/${PERIOD_INDEX}`],
      }),
    );
    enforcement.pending.grant(fn, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    props.audit.grantAppend(fn);
    topics.critical.grantPublish(fn);
    enforcement.emergencyStop.grantStartExecution(fn);
    // The task token is the credential for SendTaskSuccess (no resource to name); it never leaves the table.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:SendTaskSuccess'], resources: ['*'] }));
    Validations.of(this.function.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'states:SendTaskSuccess: the task token, read from the Pending table, names the one execution an ' +
        "override's decision ends; the function holds no token it did not find there",
    });

    this.adminPolicy = new iam.ManagedPolicy(this, 'AdminPolicy', {
      description: `Lets an admin call the Bedrock budget admin function of ${Stack.of(this).stackName}`,
      statements: [
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunctionUrl'],
          resources: [fn.functionArn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        // Function URLs also check lambda:InvokeFunction, limited here to calls that come through the URL.
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [fn.functionArn],
          conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
        }),
      ],
    });
  }
}
