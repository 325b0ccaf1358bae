import { Match, type Template } from 'aws-cdk-lib/assertions';
import { actionsGrantedTo, list, policyDocuments, roleOf, type Statement, synth } from './stack-helpers';

const template = synth();

describe('tables', () => {
  it('keys Budgets by principal and period and streams both images to the evaluator', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'principal', KeyType: 'HASH' },
        { AttributeName: 'period', KeyType: 'RANGE' },
      ],
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      // Rate buckets expire (shared/rate/buckets.ts).
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it("indexes Budgets by period, keys only, so a change of the default finds the period's counters without a scan", () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byPeriod',
          KeySchema: [
            { AttributeName: 'period', KeyType: 'HASH' },
            { AttributeName: 'principal', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
          ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
        },
      ],
    });
    expect(actionsGrantedTo(template, 'functions/admin/handler.ts')).toContain('dynamodb:Query');
  });

  it('keeps one Usage row per request with a TTL', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('auto-scales read and write capacity of Budgets and Usage towards 70% utilisation', () => {
    const tableIds = ['TablesBudgets', 'TablesUsage'];
    const targets = Object.values(template.findResources('AWS::ApplicationAutoScaling::ScalableTarget')).filter((t) =>
      tableIds.some((id) => JSON.stringify(t.Properties.ResourceId).includes(id)),
    );
    expect(
      targets
        .map((t) => `${t.Properties.ScalableDimension} ${t.Properties.MinCapacity}-${t.Properties.MaxCapacity}`)
        .sort(),
    ).toEqual([
      // Usage's unmetered index and Budgets' period index
      'dynamodb:index:ReadCapacityUnits 5-100',
      'dynamodb:index:ReadCapacityUnits 5-100',
      'dynamodb:index:WriteCapacityUnits 5-200',
      'dynamodb:index:WriteCapacityUnits 5-200',
      'dynamodb:table:ReadCapacityUnits 5-100',
      'dynamodb:table:ReadCapacityUnits 5-100',
      'dynamodb:table:WriteCapacityUnits 5-200',
      'dynamodb:table:WriteCapacityUnits 5-200',
    ]);
    const policies = Object.values(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy'));
    expect(policies.length).toBeGreaterThanOrEqual(4);
    for (const policy of policies) {
      expect(policy.Properties.TargetTrackingScalingPolicyConfiguration.TargetValue).toBe(70);
    }
  });

  it('indexes unmetered calls sparsely, sharded, for the coverage sweep', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'unmetered',
          KeySchema: [
            { AttributeName: 'unmeteredShard', KeyType: 'HASH' },
            { AttributeName: 'unmeteredSince', KeyType: 'RANGE' },
          ],
        }),
      ],
    });
  });

  it('takes table capacity from configuration', () => {
    synth({ tableCapacity: { minRead: 2, maxRead: 9, minWrite: 3, maxWrite: 11 } }).hasResourceProperties(
      'AWS::ApplicationAutoScaling::ScalableTarget',
      { ScalableDimension: 'dynamodb:table:ReadCapacityUnits', MinCapacity: 2, MaxCapacity: 9 },
    );
  });
});

describe('event sources', () => {
  it('receives CloudTrail events of Bedrock runtime calls and bedrock-mantle inference, from AWS sources only', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      State: 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS',
      EventPattern: {
        source: [{ prefix: 'aws.bedrock' }],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['bedrock.amazonaws.com', 'bedrock-mantle.amazonaws.com'],
          eventName: ['InvokeModel', 'InvokeModelWithResponseStream', 'Converse', 'ConverseStream', 'CreateInference'],
        },
      },
    });
  });

  it('alarms when ingest rejects more than a few records in five minutes', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Budgeteer',
      MetricName: 'RejectedRecords',
      Dimensions: [{ Name: 'service', Value: 'ingest' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 5,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('batches CloudTrail events through SQS with partial batch failure reporting', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 1000,
      MaximumBatchingWindowInSeconds: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
    });
  });

  it('subscribes ingest to the invocation log group for ModelInvocationLog records', () => {
    template.hasResourceProperties('AWS::Logs::SubscriptionFilter', {
      LogGroupName: '/aws/bedrock/modelinvocations',
      FilterPattern: '{ $.schemaType = "ModelInvocationLog" }',
    });
  });

  it('leaves Bedrock logging settings alone unless asked to enable them', () => {
    expect(Object.keys(template.findResources('Custom::AWS'))).toHaveLength(0);
    const enabled = synth({ enableInvocationLogging: true, invocationLogGroupName: '/custom/bedrock' });
    enabled.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/custom/bedrock' });
    const [setting] = Object.values(enabled.findResources('Custom::AWS'));
    expect(JSON.stringify(setting?.Properties.Create)).toMatch(/PutModelInvocationLoggingConfiguration/);
    expect(setting?.Properties.Delete).toMatch(/DeleteModelInvocationLoggingConfiguration/);
  });
});

describe('coverage sweep', () => {
  it('runs every five minutes with the configured estimate and delay', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ UNMETERED_CALL_USD: '0.50', UNMETERED_DELAY_MINUTES: '15' }) },
    });
  });

  it('may only query the unmetered and period indexes, read the groups, write through the ledger and complete owed decisions (no deletes)', () => {
    const actions = actionsGrantedTo(template, 'functions/sweep/handler.ts').filter((a) => a.startsWith('dynamodb:'));
    expect([...new Set(actions)].sort()).toEqual([
      // The groups' limit items, listed by the period index: an estimate counts in its principal's groups too.
      'dynamodb:BatchGetItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
    ]);
  });
});

describe('enforcement', () => {
  const suspendPolicies = () => {
    const roles = template.findResources('AWS::IAM::Policy');
    return Object.values(roles).flatMap(
      (policy) =>
        policy.Properties.PolicyDocument.Statement as {
          Sid?: string;
          Effect: string;
          Action: unknown;
          Resource: unknown;
        }[],
    );
  };

  it('lets only the suspend function write inline policies, never on the stack’s own roles', () => {
    const writers = suspendPolicies().filter(
      (s) =>
        s.Effect === 'Allow' && [s.Action].flat().some((a) => /^iam:(Put|Delete)(User|Role)Policy$/.test(String(a))),
    );
    expect(writers).toHaveLength(1);
    expect(writers[0]?.Sid).toBe('DenyPolicyOnly');
    const guard = suspendPolicies().find((s) => s.Sid === 'NeverTheSystemRoles');
    expect(guard).toMatchObject({ Effect: 'Deny', Action: ['iam:PutRolePolicy', 'iam:DeleteRolePolicy'] });
    expect(JSON.stringify(guard?.Resource)).toContain(':role/Test-*');
  });

  it('runs both workflows through the suspend function, with alarms on failed executions', () => {
    const machines = template.findResources('AWS::StepFunctions::StateMachine');
    expect(Object.keys(machines)).toHaveLength(2);
    for (const machine of Object.values(machines)) {
      expect(JSON.stringify(machine.Properties.DefinitionSubstitutions)).toContain('EnforcementSuspendFunction');
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ExecutionsFailed' });
  });

  it('keeps waiting decisions in a table with a TTL', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
  });
});

describe('functions', () => {
  it('builds every function with the house defaults', () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Metadata: { 'budgeteer:entry': Match.anyValue() },
    });
    expect(Object.keys(functions).length).toBeGreaterThan(0);
    for (const fn of Object.values(functions)) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        DeadLetterConfig: { TargetArn: expect.anything() },
        LoggingConfig: { LogGroup: expect.anything() },
      });
    }
  });

  it('passes ingest its tables, rejected-records queue and identity rules', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          USAGE_TABLE: Match.anyValue(),
          BUDGETS_TABLE: Match.anyValue(),
          REJECTED_QUEUE_URL: Match.anyValue(),
          PERIOD: 'monthly',
          PER_SESSION_ROLES: '["AWSReservedSSO_*"]',
        }),
      },
    });
  });

  it('lets ingest write to the tables, never scan or delete; it reads only the price versions and the groups (limit items by the period index)', () => {
    const [prices] = Object.keys(
      template.findResources('AWS::DynamoDB::Table', {
        Properties: { KeySchema: [{ AttributeName: 'model', KeyType: 'HASH' }, Match.anyValue()] },
      }),
    );
    const role = roleOf(template, 'functions/ingest/handler.ts');
    const statements = policyDocuments(template)
      .filter((p) => p.roles.includes(role))
      .flatMap((p) => p.document.Statement);
    const onPrices = (s: Statement) => JSON.stringify(s.Resource).includes(`"${prices}"`);
    const dynamo = (s: Statement[]) => s.flatMap((x) => list(x.Action)).filter((a) => a.startsWith('dynamodb:'));
    expect(dynamo(statements.filter((s) => !onPrices(s))).sort()).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect(dynamo(statements.filter(onPrices))).toEqual(['dynamodb:Scan']);
    // Its Query is on the period index only (the groups' limit items), never on the table itself.
    const queries = statements.filter((s) => list(s.Action).includes('dynamodb:Query'));
    expect(queries.map((s) => JSON.stringify(s.Resource))).toEqual([expect.stringContaining('/index/byPeriod')]);
    // And its IAM reads are tags of users and roles (group membership by tag), nothing else.
    const iamActions = statements.flatMap((x) => list(x.Action)).filter((a) => a.startsWith('iam:'));
    expect(iamActions.sort()).toEqual(['iam:ListRoleTags', 'iam:ListUserTags']);
  });
});

describe('trust boundaries', () => {
  it('serves the admin function only to IAM-signed requests, and approval links without auth (the link is the credential)', () => {
    const urls = Object.values(template.findResources('AWS::Lambda::Url')).map((u) => ({
      auth: u.Properties.AuthType,
      target: JSON.stringify(u.Properties.TargetFunctionArn),
    }));
    expect(urls).toEqual(
      expect.arrayContaining([
        { auth: 'AWS_IAM', target: expect.stringContaining('AdministrationAdmin') },
        { auth: 'NONE', target: expect.stringContaining('ApprovalsApprove') },
      ]),
    );
    expect(urls).toHaveLength(2);
  });

  it('denies writes to the Budgets table to everyone but the stack’s own function roles', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'principal', KeyType: 'HASH' },
        { AttributeName: 'period', KeyType: 'RANGE' },
      ],
      ResourcePolicy: {
        PolicyDocument: {
          Statement: [
            Match.objectLike({
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: Match.arrayWith(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']),
              Condition: {
                ArnNotLike: {
                  'aws:PrincipalArn': {
                    'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':role/Test-\\*$')])],
                  },
                },
              },
            }),
          ],
        },
      },
    });
  });

  it('outputs a policy for admins that allows calling the admin function through its URL and nothing else', () => {
    const policies = Object.values(template.findResources('AWS::IAM::ManagedPolicy')).filter((p) =>
      JSON.stringify(p).includes('InvokeFunctionUrl'),
    );
    expect(policies).toHaveLength(1);
    expect(policies[0]?.Properties.PolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Action: 'lambda:InvokeFunctionUrl',
        Effect: 'Allow',
        Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
      }),
      expect.objectContaining({
        Action: 'lambda:InvokeFunction',
        Effect: 'Allow',
        Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
      }),
    ]);
    template.hasOutput('AdminPolicyArn', {});
    template.hasOutput('AdminUrl', {});
  });
});

describe('secrets stay out of logs', () => {
  it('logs the workflows’ transitions without their data, so no task token reaches CloudWatch Logs', () => {
    const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    expect(machines).toHaveLength(2);
    for (const machine of machines) {
      expect(machine.Properties.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
    }
  });
});

describe('side doors closed', () => {
  const onlyStackRoles = {
    ArnNotLike: {
      'aws:PrincipalArn': { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':role/Test-\\*$')])] },
    },
  };

  it('denies writes to the Usage table (a charged row hides the cost of its request) to all but the stack’s roles', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }],
      ResourcePolicy: {
        PolicyDocument: {
          Statement: [
            Match.objectLike({
              Effect: 'Deny',
              Action: Match.arrayWith(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem']),
              Condition: onlyStackRoles,
            }),
          ],
        },
      },
    });
  });

  it('denies writes to the Pending table (recorded decisions are acted on) to all but the stack’s roles', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      ResourcePolicy: {
        PolicyDocument: {
          Statement: [
            Match.objectLike({
              Effect: 'Deny',
              Action: Match.arrayWith(['dynamodb:PutItem']),
              Condition: onlyStackRoles,
            }),
          ],
        },
      },
    });
  });

  it('lets nobody but the stack’s roles read the key that signs approval links', () => {
    template.hasResourceProperties('AWS::SecretsManager::ResourcePolicy', {
      ResourcePolicy: {
        Statement: [
          Match.objectLike({ Effect: 'Deny', Action: 'secretsmanager:GetSecretValue', Condition: onlyStackRoles }),
        ],
      },
    });
  });

  it("lets the admin function delete only a group's limit item (GROUP#…), and no other role delete from Budgets", () => {
    const role = roleOf(template, 'functions/admin/handler.ts');
    const deletes = policyDocuments(template)
      .flatMap((p) => p.document.Statement.map((statement) => ({ roles: p.roles, statement })))
      .filter(({ statement }) => list(statement.Action).includes('dynamodb:DeleteItem'))
      .filter(({ statement }) => JSON.stringify(statement.Resource).includes('Budgets'));
    expect(deletes.map(({ roles }) => roles)).toEqual([[role]]);
    expect(deletes[0]?.statement.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['GROUP#*'] },
    });
  });

  it('lets the readers of the account total (evaluate, approve, admin) read its shards in one BatchGetItem', () => {
    for (const reader of [
      'functions/evaluate/handler.ts',
      'functions/approve/handler.ts',
      'functions/admin/handler.ts',
    ]) {
      expect(actionsGrantedTo(template, reader)).toContain('dynamodb:BatchGetItem');
    }
  });
});

describe('requireCloudTrailConfirmation', () => {
  const environmentOf = (t: Template, entry: string) => {
    const [fn] = Object.values(t.findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': entry } }));
    return (fn?.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
  };

  it('is off by default, and reaches the evaluator (which decides) and the sweep (which escalates) when on', () => {
    const on = synth({ requireCloudTrailConfirmation: 'true' });

    for (const entry of ['functions/evaluate/handler.ts', 'functions/sweep/handler.ts']) {
      expect(environmentOf(template, entry).REQUIRE_CLOUDTRAIL_CONFIRMATION).toBe('false');
      expect(environmentOf(on, entry)).toMatchObject({
        REQUIRE_CLOUDTRAIL_CONFIRMATION: 'true',
        UNMETERED_DELAY_MINUTES: '15',
      });
    }
  });
});
