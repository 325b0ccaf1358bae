import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { BudgeteerConfig } from '../config';
import type { AuditLog } from './audit';
import type { Enforcement } from './enforcement';
import { BudgeteerFunction } from './function';
import { stackRolePattern } from './tables';

export interface ApprovalsProps {
  readonly config: BudgeteerConfig;
  readonly budgets: dynamodb.ITable;
  readonly audit: AuditLog;
  readonly criticalTopic: sns.ITopic;
  readonly enforcement: Enforcement;
}

/**
 * Approval links: `functions/approve` behind a function URL (auth NONE: the signed, single-use link is the
 * credential; a GET only renders a confirmation page) and the secret that signs the links. The suspend function
 * signs the links it puts in its messages with the same secret, so it learns the URL and may read the secret.
 */
export class Approvals extends Construct {
  public readonly function: BudgeteerFunction;
  public readonly url: lambda.FunctionUrl;
  public readonly signingSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: ApprovalsProps) {
    super(scope, id);
    const { config, budgets, enforcement } = props;
    this.signingSecret = new secretsmanager.Secret(this, 'SigningKey', {
      description: 'Signs Bedrock budget approval links (HMAC-SHA256); rotate to revoke every link at once',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    Validations.of(this.signingSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotating the signing key revokes every approval link still open, so an operator rotates it by hand when ' +
        "links must die at once; a schedule would break links mid-decision. Only the stack's two functions read it",
    });
    this.function = new BudgeteerFunction(this, 'Approve', {
      entry: 'functions/approve/handler.ts',
      description: 'Serves approval links: a confirmation page on GET, the decision on its POST',
      logRetentionDays: config.logRetentionDays,
      timeout: Duration.seconds(15),
      environment: {
        BUDGETS_TABLE: budgets.tableName,
        AUDIT_TABLE: props.audit.table.tableName,
        PENDING_TABLE: enforcement.pending.tableName,
        CRITICAL_TOPIC_ARN: props.criticalTopic.topicArn,
        SIGNING_SECRET_ARN: this.signingSecret.secretArn,
        DEFAULT_BUDGET_USD: config.defaultBudgetUsd,
        ACCOUNT_BUDGET_USD: config.accountBudgetUsd,
      },
    });
    const fn = this.function.function;
    this.url = fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    this.signingSecret.grantRead(fn);
    // Reads spend and limits for the page; writes a raised limit and a lift (the item's own generation).
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [budgets.tableArn],
      }),
    );
    enforcement.pending.grant(fn, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    props.audit.grantAppend(fn);
    props.criticalTopic.grantPublish(fn);
    // The task token is the credential for SendTaskSuccess (no resource to name); it never leaves the table.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:SendTaskSuccess'], resources: ['*'] }));
    Validations.of(this.function.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'states:SendTaskSuccess: the task token names the execution; naming the state machines would make a ' +
        'dependency cycle (the suspend function they invoke carries this function URL)',
    });

    const suspend = enforcement.function.function;
    suspend.addEnvironment('APPROVAL_URL', this.url.url);
    suspend.addEnvironment('SIGNING_SECRET_ARN', this.signingSecret.secretArn);
    this.signingSecret.grantRead(suspend);
    // Whoever reads the key can sign links: nobody but the stack's own roles (the approve and suspend functions).
    this.signingSecret.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheStacksFunctions',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['secretsmanager:GetSecretValue'],
        resources: ['*'],
        conditions: { ArnNotLike: { 'aws:PrincipalArn': stackRolePattern(Stack.of(this)) } },
      }),
    );
  }
}
