import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient, GetCommand, NumberValue, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { type BudgetItem, Evaluator, executionName } from '../../functions/evaluate/evaluate';
import type { AuditLog } from '../../shared/audit/log';
import type { BudgetStore } from '../../shared/budgets';
import { usd } from '../../shared/money';

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const sns = new SNSClient({ region: 'us-east-1' });
const sfn = new SFNClient({ region: 'us-east-1' });
const ddb = mockClient(documents);
const topics = mockClient(sns);
const workflows = mockClient(sfn);

const config = {
  budgetsTable: 'Budgets',
  thresholds: [80, 90, 95],
  periodKind: 'monthly' as const,
  alertsTopicArn: 'arn:aws:sns:us-east-1:111122223333:alerts',
  criticalTopicArn: 'arn:aws:sns:us-east-1:111122223333:critical',
  suspendStateMachineArn: 'arn:aws:states:us-east-1:111122223333:stateMachine:suspend',
  emergencyStopStateMachineArn: 'arn:aws:states:us-east-1:111122223333:stateMachine:stop',
  breakGlassArns: ['arn:aws:iam::111122223333:user/breakglass'],
};
const audit = { append: jest.fn() };
const limits: Record<string, string> = {};
const kinds: Record<string, 'weekly' | 'daily'> = {};
const budgets = {
  budgetOf: jest.fn(async (p: string) => ({
    limitUsd: usd(limits[p] ?? '100'),
    ...(kinds[p] ? { periodKind: kinds[p] } : {}),
  })),
};
const now = new Date('2026-11-20T12:00:00Z');

function evaluator() {
  return new Evaluator(config, {
    documents,
    sns,
    sfn,
    audit: audit as unknown as AuditLog,
    budgets: budgets as unknown as BudgetStore,
    now: () => now,
  });
}

const counter = (principal: string, spend: string, extra: Record<string, unknown> = {}): BudgetItem => ({
  principal,
  period: '2026-11',
  spendUsd: new NumberValue(spend),
  principalArn: `arn:aws:iam::111122223333:${principal}`,
  principalKind: 'user',
  'modelSpend:anthropic.claude-3-haiku-20240307-v1:0': new NumberValue('1.5'),
  'modelSpend:anthropic.claude-opus-4-20250514-v1:0': new NumberValue(spend),
  ...extra,
});

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'condition', $metadata: {} });

beforeEach(() => {
  ddb.reset();
  topics.reset();
  workflows.reset();
  audit.append.mockReset();
  for (const key of Object.keys(limits)) delete limits[key];
  for (const key of Object.keys(kinds)) delete kinds[key];
  ddb.on(UpdateCommand).resolves({});
  topics.on(PublishCommand).resolves({ MessageId: 'm-1' });
  workflows.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec' });
});

describe('evaluating a spend change', () => {
  it('claims the threshold with a conditional write, then publishes one alert and audits it', async () => {
    await evaluator().evaluate(counter('user/alice', '81'));

    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'Budgets',
      Key: { principal: 'user/alice', period: '2026-11' },
      ConditionExpression: 'attribute_not_exists(alertLevel) OR alertLevel < :t',
      ExpressionAttributeValues: expect.objectContaining({ ':t': 80, ':sent': [80] }),
    });
    expect(topics).toHaveReceivedCommandTimes(PublishCommand, 1);
    const publish = topics.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(publish).toMatchObject({
      TopicArn: config.alertsTopicArn,
      Subject: 'Bedrock budget 80% reached: user/alice (2026-11)',
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: 'warning' },
        principal: { DataType: 'String', StringValue: 'user/alice' },
        threshold: { DataType: 'String', StringValue: '80' },
      },
    });
    expect(publish?.Message).toMatch(/Spend: +\$81\.00/);
    expect(publish?.Message).toMatch(/Period ends: 2026-12-01T00:00:00.000Z/);
    // Top models by cost, costliest first.
    expect(publish?.Message).toMatch(/\$81\.00 +anthropic\.claude-opus[^\n]*\n +\$1\.50 +anthropic\.claude-3-haiku/);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({
        action: 'threshold.alerted',
        subject: 'user/alice',
        details: expect.objectContaining({ threshold: 80 }),
      }),
    );
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression: 'REMOVE pendingAlert SET lastAlertAt = :now',
      ConditionExpression: 'pendingAlert.alertId = :id',
    });
    expect(workflows).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('sends nothing when another delivery already claimed the threshold', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());

    await evaluator().evaluate(counter('user/alice', '81'));

    expect(topics).not.toHaveReceivedCommand(PublishCommand);
    expect(audit.append).not.toHaveBeenCalled();
  });

  it('says in one alert that a jump crossed several thresholds', async () => {
    await evaluator().evaluate(counter('user/alice', '96'));

    expect(topics).toHaveReceivedCommandTimes(PublishCommand, 1);
    const message = topics.commandCalls(PublishCommand)[0]?.args[0].input.Message;
    expect(message).toMatch(/jumped past 80%, 90%, 95% at once/);
  });

  it('publishes an alert a failure left pending, once, when its record comes round again', async () => {
    const pending = {
      alertId: 'user/alice|2026-11|90',
      threshold: 90,
      skipped: [],
      percent: '91.00',
      spendUsd: '91',
      limitUsd: '100',
    };
    ddb
      .on(GetCommand)
      .resolves({ Item: counter('user/alice', '91', { alertLevel: new NumberValue('90'), pendingAlert: pending }) });

    await evaluator().evaluate(
      counter('user/alice', '91', { alertLevel: new NumberValue('90'), pendingAlert: pending }),
    );

    expect(topics).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(topics.commandCalls(PublishCommand)[0]?.args[0].input.Subject).toMatch(/90% reached/);
  });

  it('does not publish a pending alert that was delivered meanwhile', async () => {
    const pending = {
      alertId: 'user/alice|2026-11|90',
      threshold: 90,
      skipped: [],
      percent: '91.00',
      spendUsd: '91',
      limitUsd: '100',
    };
    ddb.on(GetCommand).resolves({ Item: counter('user/alice', '91', { alertLevel: new NumberValue('90') }) });

    await evaluator().evaluate(
      counter('user/alice', '91', { alertLevel: new NumberValue('90'), pendingAlert: pending }),
    );

    expect(topics).not.toHaveReceivedCommand(PublishCommand);
  });

  it('starts the suspension workflow at 100% under a name derived from principal and period', async () => {
    await evaluator().evaluate(counter('user/alice', '100', { alertLevel: new NumberValue('95') }));

    expect(workflows).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: config.suspendStateMachineArn,
      name: executionName('suspend', 'user/alice', '2026-11'),
    });
    const input = JSON.parse(workflows.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}');
    expect(input).toMatchObject({ principal: 'user/alice', period: '2026-11', spendUsd: '100', limitUsd: '100' });
    expect(topics).toHaveReceivedCommandWith(PublishCommand, { TopicArn: config.criticalTopicArn });
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({ action: 'suspension.requested', executionArn: 'arn:exec' }),
    );
  });

  it('treats a second start of the same suspension as done, and records it', async () => {
    workflows.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));

    await evaluator().evaluate(counter('user/alice', '120', { alertLevel: new NumberValue('95') }));

    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: 'attribute_not_exists(enforcementStartedAt)',
      ExpressionAttributeValues: expect.objectContaining({
        ':enforcement': {
          executionArn: `arn:aws:states:us-east-1:111122223333:execution:suspend:${executionName('suspend', 'user/alice', '2026-11')}`,
          executionName: executionName('suspend', 'user/alice', '2026-11'),
        },
      }),
    });
  });

  it('does nothing more once enforcement has started for the period', async () => {
    await evaluator().evaluate(
      counter('user/alice', '130', { alertLevel: new NumberValue('95'), enforcementStartedAt: '2026-11-20T11:00:00Z' }),
    );
    expect(workflows).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(topics).not.toHaveReceivedCommand(PublishCommand);
  });

  it('never suspends the root or a break-glass principal: alert only', async () => {
    await evaluator().evaluate(counter('root', '150', { alertLevel: new NumberValue('95'), principalKind: 'root' }));
    await evaluator().evaluate(
      counter('user/breakglass', '150', {
        alertLevel: new NumberValue('95'),
        principalArn: 'arn:aws:iam::111122223333:user/breakglass',
      }),
    );

    expect(workflows).not.toHaveReceivedCommand(StartExecutionCommand);
    const subjects = topics.commandCalls(PublishCommand).map((c) => c.args[0].input.Message);
    expect(subjects).toEqual([
      expect.stringMatching(/not suspended: the account root/),
      expect.stringMatching(/break-glass/),
    ]);
  });

  it('starts the emergency stop when the account exhausts its budget', async () => {
    await evaluator().evaluate(counter('ACCOUNT', '1000', { alertLevel: new NumberValue('95') }));
    expect(workflows).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: config.emergencyStopStateMachineArn,
      name: executionName('emergency-stop', 'ACCOUNT', '2026-11'),
    });
    expect(audit.append).toHaveBeenCalledWith(expect.objectContaining({ action: 'emergency-stop.started' }));
  });

  it('re-evaluates the current period at once when a limit is lowered', async () => {
    limits['user/alice'] = '50';
    ddb.on(GetCommand).resolves({ Item: counter('user/alice', '46') });

    await evaluator().evaluate({ principal: 'user/alice', period: 'LIMIT', limitUsd: new NumberValue('50') });

    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: { principal: 'user/alice', period: '2026-11' } });
    expect(topics.commandCalls(PublishCommand)[0]?.args[0].input.Subject).toMatch(/90% reached/);
  });

  it("judges a principal with a weekly limit on its weekly counter only, not the deployment's monthly one", async () => {
    kinds['user/wes'] = 'weekly';
    limits['user/wes'] = '10';

    await evaluator().evaluate(counter('user/wes', '9', { period: '2026-11' }));
    expect(topics).not.toHaveReceivedCommand(PublishCommand);

    await evaluator().evaluate(counter('user/wes', '9', { period: '2026-W47' }));
    expect(topics.commandCalls(PublishCommand)[0]?.args[0].input.Subject).toBe(
      'Bedrock budget 90% reached: user/wes (2026-W47)',
    );
    expect(topics.commandCalls(PublishCommand)[0]?.args[0].input.Message).toMatch(
      /Period ends: 2026-11-23T00:00:00.000Z/,
    );
  });

  it("re-evaluates a weekly principal's current week when its limit changes", async () => {
    kinds['user/wes'] = 'weekly';
    ddb.on(GetCommand).resolves({ Item: counter('user/wes', '85', { period: '2026-W47' }) });

    await evaluator().evaluate({ principal: 'user/wes', period: 'LIMIT', limitUsd: new NumberValue('100') });

    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: { principal: 'user/wes', period: '2026-W47' } });
  });

  it('alerts an unknown model once, claimed on its marker item', async () => {
    await evaluator().evaluate({
      principal: 'MODEL#acme.mystery-v1',
      period: 'UNKNOWN',
      requests: new NumberValue('3'),
    });
    ddb.on(UpdateCommand).rejects(conditionFailed());
    await evaluator().evaluate({
      principal: 'MODEL#acme.mystery-v1',
      period: 'UNKNOWN',
      requests: new NumberValue('4'),
    });

    expect(topics).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(topics.commandCalls(PublishCommand)[0]?.args[0].input.Subject).toMatch(/acme\.mystery-v1/);
    expect(audit.append).toHaveBeenCalledWith(expect.objectContaining({ action: 'model.unknown-seen' }));
  });

  it('names executions within Step Functions limits and distinctly per principal', () => {
    const long = executionName('suspend', `role/AWSReservedSSO_${'x'.repeat(80)}/maria@example.com`, '2026-11');
    expect(long).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
    expect(executionName('suspend', 'user/a.b', '2026-11')).not.toBe(executionName('suspend', 'user/a-b', '2026-11'));
  });
});
