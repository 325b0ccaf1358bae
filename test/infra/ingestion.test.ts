import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sns from 'aws-cdk-lib/aws-sns';
import { readConfig } from '../../infra/config';
import { Ingestion } from '../../infra/constructs/ingestion';

/** The Ingestion construct alone, with the operations topic a stack may hand it. */
function ingestion(props: { withTopic: boolean; threshold?: number }) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
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
