import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { readConfig } from '../../infra/config';
import { Ingestion } from '../../infra/constructs/ingestion';
import { synth, TEST_APP } from './stack-helpers';

/** The Ingestion construct alone, with the operations topic a stack may hand it. */
function ingestion(props: { withTopic: boolean; threshold?: number }) {
  const app = new App({ ...TEST_APP, context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test', { env: { account: '111122223333', region: 'us-east-1' } });
  const table = (id: string) =>
    new dynamodb.Table(stack, id, { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } });
  const topic = props.withTopic ? new sns.Topic(stack, 'Operations') : undefined;
  const construct = new Ingestion(stack, 'Ingestion', {
    config: readConfig(app.node),
    budgets: table('Budgets'),
    usage: table('Usage'),
    ...(topic ? { alarmTopic: topic } : {}),
    ...(props.threshold === undefined ? {} : { rejectionAlarmThreshold: props.threshold }),
  });
  return { construct, template: Template.fromStack(stack), topic };
}

describe('the rejected-records alarm', () => {
  it('notifies the operations topic it is given, when it goes off and when it clears', () => {
    const { template, construct, topic } = ingestion({ withTopic: true });
    const topicRef = { Ref: Stack.of(construct).getLogicalId(topic?.node.defaultChild as sns.CfnTopic) };

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'RejectedRecords',
      AlarmActions: [topicRef],
      OKActions: [topicRef],
    });
  });

  it('is exposed for the stack to wire, and notifies no one without a topic', () => {
    const { template, construct } = ingestion({ withTopic: false, threshold: 2 });

    expect(construct.rejectionAlarm).toBeDefined();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'RejectedRecords',
      Threshold: 2,
      AlarmActions: Match.absent(),
    });
  });
});

describe('the CloudTrail queue policy', () => {
  it('denies sqs:SendMessage to everyone but the Bedrock rule, so no one else can write events ingest believes', () => {
    const { template, construct } = ingestion({ withTopic: false });
    const stack = Stack.of(construct);
    const ruleArn = {
      'Fn::GetAtt': [stack.getLogicalId(construct.rule.node.defaultChild as events.CfnRule), 'Arn'],
    };
    const queue = stack.getLogicalId(construct.cloudTrailQueue.node.defaultChild as sqs.CfnQueue);

    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
          }),
          {
            Sid: 'OnlyTheBedrockRuleSends',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'sqs:SendMessage',
            Resource: { 'Fn::GetAtt': [queue, 'Arn'] },
            Condition: { ArnNotEquals: { 'aws:SourceArn': ruleArn } },
          },
        ]),
      },
    });
  });
});

describe('what ingest believes', () => {
  it("tells ingest the deployment's account and the invocation log group, the only envelopes it counts", () => {
    const { template } = ingestion({ withTopic: false });

    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          ACCOUNT_ID: '111122223333',
          INVOCATION_LOG_GROUP: '/aws/bedrock/modelinvocations',
        }),
      },
    });
  });
});

describe('what ingest believes in an organization', () => {
  const variablesOf = (template: Template) =>
    Object.values(template.findResources('AWS::Lambda::Function')).map(
      (fn) => (fn.Properties.Environment?.Variables ?? {}) as Record<string, unknown>,
    );

  it('tells ingest, admin and reconcile the organization, so they believe its accounts and qualify their ids', () => {
    const variables = variablesOf(synth({ organizationId: 'o-a1b2c3d4e5', reconcilePrincipalGroup: 'TAG:p' }));
    const withOrganization = variables.filter((v) => v.ORGANIZATION_ID === 'o-a1b2c3d4e5');

    expect(withOrganization.some((v) => v.INVOCATION_LOG_GROUP !== undefined)).toBe(true);
    expect(withOrganization.some((v) => v.ADMIN_PRINCIPALS !== undefined)).toBe(true);
    expect(withOrganization.some((v) => v.RECONCILE_TOLERANCE_USD !== undefined)).toBe(true);
    expect(withOrganization.every((v) => v.ACCOUNT_ID === '111122223333')).toBe(true);
  });

  it('tells no function of an organization in a single account: ids stay unqualified there', () => {
    expect(variablesOf(synth()).some((v) => v.ORGANIZATION_ID !== undefined)).toBe(false);
  });
});

describe('application inference profiles', () => {
  it("lets ingest read this account's application profiles and their tags, in any Region, and nothing more", () => {
    const { template } = ingestion({ withTopic: false });

    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => (policy.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[]) ?? [],
    );
    const profileStatements = statements.filter((s) =>
      [s.Action].flat().some((action) => String(action).startsWith('bedrock:')),
    );
    expect(profileStatements).toEqual([
      {
        Effect: 'Allow',
        Action: ['bedrock:GetInferenceProfile', 'bedrock:ListTagsForResource'],
        Resource: {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:*:111122223333:application-inference-profile/*'],
          ],
        },
      },
    ]);
  });
});
