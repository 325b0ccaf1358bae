import { App, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { readConfig } from '../../infra/config';
import { acknowledgeWildcardResources } from '../../infra/nag';
import { BudgeteerMemberStack } from '../../infra/organization/member';
import { EVERYTHING_ON, synthStack, TEST_APP } from './stack-helpers';

/** What cdk-nag's AWS Solutions pack still reports on `scope`: every error and warning, one line per resource. */
function findings(scope: IConstruct): string[] {
  return new AwsSolutionsChecks()
    .validateScope(scope)
    .violations.flatMap((violation) =>
      violation.violatingResources.map(
        (resource) => `${violation.severity} ${violation.ruleName} at ${resource.constructPath}`,
      ),
    );
}

/** Every acknowledgement recorded in the tree: where, which rule, why. */
function acknowledgements(scope: IConstruct): { path: string; id: string; reason: string }[] {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id,
          reason,
        })),
      ),
  );
}

const ORGANIZATION = { organizationId: 'o-abcdefghij', organizationalUnitIds: ['ou-ab12-cdef3456'] };

const role = (scope: Stack) =>
  new iam.Role(scope, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });

describe('cdk-nag AwsSolutions checks', () => {
  it.each([
    ['the default configuration', {}],
    ['every optional resource and permission switched on', EVERYTHING_ON],
    ['the central stack of an organization', { ...EVERYTHING_ON, ...ORGANIZATION }],
  ])('leave no finding unfixed or unacknowledged, error or warning, with %s', (_, context) => {
    const { app } = synthStack(context);

    expect(findings(app)).toEqual([]);
  });

  it('leave no finding unfixed or unacknowledged on the member stack of an organization', () => {
    const app = new App({ ...TEST_APP, context: { ...EVERYTHING_ON, ...ORGANIZATION } });
    new BudgeteerMemberStack(app, 'Member', { config: readConfig(app.node) });

    expect(findings(app)).toEqual([]);
  });

  it('acknowledge findings only on the resources they concern, never on the whole stack or app', () => {
    const { app, stack } = synthStack(EVERYTHING_ON);
    const found = acknowledgements(app);

    expect(found.length).toBeGreaterThan(0);
    expect(found.filter(({ path }) => path === stack.node.path || path === app.node.path || path === '')).toEqual([]);
  });

  it('give every acknowledgement its reason', () => {
    const found = acknowledgements(synthStack(EVERYTHING_ON).app);

    expect(found.filter(({ reason }) => reason.length < 80)).toEqual([]);
  });

  it('report what they are given (the checks above can fail): a queue without TLS nor a dead-letter queue', () => {
    const stack = new Stack(new App(TEST_APP), 'Bare');
    new sqs.Queue(stack, 'Queue');

    expect(findings(stack)).toEqual([
      'error AwsSolutions-SQS3 at Bare/Queue/Resource',
      'error AwsSolutions-SQS4 at Bare/Queue/Resource',
    ]);
  });

  it('keep reporting a wildcard resource that the acknowledgement of another one does not name', () => {
    const stack = new Stack(new App(TEST_APP), 'Wildcards', { env: { account: '111122223333', region: 'us-east-1' } });
    const grantee = role(stack);
    const users = stack.formatArn({ service: 'iam', region: '', resource: 'user', resourceName: '*' });
    const groups = stack.formatArn({ service: 'iam', region: '', resource: 'group', resourceName: '*' });
    grantee.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['iam:GetUser'], resources: [users] }));
    grantee.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['iam:GetGroup'], resources: [groups] }));

    acknowledgeWildcardResources(grantee, [users], 'users are read whoever they are, for the test');

    expect(findings(stack)).toEqual([
      'error AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::111122223333:group/*] at Wildcards/Role/DefaultPolicy/Resource',
    ]);
  });
});
