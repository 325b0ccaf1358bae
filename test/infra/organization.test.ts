import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { readConfig } from '../../infra/config';
import { BudgeteerMemberStack, memberTemplate } from '../../infra/organization/member';
import { MEMBER_ENFORCEMENT_ROLE_NAME } from '../../shared/enforcement/organization';
import { type PolicyDocument, policyDocuments, roleOf, synthStack, TEST_APP } from './stack-helpers';

const ORGANIZATION = {
  organizationId: 'o-abcdefghij',
  organizationalUnitIds: 'ou-ab12-cdef3456,ou-ab12-ghij7890',
  breakGlassPrincipals: ['arn:aws:iam::444455556666:role/ops/BreakGlass'],
};
const central = synthStack(ORGANIZATION);
const t = central.template;

function member(context: Record<string, unknown> = ORGANIZATION): Template {
  const app = new App({ ...TEST_APP, context });
  return Template.fromStack(new BudgeteerMemberStack(app, 'Member', { config: readConfig(app.node) }));
}
const m = member();

/** The one resource of `type` in `template`, by its properties. */
function only(template: Template, type: string): { Properties: Record<string, unknown> } {
  const found = Object.values(template.findResources(type));
  expect(found).toHaveLength(1);
  return found[0] as { Properties: Record<string, unknown> };
}

describe('an organization deployment: the central stack', () => {
  it('lets the accounts of the organization, and only them, put events on the central bus', () => {
    t.hasResourceProperties('AWS::Events::EventBusPolicy', {
      Statement: {
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 'events:PutEvents',
        Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij' } },
      },
    });
  });

  it("meters the bus's Bedrock calls through ingest's CloudTrail queue, whose policy lets that rule send too", () => {
    const bus = Object.keys(t.findResources('AWS::Events::EventBus'))[0];
    const rules = t.findResources('AWS::Events::Rule', { Properties: { EventBusName: { Ref: bus } } });
    const [ruleId] = Object.keys(rules);

    expect(Object.keys(rules)).toHaveLength(1);
    // InvokeModel is a read-only management event: a rule in the plain enabled state never sees it, forwarded or not.
    expect(rules[ruleId as string]?.Properties.State).toBe('ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS');
    t.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'OnlyTheBedrockRuleSends',
            Effect: 'Deny',
            Condition: { ArnNotEquals: { 'aws:SourceArn': Match.arrayWith([{ 'Fn::GetAtt': [ruleId, 'Arn'] }]) } },
          }),
        ]),
      },
    });
  });

  it("lets the organization's accounts subscribe to the Logs destination, which targets the Kinesis stream", () => {
    const destination = only(t, 'AWS::Logs::Destination').Properties;
    const policy = JSON.parse(
      (destination.DestinationPolicy as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]
        .map((part) => (typeof part === 'string' ? part : '#'))
        .join(''),
    ) as PolicyDocument;
    const stream = Object.keys(t.findResources('AWS::Kinesis::Stream'))[0];

    expect(destination.TargetArn).toEqual({ 'Fn::GetAtt': [stream, 'Arn'] });
    expect(policy.Statement).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 'logs:PutSubscriptionFilter',
        Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij' } },
      }),
    ]);
  });

  it('puts the subscriptions on the stream through a role only CloudWatch Logs assumes, allowed PutRecord alone', () => {
    const roleArn = only(t, 'AWS::Logs::Destination').Properties.RoleArn as { 'Fn::GetAtt': [string, string] };
    const role = t.toJSON().Resources[roleArn['Fn::GetAtt'][0]];
    const policies = t.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: roleArn['Fn::GetAtt'][0] }] },
    });

    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({ Principal: { Service: 'logs.amazonaws.com' } }),
    ]);
    expect(
      Object.values(policies).flatMap((p) =>
        p.Properties.PolicyDocument.Statement.map((s: { Action: unknown }) => s.Action),
      ),
    ).toEqual(['kinesis:PutRecord']);
  });

  it('keeps an on-demand, encrypted stream read by the ingest function, failures kept, partial batches retried', () => {
    t.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
    });
    const stream = Object.keys(t.findResources('AWS::Kinesis::Stream'))[0];
    const mappings = Object.values(
      t.findResources('AWS::Lambda::EventSourceMapping', {
        Properties: { EventSourceArn: { 'Fn::GetAtt': [stream, 'Arn'] } },
      }),
    );

    expect(mappings).toHaveLength(1);
    expect(mappings[0]?.Properties).toMatchObject({
      FunctionName: { Ref: expect.any(String) },
      StartingPosition: 'TRIM_HORIZON',
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 5,
      // Member calls reach their counters within about a second, with the design load's concurrency (docs).
      MaximumBatchingWindowInSeconds: 1,
      ParallelizationFactor: 2,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } } },
    });
    const ingest = t.findResources('AWS::Lambda::Function', {
      Metadata: { 'budgeteer:entry': 'functions/ingest/handler.ts' },
    });
    expect(Object.keys(ingest)).toEqual([mappings[0]?.Properties.FunctionName.Ref]);
  });

  it("alarms when the stream's failure queue holds a batch ingest gave up on", () => {
    const failures = Object.keys(t.findResources('AWS::SQS::Queue')).filter((id) =>
      id.startsWith('OrganizationStreamFailures'),
    );

    expect(failures).toHaveLength(1);
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [failures[0], 'QueueName'] } }],
    });
  });

  it("lets the suspend function assume the members' enforcement role, in the organization only", () => {
    const suspendRole = roleOf(t, 'functions/suspend/handler.ts');

    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: suspendRole }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'MemberEnforcementRoles',
            Effect: 'Allow',
            Action: 'sts:AssumeRole',
            Resource: {
              'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::*:role/${MEMBER_ENFORCEMENT_ROLE_NAME}`]],
            },
            Condition: { StringEquals: { 'aws:ResourceOrgID': 'o-abcdefghij' } },
          },
        ]),
      },
    });
  });

  describe("the organization stop's settings and permissions of the suspend function", () => {
    const SUSPEND = 'functions/suspend/handler.ts';
    const environmentOf = (template: Template): Record<string, unknown> => {
      const functions = template.findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': SUSPEND } });
      return Object.values(functions)[0]?.Properties.Environment.Variables ?? {};
    };
    const statementsOf = (template: Template) => {
      const role = roleOf(template, SUSPEND);
      return policyDocuments(template)
        .filter((policy) => policy.roles.includes(role))
        .flatMap((policy) => policy.document.Statement);
    };
    const MANAGEMENT_ROLE = 'arn:aws:iam::111111111111:role/BudgeteerOrganizationStop';

    it('tells the function its organization, partition and SCP targets (the OUs by default)', () => {
      expect(environmentOf(t)).toMatchObject({
        ORGANIZATION_ID: 'o-abcdefghij',
        PARTITION: { Ref: 'AWS::Partition' },
        ORGANIZATION_STOP_TARGETS: JSON.stringify(['ou-ab12-cdef3456', 'ou-ab12-ghij7890']),
        ORGANIZATION_MANAGEMENT_ROLE_ARN: '',
        MANAGEMENT_ACCOUNT_ID: '',
      });
      const targeted = synthStack({ ...ORGANIZATION, organizationStopTargets: 'r-ab12,123456789012' }).template;
      expect(environmentOf(targeted).ORGANIZATION_STOP_TARGETS).toBe(JSON.stringify(['r-ab12', '123456789012']));
      // No OU and no target: empty, the function attaches to the root.
      const rooted = synthStack({ organizationId: 'o-abcdefghij' }).template;
      expect(environmentOf(rooted).ORGANIZATION_STOP_TARGETS).toBe('[]');
    });

    it("lets it create, update, attach and detach only its own tagged SCP, on this organization's roots, OUs and accounts", () => {
      const arn = (resource: string) => ({
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:organizations::*:${resource}`]],
      });
      const policy = arn('policy/o-abcdefghij/service_control_policy/*');

      expect(statementsOf(t)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Sid: 'OrganizationStopTargets',
            Effect: 'Allow',
            Action: ['organizations:AttachPolicy', 'organizations:DetachPolicy'],
            Resource: [arn('root/o-abcdefghij/*'), arn('ou/o-abcdefghij/*'), arn('account/o-abcdefghij/*')],
          }),
          // The policy side of attach and detach, and every change of a policy: the stop's tagged one only, so the
          // organization's own SCPs (FullAWSAccess, guardrails) can be neither rewritten nor moved.
          expect.objectContaining({
            Sid: 'OrganizationStopPolicyUpkeep',
            Action: [
              'organizations:DescribePolicy',
              'organizations:UpdatePolicy',
              'organizations:ListTargetsForPolicy',
              'organizations:AttachPolicy',
              'organizations:DetachPolicy',
            ],
            Resource: policy,
            Condition: { StringEquals: { 'aws:ResourceTag/budgeteer': 'organization-stop' } },
          }),
          expect.objectContaining({
            Sid: 'OrganizationStopPolicy',
            Action: ['organizations:CreatePolicy', 'organizations:TagResource'],
            Resource: '*',
            Condition: {
              StringEquals: {
                'aws:RequestTag/budgeteer': 'organization-stop',
                'organizations:PolicyType': 'SERVICE_CONTROL_POLICY',
              },
              'ForAllValues:StringEquals': { 'aws:TagKeys': ['budgeteer'] },
            },
          }),
        ]),
      );
      expect(JSON.stringify(statementsOf(t))).not.toMatch(/organizations:(DeletePolicy|\*)/);
    });

    it('assumes the management account role for the SCP when one is configured, and asks Organizations for nothing itself', () => {
      const managed = synthStack({
        ...ORGANIZATION,
        organizationManagementRoleArn: MANAGEMENT_ROLE,
        managementAccountId: '111111111111',
      }).template;
      const statements = statementsOf(managed);

      expect(environmentOf(managed)).toMatchObject({
        ORGANIZATION_MANAGEMENT_ROLE_ARN: MANAGEMENT_ROLE,
        MANAGEMENT_ACCOUNT_ID: '111111111111',
      });
      expect(statements).toEqual(
        expect.arrayContaining([
          { Sid: 'OrganizationManagementRole', Effect: 'Allow', Action: 'sts:AssumeRole', Resource: MANAGEMENT_ROLE },
        ]),
      );
      expect(JSON.stringify(statements)).not.toContain('organizations:');
    });

    it('leaves a single account without any of it: no organization settings, no STS, no Organizations', () => {
      const single = synthStack().template;

      expect(Object.keys(environmentOf(single))).not.toEqual(expect.arrayContaining(['ORGANIZATION_ID']));
      expect(JSON.stringify(statementsOf(single))).not.toMatch(/organizations:|sts:AssumeRole/);
    });
  });

  it('deploys the member stack to the OUs by a service-managed StackSet, to new accounts too, with the central ARNs', () => {
    const stackSet = only(t, 'AWS::CloudFormation::StackSet').Properties;
    const suspendRole = roleOf(t, 'functions/suspend/handler.ts');

    expect(stackSet).toMatchObject({
      PermissionModel: 'SERVICE_MANAGED',
      CallAs: 'DELEGATED_ADMIN',
      AutoDeployment: { Enabled: true, RetainStacksOnAccountRemoval: false },
      Capabilities: ['CAPABILITY_NAMED_IAM'],
      StackInstancesGroup: [
        {
          DeploymentTargets: { OrganizationalUnitIds: ['ou-ab12-cdef3456', 'ou-ab12-ghij7890'] },
          Regions: ['us-east-1'],
        },
      ],
    });
    expect(stackSet.Parameters).toEqual(
      expect.arrayContaining([
        { ParameterKey: 'SuspendRoleArn', ParameterValue: { 'Fn::GetAtt': [suspendRole, 'Arn'] } },
      ]),
    );
    expect(JSON.parse(stackSet.TemplateBody as string)).toEqual(memberTemplate(readConfig(central.app.node)));
  });

  it('makes no StackSet without an OU (members by cdk deploy), and nothing of this without an organization', () => {
    expect(
      synthStack({ organizationId: 'o-abcdefghij' }).template.findResources('AWS::CloudFormation::StackSet'),
    ).toEqual({});
    const single = synthStack().template;
    for (const type of ['AWS::Events::EventBus', 'AWS::Logs::Destination', 'AWS::Kinesis::Stream']) {
      expect(single.findResources(type)).toEqual({});
    }
  });
});

describe('an organization deployment: the member stack', () => {
  it('is one template a StackSet can deploy: no asset, no bootstrap check, within the 51,200-byte template body', () => {
    const template = memberTemplate(readConfig(new App({ context: ORGANIZATION }).node));
    const body = JSON.stringify(template);

    expect(Object.keys((template.Parameters ?? {}) as object).sort()).toEqual([
      'CentralEventBusArn',
      'InvocationLogDestinationArn',
      'SuspendRoleArn',
    ]);
    expect(template.Rules).toBeUndefined();
    expect(body).not.toMatch(/AssetParameters|cdk-hnb659fds|AWS::Lambda::Function/);
    expect(Buffer.byteLength(body)).toBeLessThan(51_200);
  });

  it("forwards the account's Bedrock CloudTrail events to the central bus with a role", () => {
    m.hasResourceProperties('AWS::Events::Rule', {
      State: 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS',
      EventPattern: { 'detail-type': ['AWS API Call via CloudTrail'] },
      Targets: [{ Arn: { Ref: 'CentralEventBusArn' }, RoleArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } }],
    });
    m.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [{ Effect: 'Allow', Action: 'events:PutEvents', Resource: { Ref: 'CentralEventBusArn' } }],
      },
    });
  });

  it('subscribes the invocation log group to the central destination, invocation records only', () => {
    m.hasResourceProperties('AWS::Logs::SubscriptionFilter', {
      LogGroupName: '/aws/bedrock/modelinvocations',
      DestinationArn: { Ref: 'InvocationLogDestinationArn' },
      FilterPattern: '{ $.schemaType = "ModelInvocationLog" }',
    });
  });

  it('trusts the central suspend role alone, by its ARN and the organization id', () => {
    m.hasResourceProperties('AWS::IAM::Role', {
      RoleName: MEMBER_ENFORCEMENT_ROLE_NAME,
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: 'sts:AssumeRole',
            Principal: { AWS: { Ref: 'SuspendRoleArn' } },
            Condition: {
              ArnEquals: { 'aws:PrincipalArn': { Ref: 'SuspendRoleArn' } },
              StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij' },
            },
          },
        ],
      },
    });
  });

  it("may only put, delete and read inline policies of the account's users and roles, never the system's or break-glass", () => {
    const roleId = Object.keys(
      m.findResources('AWS::IAM::Role', { Properties: { RoleName: MEMBER_ENFORCEMENT_ROLE_NAME } }),
    )[0];
    const statements = Object.values(
      m.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
    ).flatMap((policy) => (policy.Properties.PolicyDocument as PolicyDocument).Statement);
    const arn = (resource: string) => ({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, `:${resource}`]],
    });

    expect(statements).toEqual([
      {
        Sid: 'DenyPolicyOnly',
        Effect: 'Allow',
        Action: [
          'iam:PutUserPolicy',
          'iam:DeleteUserPolicy',
          'iam:PutRolePolicy',
          'iam:DeleteRolePolicy',
          'iam:GetUserPolicy',
          'iam:ListUserPolicies',
          'iam:GetRolePolicy',
          'iam:ListRolePolicies',
          'iam:GetRole',
        ],
        Resource: [arn('user/*'), arn('role/*')],
      },
      {
        Sid: 'NeverTheSystemRoles',
        Effect: 'Deny',
        Action: ['iam:PutRolePolicy', 'iam:DeleteRolePolicy'],
        Resource: [arn('role/BudgeteerMember-*'), arn('role/stacksets-exec-*')],
      },
      expect.objectContaining({ Sid: 'NeverBreakGlass', Effect: 'Deny' }),
    ]);
    // The configured break-glass role itself, as a resource the deny names (the Sid alone says nothing).
    // (by name, and under any path: a role's ARN carries its path, which an assumed-role ARN drops).
    expect([statements[2]?.Resource].flat()).toEqual([
      'arn:aws:iam::444455556666:role/BreakGlass',
      'arn:aws:iam::444455556666:role/*/BreakGlass',
    ]);
  });
});
