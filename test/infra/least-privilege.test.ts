import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import {
  breakGlassResources,
  INLINE_POLICY_ACTIONS,
  identityCenterResources,
} from '../../infra/constructs/enforcement';
import { enforcementTarget, type ProtectionRules } from '../../shared/enforcement/target';
import { EVERYTHING_ON, list, policyDocuments, roleOf, type Statement, synth, TEST_APP } from './stack-helpers';

const SUSPEND = 'functions/suspend/handler.ts';
const CONFIGURATIONS = [
  ['the default configuration', {}],
  ['every optional resource and permission switched on', EVERYTHING_ON],
] as const;

/** Actions that change who may do what: IAM's writes, and the inline policies of IAM Identity Center permission sets. */
const isIamWrite = (action: string) =>
  action === '*' ||
  /^iam:(?!Get|List|Generate|Simulate)/i.test(action) ||
  /^sso:(\*|Put|Delete|Attach|Detach|Create|Update|Provision)/i.test(action);

/** Actions that write or remove a policy of an IAM entity (or a permission set's). */
const isPolicyWrite = (action: string) =>
  action === '*' ||
  /^iam:\*$/.test(action) ||
  /^iam:(Put|Delete|Attach|Detach|Create|Update)\w*Polic/i.test(action) ||
  /^sso:(\*|Put|Delete|Attach|Detach)\w*Polic/i.test(action);

/**
 * Every action allowed on Resource "*" in the stack, and why it cannot be narrowed. cdk-nag's acknowledgements of
 * `Resource::*` (one per role) hold only as long as this list does.
 */
const UNSCOPED_ACTIONS: Record<string, string> = {
  'xray:PutTraceSegments': 'X-Ray tracing has no resource',
  'xray:PutTelemetryRecords': 'X-Ray tracing has no resource',
  'xray:GetSamplingRules': 'X-Ray sampling (workflow tracing) has no resource',
  'xray:GetSamplingTargets': 'X-Ray sampling (workflow tracing) has no resource',
  'dynamodb:ListStreams': 'the stream event source lists streams, which has no resource',
  'logs:CreateLogDelivery': 'vended log delivery (workflow execution logs) has no resource',
  'logs:GetLogDelivery': 'vended log delivery has no resource',
  'logs:UpdateLogDelivery': 'vended log delivery has no resource',
  'logs:DeleteLogDelivery': 'vended log delivery has no resource',
  'logs:ListLogDeliveries': 'vended log delivery has no resource',
  'logs:PutResourcePolicy': 'vended log delivery sets the log group policy it needs',
  'logs:DescribeResourcePolicies': 'vended log delivery reads the log group policies',
  'logs:DescribeLogGroups': 'vended log delivery looks up its log group',
  'states:SendTaskSuccess': 'the task token names the execution; naming the machines makes a dependency cycle',
  'states:SendTaskFailure': 'the task token names the execution; naming the machines makes a dependency cycle',
  'bedrock:PutModelInvocationLoggingConfiguration': 'an account setting: no resource',
  'bedrock:DeleteModelInvocationLoggingConfiguration': 'an account setting: no resource',
  'pricing:GetProducts': 'the AWS Price List is public data with no resource type',
  'ce:GetCostAndUsage': 'Cost Explorer answers for the whole account: no resource type',
};

const allows = (t: Template) =>
  policyDocuments(t).flatMap(({ where, roles, document }) =>
    document.Statement.filter((s) => s.Effect === 'Allow').map((statement) => ({ where, roles, statement })),
  );
const onEverything = (s: Statement) => list(s.Resource).includes('*') || s.NotResource !== undefined;

/** Allow statements that give an IAM write action on every resource, unconditioned. */
function unconditionedIamWritesOnEverything(t: Template): string[] {
  return allows(t)
    .filter(({ statement }) => onEverything(statement) && statement.Condition === undefined)
    .flatMap(({ where, statement }) =>
      (statement.NotAction ? ['NotAction'] : list(statement.Action).filter(isIamWrite)).map((a) => `${where}: ${a}`),
    );
}

/** A stack with one role granted `statement`, to prove a check can fail. */
function roleWith(statement: iam.PolicyStatement): Template {
  const stack = new Stack(new App(TEST_APP), 'One');
  const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  role.addToPrincipalPolicy(statement);
  return Template.fromStack(stack);
}

function environmentOf(t: Template, entry: string): Record<string, unknown> {
  const [fn] = Object.values(t.findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': entry } }));
  return (fn as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment
    .Variables;
}

/** The protection rules the deployed suspend function runs with, read back from its environment. */
function protectionOf(t: Template): ProtectionRules {
  const env = environmentOf(t, SUSPEND);
  return {
    accountId: '111122223333',
    breakGlassArns: JSON.parse(env.BREAK_GLASS_PRINCIPALS as string),
    systemRolePatterns: JSON.parse(env.SYSTEM_ROLE_PATTERNS as string),
  };
}

describe.each(CONFIGURATIONS)('least privilege, with %s', (_, context) => {
  const template = synth(context);

  it('allows no IAM write action on Resource "*" without a condition, to any role', () => {
    expect(unconditionedIamWritesOnEverything(template)).toEqual([]);
  });

  it('allows on Resource "*" only actions that take no resource', () => {
    const unscoped = allows(template)
      .filter(({ statement }) => onEverything(statement))
      .flatMap(({ where, statement }) => list(statement.Action).map((action) => ({ where, action })));

    expect(unscoped.filter(({ action }) => UNSCOPED_ACTIONS[action] === undefined)).toEqual([]);
  });

  it('lets only the suspend function write policies, and only inline ones of users and roles of this account', () => {
    const suspendRole = roleOf(template, SUSPEND);
    const writers = allows(template).filter(({ statement }) => list(statement.Action).some(isPolicyWrite));

    expect(writers.filter(({ roles }) => !roles.includes(suspendRole))).toEqual([]);
    const iamWriters = writers.filter(({ statement }) => list(statement.Action).some((a) => a.startsWith('iam:')));
    expect(iamWriters).toHaveLength(1);
    const statement = iamWriters[0]?.statement as Statement;
    expect(list(statement.Action).filter(isIamWrite).sort()).toEqual([...INLINE_POLICY_ACTIONS.write].sort());
    expect(JSON.stringify(statement.Resource)).toBe(
      JSON.stringify(
        ['user', 'role'].map((kind) => ({
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::111122223333:${kind}/*`]],
        })),
      ),
    );
  });

  it('denies the suspend function, whatever its code does, any policy write on the stack’s own roles', () => {
    const suspendRole = roleOf(template, SUSPEND);
    const guard = policyDocuments(template)
      .filter(({ roles }) => roles.includes(suspendRole))
      .flatMap(({ document }) => document.Statement)
      .find((s) => s.Sid === 'NeverTheSystemRoles');

    expect(guard).toMatchObject({ Effect: 'Deny', Action: ['iam:PutRolePolicy', 'iam:DeleteRolePolicy'] });
    expect(JSON.stringify(guard?.Resource)).toContain(':iam::111122223333:role/Test-*');
  });

  it('never lets the suspend function deny the account root, the stack’s roles or the break-glass list', () => {
    const protection = protectionOf(template);

    expect(enforcementTarget({ id: 'root' }, protection, false)).toMatchObject({ status: 'protected' });
    // CloudFormation names each role of the stack `<stack name>-<logical id>-<suffix>`, unless it is given a name.
    for (const [logicalId, role] of Object.entries(template.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.RoleName).toBeUndefined();
      const id = `role/Test-${logicalId}-1A2B3C4D5E6F`.slice(0, 69);
      expect([logicalId, enforcementTarget({ id }, protection, true).status]).toEqual([logicalId, 'protected']);
    }
    for (const arn of protection.breakGlassArns) {
      const id = arn.replace(/^arn:aws:iam::\d{12}:(role|user)\/(?:.*\/)?/, '$1/');
      expect(enforcementTarget({ id, arn }, protection, true)).toMatchObject({ status: 'protected' });
    }
  });
});

describe('least privilege, configured', () => {
  it('hands the break-glass list to the suspend function and the evaluator, and denies the suspend role their policies', () => {
    const template = synth(EVERYTHING_ON);
    const suspendRole = roleOf(template, SUSPEND);

    for (const entry of [SUSPEND, 'functions/evaluate/handler.ts']) {
      expect(JSON.parse(environmentOf(template, entry).BREAK_GLASS_PRINCIPALS as string)).toEqual(
        EVERYTHING_ON.breakGlassPrincipals,
      );
    }
    const guard = policyDocuments(template)
      .filter(({ roles }) => roles.includes(suspendRole))
      .flatMap(({ document }) => document.Statement)
      .find((s) => s.Sid === 'NeverBreakGlass');
    expect(guard).toEqual({
      Sid: 'NeverBreakGlass',
      Effect: 'Deny',
      Action: [...INLINE_POLICY_ACTIONS.write],
      Resource: [
        'arn:aws:iam::111122223333:role/BreakGlass',
        'arn:aws:iam::111122223333:role/*/BreakGlass',
        'arn:aws:iam::111122223333:user/emergency',
      ],
    });
  });

  it('reads a break-glass role by its name at any path, a user by its ARN, and nothing from a session ARN', () => {
    expect(
      breakGlassResources([
        'arn:aws:iam::111122223333:role/a/b/Ops',
        'arn:aws:iam::111122223333:user/alice',
        'arn:aws:sts::111122223333:assumed-role/Ops/session',
      ]),
    ).toEqual([
      'arn:aws:iam::111122223333:role/Ops',
      'arn:aws:iam::111122223333:role/*/Ops',
      'arn:aws:iam::111122223333:user/alice',
    ]);
  });

  it('confines permission-set writes to the configured IAM Identity Center instance', () => {
    const template = synth(EVERYTHING_ON);
    const ssoWriters = allows(template).filter(({ statement }) =>
      list(statement.Action).some((a) => a.startsWith('sso:')),
    );

    expect(ssoWriters).toHaveLength(1);
    expect(ssoWriters[0]?.statement.Resource).toEqual(identityCenterResources(EVERYTHING_ON.identityCenterInstanceArn));
    expect(identityCenterResources('arn:aws:sso:::instance/ssoins-1234567890abcdef')).toEqual([
      'arn:aws:sso:::instance/ssoins-1234567890abcdef',
      'arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/*',
      'arn:aws:sso:::account/*',
    ]);
  });
});

describe('the checks above can fail', () => {
  it('finds an IAM write on "*" without a condition, and lets one with a condition pass', () => {
    const bare = roleWith(new iam.PolicyStatement({ actions: ['iam:PutRolePolicy'], resources: ['*'] }));
    const conditioned = roleWith(
      new iam.PolicyStatement({
        actions: ['iam:PutRolePolicy'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:ResourceTag/budgeteer': 'true' } },
      }),
    );

    expect(unconditionedIamWritesOnEverything(bare)).toEqual([expect.stringMatching(/: iam:PutRolePolicy$/)]);
    expect(unconditionedIamWritesOnEverything(conditioned)).toEqual([]);
  });

  it('counts a wildcard action and an sso permission-set write as IAM writes, and a read as none', () => {
    expect(['iam:*', '*', 'iam:AttachRolePolicy', 'sso:PutInlinePolicyToPermissionSet'].every(isIamWrite)).toBe(true);
    expect(['iam:GetRole', 'iam:ListRolePolicies', 'sso:DescribePermissionSet'].some(isIamWrite)).toBe(false);
  });
});
