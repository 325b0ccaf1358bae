import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient, GetCommand, NumberValue, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { AuditLog } from '../../shared/audit/log';
import {
  EffectError,
  type Effects,
  executionArnOf,
  executionName,
  OUTBOX_SINCE,
  Outbox,
  pendingEffects,
} from '../../shared/decisions/outbox';

const ddb = mockClient(DynamoDBDocumentClient);
const topics = mockClient(SNSClient);
const workflows = mockClient(SFNClient);
const functions = mockClient(LambdaClient);

const region = 'us-east-1';
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region }));
const audit = { append: jest.fn() };
const now = new Date('2026-11-20T12:00:00Z');
const targets = {
  table: 'Budgets',
  alertsTopicArn: 'arn:aws:sns:us-east-1:111122223333:alerts',
  criticalTopicArn: 'arn:aws:sns:us-east-1:111122223333:critical',
  suspendStateMachineArn: 'arn:aws:states:us-east-1:111122223333:stateMachine:suspend',
  emergencyStopStateMachineArn: 'arn:aws:states:us-east-1:111122223333:stateMachine:stop',
  suspendFunctionName: 'budgeteer-suspend',
};
const outbox = (overrides: Partial<typeof targets> = {}) =>
  new Outbox(
    { ...targets, ...overrides },
    {
      documents,
      sns: new SNSClient({ region }),
      sfn: new SFNClient({ region }),
      lambda: new LambdaClient({ region }),
      audit: audit as unknown as AuditLog,
      now: () => now,
    },
  );

const key = { principal: 'user/alice', period: '2026-11' };
const effects: Effects = {
  decisionId: 'suspend|user/alice|2026-11|g1',
  messages: [
    {
      topic: 'critical',
      message: { subject: 'alice suspended', body: 'over budget', attributes: { severity: 'critical' } },
    },
  ],
  audit: {
    actor: 'system:evaluate',
    action: 'suspension.requested',
    subject: 'user/alice',
    details: { generation: 1 },
  },
  start: { machine: 'suspend', name: 'suspend-abc-2026-11-g1', input: { principal: 'user/alice', generation: 1 } },
};
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'condition', $metadata: {} });

beforeEach(() => {
  ddb.reset();
  topics.reset();
  workflows.reset();
  functions.reset();
  audit.append.mockReset();
  ddb.on(UpdateCommand).resolves({ Attributes: { ...key } });
  topics.on(PublishCommand).resolves({ MessageId: 'm-1' });
  workflows.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec' });
  functions.on(InvokeCommand).resolves({ StatusCode: 200 });
});

describe('claiming a decision', () => {
  it('records the effects owed in the same conditional write as the decision', async () => {
    const claimed = await outbox().claim(
      key,
      {
        UpdateExpression: 'SET alertLevel = :t',
        ConditionExpression: 'alertLevel < :t',
        ExpressionAttributeValues: { ':t': 80 },
      },
      effects,
    );

    expect(claimed).toEqual(key);
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'Budgets',
      Key: key,
      UpdateExpression: 'SET #outbox = :effects, #since = if_not_exists(#since, :now), alertLevel = :t',
      ConditionExpression: 'alertLevel < :t',
      ExpressionAttributeNames: { '#outbox': `outbox:${effects.decisionId}`, '#since': OUTBOX_SINCE },
      ExpressionAttributeValues: { ':t': 80, ':effects': effects, ':now': now.toISOString() },
      ReturnValues: 'ALL_NEW',
    });
  });

  it('adds a SET clause to an update that has none', async () => {
    await outbox().claim(
      key,
      { UpdateExpression: 'REMOVE stale', ConditionExpression: 'attribute_exists(x)' },
      effects,
    );

    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input.UpdateExpression).toBe(
      'SET #outbox = :effects, #since = if_not_exists(#since, :now) REMOVE stale',
    );
  });

  it('returns undefined, and delivers nothing, when the decision was claimed before', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());

    await expect(outbox().claim(key, { ConditionExpression: 'attribute_not_exists(x)' }, effects)).resolves.toBe(
      undefined,
    );
    expect(topics).not.toHaveReceivedCommand(PublishCommand);
    expect(audit.append).not.toHaveBeenCalled();
  });

  it('lets any other failure of the claim through', async () => {
    ddb.on(UpdateCommand).rejects(new Error('throttled'));

    await expect(outbox().claim(key, {}, effects)).rejects.toThrow('throttled');
  });
});

describe('delivering a decision', () => {
  it('publishes with the decision id, audits once under it, starts by name, then clears the entry', async () => {
    await outbox().deliver(key, effects);

    expect(topics).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: targets.criticalTopicArn,
      Subject: 'alice suspended',
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: 'critical' },
        decisionId: { DataType: 'String', StringValue: effects.decisionId },
      },
    });
    expect(audit.append).toHaveBeenCalledWith(
      { actor: 'system:evaluate', action: 'suspension.requested', subject: 'user/alice', details: { generation: 1 } },
      { once: effects.decisionId },
    );
    expect(workflows).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: targets.suspendStateMachineArn,
      name: 'suspend-abc-2026-11-g1',
      input: JSON.stringify({ principal: 'user/alice', generation: 1 }),
    });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: key,
      UpdateExpression: 'REMOVE #outbox',
      ExpressionAttributeNames: { '#outbox': `outbox:${effects.decisionId}` },
    });
  });

  it('clears the entry only after every effect succeeded', async () => {
    audit.append.mockRejectedValue(new Error('audit down'));

    await expect(outbox().deliver(key, effects)).rejects.toThrow('audit down');
    expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('treats a workflow already started under the name as started', async () => {
    workflows.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));

    await outbox().deliver(key, effects);

    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { UpdateExpression: 'REMOVE #outbox' });
  });

  it('starts the emergency stop on its own machine', async () => {
    await outbox().deliver(key, { decisionId: 'stop', start: { machine: 'emergency-stop', name: 'n', input: {} } });

    expect(workflows).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: targets.emergencyStopStateMachineArn,
    });
  });

  it('sends a workflow input read back from the table with plain numbers, as it was claimed', async () => {
    // What the stream or a consistent read hands back (wrapNumbers) is what a redelivery starts the workflow with.
    const readBack = {
      ...effects,
      start: {
        machine: 'suspend' as const,
        name: 'n',
        input: { generation: new NumberValue('1'), graceSeconds: new NumberValue('30') },
      },
    };

    await outbox().deliver(key, readBack);

    expect(JSON.parse(workflows.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '')).toEqual({
      generation: 1,
      graceSeconds: 30,
    });
  });

  it('invokes the suspend function synchronously and fails on its error', async () => {
    const invoke = { action: 'apply', input: { principal: 'user/bob' } };
    await outbox().deliver(key, { decisionId: 'deny', invoke });
    const payload = functions.commandCalls(InvokeCommand)[0]?.args[0].input.Payload;
    expect(JSON.parse(new TextDecoder().decode(payload as Uint8Array))).toEqual(invoke);
    expect(functions).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: 'budgeteer-suspend' });

    functions.on(InvokeCommand).resolves({
      FunctionError: 'Unhandled',
      Payload: new TextEncoder().encode('boom') as InvokeCommandOutput['Payload'],
    });
    await expect(outbox().deliver(key, { decisionId: 'deny', invoke })).rejects.toThrow(EffectError);
  });

  it('refuses an invoke when no suspend function is configured', async () => {
    await expect(
      outbox({ suspendFunctionName: '' }).deliver(key, { decisionId: 'deny', invoke: {} }),
    ).rejects.toBeInstanceOf(EffectError);
  });
});

describe('completing what a crash left owed', () => {
  it('delivers every entry on the item as a consistent read shows it', async () => {
    const second: Effects = {
      decisionId: 'threshold|80',
      audit: { actor: 'system:evaluate', action: 'threshold.alerted', subject: 'user/alice' },
    };
    ddb.on(GetCommand).resolves({
      Item: { ...key, [`outbox:${effects.decisionId}`]: effects, [`outbox:${second.decisionId}`]: second },
    });

    await expect(outbox().deliverPending(key)).resolves.toBe(2);

    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: key, ConsistentRead: true });
    expect(audit.append.mock.calls.map(([, options]) => options)).toEqual([
      { once: effects.decisionId },
      { once: second.decisionId },
    ]);
  });

  it('removes the marker of an item with nothing owed, unless something was claimed since', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...key, [OUTBOX_SINCE]: '2026-11-20T11:00:00.000Z' } });

    await expect(outbox().deliverPending(key)).resolves.toBe(0);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression: 'REMOVE #since',
      ConditionExpression: '#since = :since',
      ExpressionAttributeValues: { ':since': '2026-11-20T11:00:00.000Z' },
    });

    ddb.reset();
    ddb
      .on(GetCommand)
      .resolvesOnce({ Item: { ...key, [OUTBOX_SINCE]: '2026-11-20T11:00:00.000Z' } })
      .resolves({ Item: { ...key, [OUTBOX_SINCE]: 'x', [`outbox:${effects.decisionId}`]: effects } });
    await outbox().deliverPending(key);
    expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('scans every page for items with effects owed and completes each', async () => {
    ddb
      .on(ScanCommand)
      .resolvesOnce({ Items: [key], LastEvaluatedKey: key })
      .resolves({ Items: [{ principal: 'ACCOUNT', period: '2026-11' }] });
    ddb.on(GetCommand).resolves({ Item: { ...key, [`outbox:${effects.decisionId}`]: effects } });

    await expect(outbox().deliverAll()).resolves.toBe(2);

    expect(ddb).toHaveReceivedCommandTimes(ScanCommand, 2);
    expect(ddb).toHaveReceivedCommandWith(ScanCommand, {
      FilterExpression: 'attribute_exists(#since)',
      ConsistentRead: true,
      ExclusiveStartKey: key,
    });
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: { principal: 'ACCOUNT', period: '2026-11' } });
  });

  it('lists the effects owed on an item by their outbox attributes', () => {
    expect(pendingEffects({ ...key, alertLevel: 80, [`outbox:${effects.decisionId}`]: effects })).toEqual([effects]);
  });
});

describe('execution names', () => {
  it('fit Step Functions limits and stay distinct per decision', () => {
    const long = executionName('suspend', 'suspend|x|g1', `role/AWSReservedSSO_${'x'.repeat(80)}/maria@example.com`);
    expect(long).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
    expect(executionName('suspend', 'a|g0', 'same')).not.toBe(executionName('suspend', 'a|g1', 'same'));
    expect(executionArnOf(targets.suspendStateMachineArn, 'n')).toBe(
      'arn:aws:states:us-east-1:111122223333:execution:suspend:n',
    );
  });
});
