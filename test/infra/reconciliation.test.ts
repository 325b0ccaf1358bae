import { Match } from 'aws-cdk-lib/assertions';
import { actionsGrantedTo, list, policyDocuments, roleOf, synth } from './stack-helpers';

const RECONCILE = 'functions/reconcile/handler.ts';
const ON = { reconcilePrincipalGroup: 'TAG:iamPrincipal/arn', reconcileToleranceUsd: '0.05', reconcileDelayDays: 3 };

const reconcileFunctions = (context: Record<string, unknown>) =>
  synth(context).findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': RECONCILE } });

describe('the daily reconciliation with the bill (opt-in)', () => {
  it('does not exist without `reconcilePrincipalGroup`: no function, no schedule', () => {
    expect(reconcileFunctions({})).toEqual({});
    expect(reconcileFunctions({ reconcilePrincipalGroup: '' })).toEqual({});
  });

  it('refuses a principal group that is not TAG:, DIMENSION: or COST_CATEGORY:', () => {
    expect(() => synth({ reconcilePrincipalGroup: 'iamPrincipal/arn' })).toThrow(
      /reconcilePrincipalGroup: must be TAG/,
    );
  });

  const template = synth(ON);

  it('reads the day from daily counters where the deployment keeps them (a few reads), else scans Usage', () => {
    const withDaily = actionsGrantedTo(synth({ ...ON, extraPeriodKinds: '["daily"]' }), RECONCILE);
    expect(withDaily).toEqual(expect.arrayContaining(['dynamodb:Query', 'dynamodb:BatchGetItem']));
    expect(withDaily).not.toContain('dynamodb:Scan');
    expect(actionsGrantedTo(template, RECONCILE)).toContain('dynamodb:Scan');
  });

  it('runs once a day at 06:00 UTC with the configured group, tolerance, delay and per-session roles', () => {
    const fns = Object.keys(reconcileFunctions(ON));
    expect(fns).toHaveLength(1);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 6 * * ? *)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fns[0], 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          RECONCILE_PRINCIPAL_GROUP: 'TAG:iamPrincipal/arn',
          RECONCILE_TOLERANCE_USD: '0.05',
          RECONCILE_DELAY_DAYS: '3',
          PER_SESSION_ROLES: '["AWSReservedSSO_*"]',
          BUDGETS_TABLE: Match.anyValue(),
          USAGE_TABLE: Match.anyValue(),
          ALERTS_TOPIC_ARN: Match.anyValue(),
        }),
      },
    });
  });

  it('grants only what reconciling does: ce:GetCostAndUsage, scan Usage, claim in Budgets, append audit, publish alerts', () => {
    expect([...new Set(actionsGrantedTo(template, RECONCILE))].sort()).toEqual([
      'ce:GetCostAndUsage',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sns:Publish',
      'sqs:SendMessage',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
  });

  it('scopes each grant: only ce:GetCostAndUsage (and X-Ray) on *, Scan on Usage, claims on Budgets, the alerts topic only', () => {
    const statements = policyDocuments(template)
      .filter((p) => p.roles.includes(roleOf(template, RECONCILE)))
      .flatMap((p) => p.document.Statement);
    const resourcesOf = (action: string) =>
      statements.filter((s) => list(s.Action).includes(action)).flatMap((s) => list(s.Resource));
    const onEverything = statements.filter((s) => list(s.Resource).includes('*')).flatMap((s) => list(s.Action));

    expect(onEverything.sort()).toEqual(['ce:GetCostAndUsage', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    expect(JSON.stringify(resourcesOf('dynamodb:Scan'))).toMatch(/TablesUsage/);
    expect(JSON.stringify(resourcesOf('dynamodb:Scan'))).not.toMatch(/TablesBudgets/);
    expect(JSON.stringify(resourcesOf('dynamodb:UpdateItem'))).toMatch(/TablesBudgets/);
    expect(JSON.stringify(resourcesOf('dynamodb:UpdateItem'))).not.toMatch(/index/);
    expect(resourcesOf('sns:Publish').map((r) => JSON.stringify(r))).toEqual([expect.stringMatching(/TopicsAlerts/)]);
  });

  it('tells the CLI which group to ask Cost Explorer for (ReconcilePrincipalGroup), only when on', () => {
    template.hasOutput('ReconcilePrincipalGroup', { Value: 'TAG:iamPrincipal/arn' });
    expect(synth({}).findOutputs('ReconcilePrincipalGroup')).toEqual({});
  });

  it('alarms the operations topic after three daily runs in a row found no bill to compare with', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ReconcileBillUnavailable',
      Namespace: 'Budgeteer',
      Dimensions: [{ Name: 'service', Value: 'reconcile' }],
      Period: 86_400,
      EvaluationPeriods: 3,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^OperationsTopic') }],
    });
  });

  it('alarms on its errors like every function of the stack', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('The Reconcile function failed'),
    });
  });
});
