import { Match } from 'aws-cdk-lib/assertions';
import { list, policyDocuments, roleOf, synth } from './stack-helpers';

const template = synth();
const pricesTable = () => {
  const found = template.findResources('AWS::DynamoDB::Table', {
    Properties: { KeySchema: [{ AttributeName: 'model', KeyType: 'HASH' }, Match.anyValue()] },
  });
  expect(Object.keys(found)).toHaveLength(1);
  return Object.keys(found)[0] as string;
};
/** The DynamoDB actions a function's role holds on the Prices table. */
const onPrices = (entry: string) => {
  const table = pricesTable();
  const role = roleOf(template, entry);
  return policyDocuments(template)
    .filter((p) => p.roles.includes(role))
    .flatMap((p) => p.document.Statement)
    .filter((s) => JSON.stringify(s.Resource).includes(`"${table}"`))
    .flatMap((s) => list(s.Action))
    .sort();
};

describe('the Prices table and who may touch it', () => {
  it('keys versions by model and version, encrypted, recoverable, writable only by the stack’s roles', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'model', KeyType: 'HASH' },
        { AttributeName: 'version', KeyType: 'RANGE' },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      ResourcePolicy: Match.objectLike({
        PolicyDocument: Match.objectLike({
          Statement: [Match.objectLike({ Sid: 'WritesOnlyFromTheStacksFunctions', Effect: 'Deny' })],
        }),
      }),
    });
    expect(template.toJSON().Resources[pricesTable()].UpdateReplacePolicy).toBe('Retain');
  });

  it('auto-scales its capacity like every table', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      ResourceId: { 'Fn::Join': ['', ['table/', { Ref: pricesTable() }]] },
      ScalableDimension: 'dynamodb:table:WriteCapacityUnits',
    });
  });

  it('ingest only scans it (a read per cache time); the admin function scans and adds; nobody updates or deletes', () => {
    expect(onPrices('functions/ingest/handler.ts')).toEqual(['dynamodb:Scan']);
    expect(onPrices('functions/admin/handler.ts')).toEqual(['dynamodb:PutItem', 'dynamodb:Scan']);
  });

  it('passes the table and the cache time to ingest and the admin function', () => {
    for (const entry of ['functions/ingest/handler.ts', 'functions/admin/handler.ts']) {
      const [fn] = Object.values(
        template.findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': entry } }),
      ) as { Properties: { Environment: { Variables: Record<string, unknown> } } }[];
      expect(fn?.Properties.Environment.Variables).toMatchObject({
        PRICES_TABLE: { Ref: pricesTable() },
        PRICE_CACHE_SECONDS: '60',
      });
    }
  });

  it('outputs the table’s name for the CLI (prices list)', () => {
    template.hasOutput('PricesTableName', { Value: { Ref: pricesTable() } });
  });
});

describe('the daily Price List fetch', () => {
  const entry = 'functions/prices/handler.ts';

  it('runs once a day on a schedule', () => {
    const [fn] = Object.keys(
      template.findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': entry } }),
    );
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 day)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fn, 'Arn'] } })],
    });
  });

  it('holds pricing:GetProducts (on *, it has no resource), scans and adds versions, appends audit, publishes alerts: nothing else', () => {
    const role = roleOf(template, entry);
    const actions = policyDocuments(template)
      .filter((p) => p.roles.includes(role))
      .flatMap((p) => p.document.Statement)
      .filter((s) => s.Effect === 'Allow')
      .flatMap((s) => list(s.Action).map((action) => ({ action, resource: JSON.stringify(s.Resource) })));
    expect(
      actions
        .filter((a) => a.resource === '"*"')
        .map((a) => a.action)
        .sort(),
    ).toEqual(['pricing:GetProducts', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    expect(onPrices(entry)).toEqual(['dynamodb:PutItem', 'dynamodb:Scan']);
    expect(actions.map((a) => a.action)).toEqual(expect.arrayContaining(['sns:Publish']));
  });

  it('the admin function may run it now (prices refresh); the admins’ own policy still reaches only the admin URL', () => {
    const [fn] = Object.keys(
      template.findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': entry } }),
    );
    const admin = roleOf(template, 'functions/admin/handler.ts');
    const invokes = policyDocuments(template)
      .filter((p) => p.roles.includes(admin))
      .flatMap((p) => p.document.Statement)
      .filter((s) => list(s.Action).includes('lambda:InvokeFunction'));
    expect(invokes.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [fn, 'Arn'] }]);
    template.hasOutput('PricesFunctionName', { Value: { Ref: fn } });
  });
});
