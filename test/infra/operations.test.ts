import { readdirSync, readFileSync } from 'node:fs';
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
const dashboardBody = (of = template) => {
  const dashboards = Object.values(of.findResources('AWS::CloudWatch::Dashboard'));
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

  it('subscribes no one to the operations topic unless operationsEmails names them', () => {
    expect(
      Object.keys(template.findResources('AWS::SNS::Subscription', { Properties: { TopicArn: { Ref: topicId() } } })),
    ).toEqual([]);
  });

  it('subscribes each address of operationsEmails to the operations topic by e-mail, and only to it', () => {
    const withOps = synth({ operationsEmails: 'ops@example.com, oncall@example.com' });
    const opsTopic = Object.keys(
      withOps.findResources('AWS::SNS::Topic', { Properties: { DisplayName: 'Bedrock budget: operations' } }),
    )[0];
    const subscriptions = Object.values(withOps.findResources('AWS::SNS::Subscription'));
    const byEndpoint = (endpoint: string) =>
      subscriptions.filter((r) => r.Properties.Endpoint === endpoint).map((r) => r.Properties);

    for (const endpoint of ['ops@example.com', 'oncall@example.com']) {
      expect(byEndpoint(endpoint)).toEqual([{ Protocol: 'email', Endpoint: endpoint, TopicArn: { Ref: opsTopic } }]);
    }
  });

  it('alarms on enforcement failures and on a crossing that waits too long for its decision', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Budgeteer',
      MetricName: 'EnforcementFailures',
      Dimensions: [{ Name: 'service', Value: 'suspend' }],
      Statistic: 'Sum',
      Threshold: 1,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Budgeteer',
      MetricName: 'CrossingToDecisionLatency',
      Dimensions: [{ Name: 'service', Value: 'evaluate' }],
      Statistic: 'Maximum',
      Threshold: 300_000,
    });
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
      'AlertsSent',
      'SuspensionsStarted',
      'EmergencyStops',
      'CrossingToDecisionLatency',
    ]) {
      expect(body).toContain(`"${metric}"`);
    }
  });

  it('shows the alerts sent at each configured threshold, and the latency from a crossing to its decision', () => {
    const body = dashboardBody();

    for (const threshold of ['80', '90', '95']) {
      expect(body).toContain(`"Budgeteer","AlertsSent","service","evaluate","threshold","${threshold}"`);
    }
    const otherThresholds = dashboardBody(synth({ thresholds: [50, 75] }));
    expect(otherThresholds).toContain('"AlertsSent","service","evaluate","threshold","75"');
    expect(otherThresholds).not.toContain('"threshold","80"');
    const latency = [...body.matchAll(/"CrossingToDecisionLatency","service","evaluate",\{[^}]*"stat":"([\w.]+)"/g)];
    expect(latency.map(([, stat]) => stat).sort()).toEqual(['Maximum', 'p50', 'p90']);
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
      // The handler names its service; it or a module beside it (the evaluator's metrics.ts) names the metric.
      const folder = path.join(REPO_ROOT, 'functions', service as string);
      const handler = readFileSync(path.join(folder, 'handler.ts'), 'utf8');
      const modules = readdirSync(folder)
        .filter((file) => file.endsWith('.ts'))
        .map((file) => readFileSync(path.join(folder, file), 'utf8'));
      expect([
        service,
        metric,
        handler.includes(`serviceName: '${service}'`) && modules.some((source) => source.includes(`'${metric}'`)),
      ]).toEqual([service, metric, true]);
    }
  });
});
