import { Match } from 'aws-cdk-lib/assertions';
import { actionsGrantedTo, list, policyDocuments, roleOf, synth } from './stack-helpers';

const DIGEST = 'functions/digest/handler.ts';

const digestFunctions = (context: Record<string, unknown>) =>
  synth(context).findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': DIGEST } });

describe('the daily digest (opt-in)', () => {
  it('does not exist without `digest: true`: no function, no schedule', () => {
    for (const context of [{}, { digest: false }, { digest: 'false' }]) {
      const template = synth(context);
      expect(digestFunctions(context)).toEqual({});
      expect(
        Object.values(template.findResources('AWS::Events::Rule')).filter((rule) =>
          JSON.stringify(rule).includes('digest'),
        ),
      ).toEqual([]);
    }
  });

  const template = synth({ digest: true });

  it('with `digest: true`, runs the digest function once a day at 06:00 UTC', () => {
    expect(Object.keys(digestFunctions({ digest: true }))).toHaveLength(1);
    const fn = Object.keys(
      template.findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': DIGEST } }),
    );
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 6 * * ? *)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fn[0], 'Arn'] } })],
    });
  });

  it('grants only what the digest does: read the tables, claim its item, append the audit, publish, count the queue', () => {
    // DynamoDB: the reads, its claim (UpdateItem) and the audit append (PutItem, Query); SQS: its own dead letters
    // and the rejected queue's count; logs and X-Ray: the house function's own.
    expect([...new Set(actionsGrantedTo(template, DIGEST))].sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sns:Publish',
      'sqs:GetQueueAttributes',
      'sqs:SendMessage',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
    const actions = actionsGrantedTo(template, DIGEST);
    // Nothing that enforces, decides or changes budgets beyond its own claim.
    for (const forbidden of [
      'states:StartExecution',
      'states:SendTaskSuccess',
      'lambda:InvokeFunction',
      'dynamodb:DeleteItem',
      'dynamodb:BatchWriteItem',
      'iam:PutUserPolicy',
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
    ]) {
      expect(actions).not.toContain(forbidden);
    }
  });

  it('scopes each grant to its resource: the queue’s count to the rejected-records queue, publishing to the two topics', () => {
    const statements = policyDocuments(template)
      .filter((p) => p.roles.includes(roleOf(template, DIGEST)))
      .flatMap((p) => p.document.Statement);
    const resourcesOf = (action: string) =>
      statements.filter((s) => list(s.Action).includes(action)).flatMap((s) => list(s.Resource));

    expect(JSON.stringify(resourcesOf('sqs:GetQueueAttributes'))).toMatch(/IngestionRejected/);
    expect(resourcesOf('sns:Publish').map((r) => JSON.stringify(r))).toEqual([
      expect.stringMatching(/TopicsAlerts/),
      expect.stringMatching(/TopicsCritical/),
    ]);
    for (const action of ['dynamodb:Scan', 'dynamodb:UpdateItem', 'dynamodb:GetItem']) {
      expect(resourcesOf(action)).not.toContain('*');
    }
  });

  it('alarms on its errors like every function of the stack', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('The Digest function failed'),
    });
  });
});
