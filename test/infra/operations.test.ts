import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { REPO_ROOT } from '../../infra/constructs/function';
import { synth } from './stack-helpers';

const template = synth();

type Alarm = {
  Properties: {
    MetricName?: string;
    Namespace?: string;
    Dimensions?: { Name: string; Value: unknown }[];
    Threshold: number;
    AlarmActions?: unknown[];
    OKActions?: unknown[];
  };
};

const alarms = () => Object.entries(template.findResources('AWS::CloudWatch::Alarm')) as [string, Alarm][];
const topicId = () =>
  Object.keys(
    template.findResources('AWS::SNS::Topic', { Properties: { DisplayName: 'Bedrock budget: operations' } }),
  )[0];
/** The dashboard's JSON as CloudFormation joins it, each reference to a resource written as `<ref>`. */
const dashboardBody = () => {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const [, parts] = dashboards[0]?.Properties.DashboardBody['Fn::Join'] ?? ['', []];
  return (parts as unknown[]).map((part) => (typeof part === 'string' ? part : '<ref>')).join('');
};

describe('operations', () => {
  it('has a TLS-only operations topic of its own, named in the OperationsTopicArn output', () => {
    const id = topicId();

    expect(id).toBeDefined();
    template.hasOutput('OperationsTopicArn', { Value: { Ref: id } });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: id }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('sends every alarm of the stack to the operations topic, when it goes off and when it clears', () => {
    const notify = [{ Ref: topicId() }];
    const silent = alarms().filter(
      ([, alarm]) =>
        JSON.stringify(alarm.Properties.AlarmActions) !== JSON.stringify(notify) ||
        JSON.stringify(alarm.Properties.OKActions) !== JSON.stringify(notify),
    );

    expect(alarms().length).toBeGreaterThan(20);
    expect(silent.map(([id]) => id)).toEqual([]);
  });

  it('alarms on errors of every function and on every dead-letter queue holding a message', () => {
    const functions = Object.keys(
      template.findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': Match.anyValue() } }),
    );
    const errors = alarms().filter(([, a]) => a.Properties.MetricName === 'Errors');
    const deadLetters = alarms().filter(([, a]) => a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible');
    const queuesWatched = deadLetters.map(([, a]) => JSON.stringify(a.Properties.Dimensions));

    expect(errors.map(([, a]) => JSON.stringify(a.Properties.Dimensions)).sort()).toEqual(
      functions.map((id) => JSON.stringify([{ Name: 'FunctionName', Value: { Ref: id } }])).sort(),
    );
    // Each function's own dead-letter queue, the CloudTrail queue's and the stream's failures.
    expect(deadLetters).toHaveLength(functions.length + 2);
    for (const queue of ['CloudTrailDeadLetters', 'StreamFailures', 'IngestDeadLetters', 'SuspendDeadLetters']) {
      expect(queuesWatched.some((dimensions) => dimensions.includes(queue))).toBe(true);
    }
    for (const [, alarm] of [...errors, ...deadLetters]) expect(alarm.Properties.Threshold).toBe(1);
  });

  it('alarms on failed executions of both workflows, on unmetered calls and on ingest lag', () => {
    expect(alarms().filter(([, a]) => a.Properties.MetricName === 'ExecutionsFailed')).toHaveLength(2);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Budgeteer',
      MetricName: 'UnmeteredCalls',
      Dimensions: [{ Name: 'service', Value: 'sweep' }],
      Threshold: 1,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('IngestionCloudTrailEvents'), 'QueueName'] },
        },
      ],
      Statistic: 'Maximum',
      Threshold: 300,
    });
  });

  it('shows on one dashboard calls and cost metered, rejections, suspensions, enforcement failures and the latency to charge', () => {
    const body = dashboardBody();

    for (const metric of [
      'ChargedCalls',
      'CostMeteredUsd',
      'RejectedRecords',
      'UnmeteredCalls',
      'Suspensions',
      'EnforcementFailures',
      'CallToChargeLatency',
      'ExecutionsFailed',
      'ApproximateAgeOfOldestMessage',
    ]) {
      expect(body).toContain(`"${metric}"`);
    }
  });

  it('watches only metrics the handlers publish under the names and services it reads', () => {
    const published = [...dashboardBody().matchAll(/"Budgeteer","(\w+)","service","(\w+)"/g)].map(
      ([, metric, service]) => ({ metric, service }),
    );
    for (const [, alarm] of alarms().filter(([, a]) => a.Properties.Namespace === 'Budgeteer')) {
      const service = alarm.Properties.Dimensions?.find((d) => d.Name === 'service')?.Value as string;
      published.push({ metric: alarm.Properties.MetricName, service });
    }

    expect(published.length).toBeGreaterThan(8);
    for (const { metric, service } of published) {
      const handler = readFileSync(path.join(REPO_ROOT, 'functions', service as string, 'handler.ts'), 'utf8');
      expect([
        service,
        metric,
        handler.includes(`serviceName: '${service}'`) && handler.includes(`'${metric}'`),
      ]).toEqual([service, metric, true]);
    }
  });
});
