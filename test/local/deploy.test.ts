// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${Name} here is CloudFormation's Fn::Sub and substitution syntax.
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DescribeStateMachineCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type LocalAws, startLocalAws } from '../../local/aws';
import { type CloudFormationTemplateJson, DeployError, type Deployment, deployTemplate } from '../../local/deploy';
import { finishedExecution } from './support';

jest.setTimeout(30_000);

const SUSPEND_ENTRY = 'functions/suspend/handler.ts';

/** Shaped like `cdk synth` output: generated names, Fn::Join definitions, substitutions, types not run locally. */
const template: CloudFormationTemplateJson = {
  Conditions: { InUsEast1: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'us-east-1'] } },
  Resources: {
    BudgetsTable5D2C0E8A: {
      Type: 'AWS::DynamoDB::Table',
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'period', AttributeType: 'S' },
        ],
        BillingMode: 'PROVISIONED',
        ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
        GlobalSecondaryIndexes: [
          {
            IndexName: 'byPeriod',
            KeySchema: [
              { AttributeName: 'period', KeyType: 'HASH' },
              { AttributeName: 'pk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
            ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
          },
        ],
        StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      },
    },
    AlertsTopic1A2B3C4D: { Type: 'AWS::SNS::Topic', Properties: { DisplayName: 'Bedrock budget alerts' } },
    AlertsCopyQueue: { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 30 } },
    AlertsCopySubscription: {
      Type: 'AWS::SNS::Subscription',
      Properties: {
        TopicArn: { Ref: 'AlertsTopic1A2B3C4D' },
        Protocol: 'sqs',
        Endpoint: { 'Fn::GetAtt': ['AlertsCopyQueue', 'Arn'] },
        RawMessageDelivery: true,
      },
    },
    SuspendRole9F8E7D6C: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: {} } },
    SuspendFunctionB1C2D3E4: {
      Type: 'AWS::Lambda::Function',
      Metadata: { 'budgeteer:entry': SUSPEND_ENTRY },
      Properties: {
        Role: { 'Fn::GetAtt': ['SuspendRole9F8E7D6C', 'Arn'] },
        Timeout: 10,
        Environment: {
          Variables: {
            BUDGETS_TABLE: { Ref: 'BudgetsTable5D2C0E8A' },
            BUDGETS_STREAM_ARN: { 'Fn::GetAtt': ['BudgetsTable5D2C0E8A', 'StreamArn'] },
            ALERTS_TOPIC_ARN: { Ref: 'AlertsTopic1A2B3C4D' },
            HOME: { 'Fn::Sub': '${AWS::Region}:${AWS::AccountId}' },
            ONLY_OUTSIDE_US_EAST_1: { 'Fn::If': ['InUsEast1', { Ref: 'AWS::NoValue' }, 'set'] },
          },
        },
      },
    },
    SuspendMachine5A6B7C8D: {
      Type: 'AWS::StepFunctions::StateMachine',
      DependsOn: ['SuspendRole9F8E7D6C'],
      Properties: {
        RoleArn: { 'Fn::GetAtt': ['SuspendRole9F8E7D6C', 'Arn'] },
        DefinitionString: {
          'Fn::Join': [
            '',
            [
              '{"StartAt":"Record","States":{"Record":{"Type":"Task","Resource":"arn:',
              { Ref: 'AWS::Partition' },
              ':states:::dynamodb:putItem","Parameters":{"TableName":"',
              { Ref: 'BudgetsTable5D2C0E8A' },
              '","Item":{"pk":{"S.$":"$.principal"},"sk":{"S":"SUSPENSION"}}},"ResultPath":null,"Next":"Notify"},',
              '"Notify":{"Type":"Task","Resource":"arn:aws:states:::sns:publish","Parameters":{"TopicArn":"${AlertsTopicArn}",',
              '"Message.$":"$.principal"},"ResultPath":null,"Next":"Suspend"},"Suspend":{"Type":"Task",',
              '"Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"',
              { 'Fn::GetAtt': ['SuspendFunctionB1C2D3E4', 'Arn'] },
              '","Payload.$":"$"},"OutputPath":"$.Payload","End":true}}}',
            ],
          ],
        },
        DefinitionSubstitutions: { AlertsTopicArn: { Ref: 'AlertsTopic1A2B3C4D' } },
      },
    },
    FailedExecutionsAlarm: { Type: 'AWS::CloudWatch::Alarm', Properties: { Threshold: 1 } },
  },
  Outputs: { SuspendMachineArn: { Value: { Ref: 'SuspendMachine5A6B7C8D' } } },
};

describe('deployTemplate', () => {
  let local: LocalAws;
  let deployment: Deployment;
  const calls: { event: unknown; environment: Readonly<Record<string, string>> }[] = [];

  beforeAll(async () => {
    local = await startLocalAws();
    deployment = await deployTemplate(local, template, {
      stackName: 'test',
      handlers: {
        [SUSPEND_ENTRY]: async (event, _context, environment) => {
          calls.push({ event, environment });
          return { suspended: (event as { principal: string }).principal };
        },
      },
    });
  });

  afterAll(() => local.stop());

  it('creates the table with its key schema, GSI, NEW_AND_OLD_IMAGES stream and TTL', async () => {
    const dynamodb = new DynamoDBClient(local.clientConfig);
    const table = deployment.find('AWS::DynamoDB::Table');

    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: table.physicalId }));
    const { TimeToLiveDescription } = await dynamodb.send(
      new DescribeTimeToLiveCommand({ TableName: table.physicalId }),
    );

    expect(table.physicalId).toBe('test-BudgetsTable5D2C0E8A');
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual(['byPeriod']);
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(table.attributes.StreamArn).toBe(Table?.LatestStreamArn);
    expect(TimeToLiveDescription).toEqual({ AttributeName: 'expiresAt', TimeToLiveStatus: 'ENABLED' });
  });

  it('resolves Fn::Join and DefinitionSubstitutions in the state machine definition to local names', async () => {
    const sfn = new SFNClient(local.clientConfig);
    const machine = deployment.find('AWS::StepFunctions::StateMachine');

    const { definition } = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn: machine.arn }));
    const states = JSON.parse(definition ?? '{}').States;

    expect(states.Record.Parameters.TableName).toBe('test-BudgetsTable5D2C0E8A');
    expect(states.Record.Resource).toBe('arn:aws:states:::dynamodb:putItem');
    expect(states.Notify.Parameters.TopicArn).toBe('arn:aws:sns:us-east-1:123456789012:test-AlertsTopic1A2B3C4D');
    expect(states.Suspend.Parameters.FunctionName).toBe(
      'arn:aws:lambda:us-east-1:123456789012:function:test-SuspendFunctionB1C2D3E4',
    );
    expect(deployment.outputs.SuspendMachineArn).toBe(machine.arn);
  });

  it('runs the deployed machine end to end: table write, SNS to SQS, and the function with its environment', async () => {
    const sfn = new SFNClient(local.clientConfig);
    const dynamodb = new DynamoDBClient(local.clientConfig);
    const sqs = new SQSClient(local.clientConfig);
    const machine = deployment.find('AWS::StepFunctions::StateMachine');
    const queue = deployment.find('AWS::SQS::Queue');

    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: machine.arn,
        name: 'alice-2026-11',
        input: '{"principal":"alice"}',
      }),
    );
    const execution = await finishedExecution(sfn, executionArn ?? '');
    const suspension = await dynamodb.send(
      new GetItemCommand({
        TableName: 'test-BudgetsTable5D2C0E8A',
        Key: { pk: { S: 'alice' }, sk: { S: 'SUSPENSION' } },
      }),
    );
    const alert = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.physicalId, WaitTimeSeconds: 1 }));

    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output ?? '{}')).toEqual({ suspended: 'alice' });
    expect(suspension.Item).toBeDefined();
    expect(alert.Messages?.map((message) => message.Body)).toEqual(['alice']);
    expect(calls.map((call) => call.environment)).toEqual([
      {
        BUDGETS_TABLE: 'test-BudgetsTable5D2C0E8A',
        BUDGETS_STREAM_ARN: deployment.resources.BudgetsTable5D2C0E8A?.attributes.StreamArn,
        ALERTS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:test-AlertsTopic1A2B3C4D',
        HOME: 'us-east-1:123456789012',
      },
    ]);
  });

  it('records resources it does not create so that references to them resolve', () => {
    expect(deployment.resources.SuspendRole9F8E7D6C).toMatchObject({
      created: false,
      arn: 'arn:aws:iam::123456789012:role/test-SuspendRole9F8E7D6C',
    });
    expect(deployment.resources.FailedExecutionsAlarm?.created).toBe(false);
    expect(deployment.functions.SuspendFunctionB1C2D3E4).toMatchObject({
      name: 'test-SuspendFunctionB1C2D3E4',
      entry: SUSPEND_ENTRY,
    });
  });

  it('finds exactly one resource or says what it found', () => {
    expect(deployment.find('AWS::SNS::Topic').logicalId).toBe('AlertsTopic1A2B3C4D');
    expect(() => deployment.find('AWS::SNS::Topic', (topic) => topic.logicalId === 'Other')).toThrow(
      'expected one AWS::SNS::Topic matching, found none',
    );
  });

  it('creates a GlobalTable (CDK TableV2) as a local table with its GSI, stream and TTL', async () => {
    const tableV2: CloudFormationTemplateJson = {
      Resources: {
        Usage: {
          Type: 'AWS::DynamoDB::GlobalTable',
          Properties: {
            TableName: 'Usage',
            BillingMode: 'PROVISIONED',
            KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }],
            AttributeDefinitions: [
              { AttributeName: 'requestId', AttributeType: 'S' },
              { AttributeName: 'principal', AttributeType: 'S' },
            ],
            WriteProvisionedThroughputSettings: {
              WriteCapacityAutoScalingSettings: {
                MinCapacity: 1,
                MaxCapacity: 10,
                TargetTrackingScalingPolicyConfiguration: { TargetValue: 70 },
              },
            },
            GlobalSecondaryIndexes: [
              {
                IndexName: 'byPrincipal',
                KeySchema: [{ AttributeName: 'principal', KeyType: 'HASH' }],
                Projection: { ProjectionType: 'KEYS_ONLY' },
                WriteProvisionedThroughputSettings: {
                  WriteCapacityAutoScalingSettings: { MinCapacity: 1, MaxCapacity: 10 },
                },
              },
            ],
            Replicas: [{ Region: 'us-east-1', ReadProvisionedThroughputSettings: { ReadCapacityUnits: 5 } }],
            StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
            TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
          },
        },
      },
    };
    const dynamodb = new DynamoDBClient(local.clientConfig);

    const usage = (await deployTemplate(local, tableV2, { handlers: {} })).find('AWS::DynamoDB::GlobalTable');
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: 'Usage' }));
    const { TimeToLiveDescription } = await dynamodb.send(new DescribeTimeToLiveCommand({ TableName: 'Usage' }));

    expect(usage.attributes.StreamArn).toBe(Table?.LatestStreamArn);
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual(['byPrincipal']);
    expect(Table?.StreamSpecification?.StreamViewType).toBe('NEW_IMAGE');
    expect(TimeToLiveDescription?.TimeToLiveStatus).toBe('ENABLED');
  });

  it('refuses a template whose function entry has no handler', async () => {
    const lonely: CloudFormationTemplateJson = {
      Resources: {
        Ingest: { Type: 'AWS::Lambda::Function', Metadata: { 'budgeteer:entry': 'functions/ingest/handler.ts' } },
      },
    };

    await expect(deployTemplate(local, lonely, { handlers: {} })).rejects.toThrow(
      new DeployError('Ingest: no handler given for entry functions/ingest/handler.ts'),
    );
  });
});
