import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { readConfig } from '../../infra/config';
import { BudgeteerStack } from '../../infra/stack';

/** Apps in tests: no built-in CloudFormation validation (warnings only, seconds of WASM engine per synth). */
export const TEST_APP = { builtinCloudFormationValidation: false } as const;

/** Synthesizes the stack as `cdk synth` would, minus asset bundling (tests assert the template, not the bundle). */
export function synthStack(context: Record<string, unknown> = {}): {
  app: App;
  stack: BudgeteerStack;
  template: Template;
} {
  // Without the built-in CloudFormation validation: its findings are warnings nobody reads here, at seconds a synth.
  const app = new App({ ...TEST_APP, context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new BudgeteerStack(app, 'Test', {
    config: readConfig(app.node),
    env: { account: '111122223333', region: 'us-east-1' },
  });
  return { app, stack, template: Template.fromStack(stack) };
}

export function synth(context: Record<string, unknown> = {}): Template {
  return synthStack(context).template;
}

/** Every setting that adds resources or permissions, switched on: what a stricter check must also hold for. */
export const EVERYTHING_ON = {
  enableInvocationLogging: true,
  identityCenterInstanceArn: 'arn:aws:sso:::instance/ssoins-1234567890abcdef',
  breakGlassPrincipals: ['arn:aws:iam::111122223333:role/ops/BreakGlass', 'arn:aws:iam::111122223333:user/emergency'],
  alertEmails: ['finops@example.com'],
  operationsEmails: ['ops@example.com'],
  extraPeriodKinds: ['daily'],
  digest: true,
  reconcilePrincipalGroup: 'TAG:iamPrincipal/arn',
  slackChannels: [{ workspaceId: 'T0123ABCD', channelId: 'C0456EFGH' }],
  microsoftTeamsChannels: [
    {
      teamId: '1b2c3d4e-0000-4000-8000-123456789abc',
      tenantId: '9f8e7d6c-0000-4000-8000-cba987654321',
      channelId: '19%3ab2e1c0d2a1f34e2b8c7d6e5f4a3b2c1d%40thread.tacv2',
    },
  ],
} as const;

export type Statement = {
  Sid?: string;
  Effect: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: unknown;
  NotResource?: unknown;
  Condition?: Record<string, unknown>;
};
export type PolicyDocument = { Statement: Statement[] };

export const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * Every identity policy document in the template (managed and inline policies, and roles' inline policies), with
 * the logical ids of the roles it applies to.
 */
export function policyDocuments(t: Template): { where: string; roles: string[]; document: PolicyDocument }[] {
  const documents: { where: string; roles: string[]; document: PolicyDocument }[] = [];
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
    for (const [id, policy] of Object.entries(t.findResources(type))) {
      const roles = list(policy.Properties.Roles as { Ref: string }[] | undefined).map((role) => role.Ref);
      documents.push({ where: id, roles, document: policy.Properties.PolicyDocument });
    }
  }
  for (const [id, role] of Object.entries(t.findResources('AWS::IAM::Role'))) {
    for (const inline of list(role.Properties.Policies as { PolicyDocument: PolicyDocument }[] | undefined)) {
      documents.push({ where: id, roles: [id], document: inline.PolicyDocument });
    }
  }
  return documents;
}

/** The logical id of the role of the function whose `budgeteer:entry` is `entry`. */
export function roleOf(template: Template, entry: string): string {
  const functions = template.findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': entry } });
  const fn = Object.values(functions)[0] as { Properties: { Role: { 'Fn::GetAtt': [string, string] } } };
  return fn.Properties.Role['Fn::GetAtt'][0];
}

/** Every IAM action granted to the role of the function whose `budgeteer:entry` is `entry`. */
export function actionsGrantedTo(template: Template, entry: string): string[] {
  const roleId = roleOf(template, entry);
  return policyDocuments(template)
    .filter((p) => p.roles.includes(roleId))
    .flatMap((p) => p.document.Statement)
    .flatMap((s) => list(s.Action));
}
