import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, type InvokeCommandInput, LambdaClient } from '@aws-sdk/client-lambda';
import {
  ExecutionAlreadyExists,
  SFNClient,
  StartExecutionCommand,
  type StartExecutionCommandInput,
} from '@aws-sdk/client-sfn';
import { PublishCommand, type PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  NumberValue,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import Big from 'big.js';
import { thresholdAlertMessage } from '../../functions/evaluate/alerts';
import {
  type BudgetItem,
  type Decision,
  Evaluator,
  type EvaluatorConfig,
  needsEvaluation,
} from '../../functions/evaluate/evaluate';
import type { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { executionArnOf, executionName, Outbox, pendingEffects } from '../../shared/decisions/outbox';
import type { PendingWaits } from '../../shared/decisions/pending';
import { usd } from '../../shared/money';
import { asEmail } from '../shared/published';

const ddb = mockClient(DynamoDBDocumentClient);
const topics = mockClient(SNSClient);
const workflows = mockClient(SFNClient);
const functions = mockClient(LambdaClient);

const region = 'us-east-1';
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region }));
const now = new Date('2026-11-20T12:00:00Z');
const config: EvaluatorConfig = {
  budgetsTable: 'Budgets',
  thresholds: [80, 90, 95],
  periodKind: 'monthly',
  suspendStateMachineArn: 'arn:aws:states:us-east-1:111122223333:stateMachine:suspend',
  emergencyStopStateMachineArn: 'arn:aws:states:us-east-1:111122223333:stateMachine:stop',
  protection: {
    accountId: '111122223333',
    breakGlassArns: ['arn:aws:iam::111122223333:user/breakglass'],
    systemRolePatterns: ['budgeteer-*'],
  },
};
const targets = {
  table: 'Budgets',
  alertsTopicArn: 'arn:aws:sns:us-east-1:111122223333:alerts',
  criticalTopicArn: 'arn:aws:sns:us-east-1:111122223333:critical',
  suspendStateMachineArn: config.suspendStateMachineArn,
  emergencyStopStateMachineArn: config.emergencyStopStateMachineArn,
  suspendFunctionName: 'budgeteer-suspend',
};
const audit = { append: jest.fn() };
const waits = { decide: jest.fn(), wakeAll: jest.fn() };
const limits: Record<string, string> = {};
/** Groups' members, as their limit items name them. */
const groupMembers: Record<string, string[]> = { 'GROUP#ds': ['user/bob'], 'GROUP#wk': ['user/*'] };
const kinds: Record<string, 'weekly'> = {};
const store = new BudgetStore(documents, 'Budgets', { configuredDefault: usd('100'), configuredAccount: usd('100') });
const budgets = {
  budgetOf: jest.fn(async (p: string) => ({
    limitUsd: usd(limits[p] ?? '100'),
    ...(kinds[p] ? { periodKind: kinds[p] } : {}),
  })),
  // The real sum over the ACCOUNT item and its shards, through the mocked client.
  accountTotal: (period: string) => store.accountTotal(period),
  ownLimitIn: jest.fn(async (p: string) =>
    limits[p] || groupMembers[p]
      ? { principal: p, limitUsd: usd(limits[p] ?? '100'), ...(groupMembers[p] ? { members: groupMembers[p] } : {}) }
      : undefined,
  ),
};

function evaluator(overrides: Partial<EvaluatorConfig> = {}, onDecision?: (decision: Decision) => void) {
  const outbox = new Outbox(targets, {
    documents,
    sns: new SNSClient({ region }),
    sfn: new SFNClient({ region }),
    lambda: new LambdaClient({ region }),
    audit: audit as unknown as AuditLog,
    now: () => now,
  });
  return new Evaluator(
    { ...config, ...overrides },
    {
      documents,
      budgets: budgets as unknown as BudgetStore,
      outbox,
      waits: waits as unknown as PendingWaits,
      now: () => now,
      ...(onDecision ? { onDecision } : {}),
    },
  );
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

/**
 * How DynamoDB judges a claim's condition on `alertLevel` (its other clauses are left to the test): the forms the
 * evaluator writes, `attribute_not_exists(alertLevel)`, `alertLevel = :v` and `alertLevel < :v`, joined by OR.
 */
function alertLevelConditionHolds(input: UpdateCommandInput, level: number | undefined): boolean {
  const condition = input.ConditionExpression ?? '';
  const values = input.ExpressionAttributeValues ?? {};
  const absent = /attribute_not_exists\(alertLevel\)/.test(condition) && level === undefined;
  const compared = [...condition.matchAll(/alertLevel (=|<) (:\w+)/g)].some(([, op, value]) =>
    level === undefined ? false : op === '=' ? level === values[value ?? ''] : level < (values[value ?? ''] as number),
  );
  return absent || compared;
}

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'condition', $metadata: {} });
const updates = () => ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
const claims = () =>
  updates().filter((u) => u.ExpressionAttributeNames?.['#outbox'] && /^SET/.test(u.UpdateExpression ?? ''));
const published = () => topics.commandCalls(PublishCommand).map((c) => asEmail(c.args[0].input));
const started = () => workflows.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
const startInput = (i = 0) => JSON.parse(started()[i]?.input ?? '{}');
const payloadOf = (input: InvokeCommandInput | undefined) =>
  JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array));

beforeEach(() => {
  ddb.reset();
  topics.reset();
  workflows.reset();
  functions.reset();
  audit.append.mockReset();
  waits.decide.mockReset();
  waits.wakeAll.mockReset();
  for (const key of Object.keys(limits)) delete limits[key];
  for (const key of Object.keys(kinds)) delete kinds[key];
  ddb.on(UpdateCommand).resolves({ Attributes: {} });
  ddb.on(GetCommand).resolves({});
  ddb.on(BatchGetCommand).resolves({ Responses: { Budgets: [] } });
  topics.on(PublishCommand).resolves({ MessageId: 'm-1' });
  workflows.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec' });
  functions.on(InvokeCommand).resolves({ StatusCode: 200 });
});

describe('threshold crossing', () => {
  it('claims the threshold with one conditional write that records the alert owed, then publishes, audits and clears it', async () => {
    const decisionId = 'threshold|user/alice|2026-11|g0|80';
    const order: string[] = [];
    ddb.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
      order.push(input.UpdateExpression === 'REMOVE #outbox' ? 'clear' : 'claim');
      return { Attributes: {} };
    });
    topics.on(PublishCommand).callsFake(async () => {
      order.push('publish');
      return {};
    });
    audit.append.mockImplementation(async () => {
      order.push('audit');
    });

    await evaluator().evaluate(counter('user/alice', '81'));

    expect(order).toEqual(['claim', 'publish', 'audit', 'clear']);

    expect(claims()).toHaveLength(1);
    expect(claims()[0]).toMatchObject({
      TableName: 'Budgets',
      Key: { principal: 'user/alice', period: '2026-11' },
      UpdateExpression: expect.stringMatching(/^SET #outbox = :effects, .*alertLevel = :t/),
      ConditionExpression:
        '(attribute_not_exists(alertLevel) OR alertLevel = :seen) AND (attribute_not_exists(#g) OR #g = :g)',
      ExpressionAttributeNames: expect.objectContaining({ '#outbox': `outbox:${decisionId}`, '#g': 'generation' }),
      ExpressionAttributeValues: expect.objectContaining({
        ':seen': 0,
        ':t': 80,
        ':g': 0,
        ':effects': expect.objectContaining({ decisionId }),
      }),
    });
    expect(published()).toHaveLength(1);
    expect(published()[0]).toMatchObject({
      TopicArn: targets.alertsTopicArn,
      Subject: 'Bedrock budget 80% reached: user/alice (2026-11)',
      MessageAttributes: expect.objectContaining({
        decisionId: { DataType: 'String', StringValue: decisionId },
        threshold: { DataType: 'String', StringValue: '80' },
      }),
    });
    expect(published()[0]?.Message).toMatch(
      /\$81\.00 +anthropic\.claude-opus[^\n]*\n +\$1\.50 +anthropic\.claude-3-haiku/,
    );
    expect(audit.append).toHaveBeenCalledTimes(1);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({
        action: 'threshold.alerted',
        subject: 'user/alice',
        details: expect.objectContaining({ threshold: 80, generation: 0 }),
      }),
      { once: decisionId },
    );
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { principal: 'user/alice', period: '2026-11' },
      UpdateExpression: 'REMOVE #outbox',
      ExpressionAttributeNames: { '#outbox': `outbox:${decisionId}` },
    });
    expect(workflows).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('says in one alert that a jump crossed several thresholds', async () => {
    await evaluator().evaluate(counter('user/alice', '96'));

    expect(published()).toHaveLength(1);
    expect(published()[0]?.Message).toMatch(/jumped past 80%, 90%, 95% at once/);
  });

  it('claims from the level a stale image saw: a level alerted meanwhile is never named as skipped, and the higher threshold alerts once', async () => {
    // The table as it is: a concurrent evaluation has alerted 90% since the image below was taken.
    const table = { alertLevel: 90 as number | undefined };
    ddb.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
      if (input.UpdateExpression === 'REMOVE #outbox') return {};
      if (!alertLevelConditionHolds(input, table.alertLevel)) throw conditionFailed();
      table.alertLevel = input.ExpressionAttributeValues?.[':t'] as number;
      return { Attributes: {} };
    });
    const stale = counter('user/alice', '96', { alertLevel: new NumberValue('80') });
    // The stream record of the write that raised the level: the item as it is now.
    const raised = counter('user/alice', '96', { alertLevel: new NumberValue('90') });

    await evaluator().evaluate(stale);

    expect(published()).toEqual([]);
    expect(table.alertLevel).toBe(90);

    await evaluator().evaluate(raised);
    // Redelivered, in either order: nothing more.
    await evaluator().evaluate(stale);
    await evaluator().evaluate(raised);

    expect(published().map((p) => p.Subject)).toEqual(['Bedrock budget 95% reached: user/alice (2026-11)']);
    expect(published()[0]?.Message).not.toMatch(/jumped past/);
    expect(audit.append).toHaveBeenCalledTimes(1);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({ action: 'threshold.alerted', details: expect.objectContaining({ skipped: [] }) }),
      expect.anything(),
    );
    expect(table.alertLevel).toBe(95);
  });

  it('sends nothing when a claim fails its condition', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());

    await evaluator().evaluate(counter('user/alice', '81'));
    await evaluator().evaluate(counter('user/alice', '100', { alertLevel: new NumberValue('95') }));

    expect(claims()).toHaveLength(2);
    expect(topics).not.toHaveReceivedCommand(PublishCommand);
    expect(audit.append).not.toHaveBeenCalled();
    expect(workflows).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it("judges a principal with a weekly limit on its weekly counter only, not the deployment's monthly one", async () => {
    kinds['user/wes'] = 'weekly';
    limits['user/wes'] = '10';

    await evaluator().evaluate(counter('user/wes', '9', { period: '2026-11' }));
    expect(topics).not.toHaveReceivedCommand(PublishCommand);

    await evaluator().evaluate(counter('user/wes', '9', { period: '2026-W47' }));
    expect(published()[0]?.Subject).toBe('Bedrock budget 90% reached: user/wes (2026-W47)');
  });

  it('re-evaluates the current period at once when a limit record changes', async () => {
    limits['user/alice'] = '50';
    ddb.on(GetCommand).resolves({ Item: counter('user/alice', '46') });

    await evaluator().evaluate({ principal: 'user/alice', period: 'LIMIT', limitUsd: new NumberValue('50') });

    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: { principal: 'user/alice', period: '2026-11' } });
    expect(published()[0]?.Subject).toMatch(/90% reached/);
  });

  it('alerts an unknown model once, claimed on its marker item', async () => {
    await evaluator().evaluate({
      principal: 'MODEL#acme.mystery-v1',
      period: 'UNKNOWN',
      requests: new NumberValue('3'),
    });

    expect(claims()[0]).toMatchObject({
      Key: { principal: 'MODEL#acme.mystery-v1', period: 'UNKNOWN' },
      ConditionExpression: 'attribute_not_exists(alertedAt)',
      ExpressionAttributeNames: { '#outbox': 'outbox:unknown-model|acme.mystery-v1' },
    });
    expect(published()[0]?.Subject).toMatch(/acme\.mystery-v1/);
    expect(audit.append).toHaveBeenCalledWith(expect.objectContaining({ action: 'model.unknown-seen' }), {
      once: 'unknown-model|acme.mystery-v1',
    });
  });
});

describe('decisions reported for the metrics', () => {
  const reported: Decision[] = [];
  const record = (decision: Decision) => {
    reported.push(decision);
  };
  beforeEach(() => {
    reported.length = 0;
  });

  it('reports each decision it claims, once, with what it is and when it was claimed', async () => {
    await evaluator({}, record).evaluate(counter('user/alice', '100'));
    await evaluator({}, record).evaluate(counter('root', '100', { principalArn: 'arn:aws:iam::111122223333:root' }));

    expect(reported).toEqual([
      { kind: 'threshold-alert', principal: 'user/alice', threshold: 95, claimedAt: now },
      { kind: 'suspension', principal: 'user/alice', claimedAt: now },
      { kind: 'threshold-alert', principal: 'root', threshold: 95, claimedAt: now },
      { kind: 'suspension-skipped', principal: 'root', claimedAt: now },
    ]);
  });

  it('reports the emergency stop as its own kind', async () => {
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        Budgets: [
          { principal: 'ACCOUNT', period: '2026-11', alertLevel: new NumberValue('95') },
          { principal: 'ACCOUNT#3', period: '2026-11', spendUsd: new NumberValue('100') },
        ],
      },
    });

    await evaluator({}, record).evaluate(counter('ACCOUNT#3', '100'));

    expect(reported.map((d) => [d.kind, d.principal])).toEqual([['emergency-stop', 'ACCOUNT']]);
  });

  it('reports nothing for a claim that fails its condition (decided before)', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());

    await evaluator({}, record).evaluate(counter('user/alice', '100'));

    expect(claims()).toHaveLength(2);
    expect(reported).toEqual([]);
  });

  it('reports a claimed decision whose delivery then fails: the redelivery completes it without a second claim', async () => {
    topics.on(PublishCommand).rejects(new Error('SNS throttled'));

    await expect(evaluator({}, record).evaluate(counter('user/alice', '81'))).rejects.toThrow('SNS throttled');

    expect(reported.map((d) => [d.kind, d.threshold])).toEqual([['threshold-alert', 80]]);
  });
});

describe('conflicting records', () => {
  const record = (principal: string, cost: string) => ({
    principal,
    principalArn: `arn:aws:iam::111122223333:${principal}`,
    costUsd: new NumberValue(cost),
    model: 'anthropic.claude-3-haiku-20240307-v1:0',
    modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
    source: 'invocation-log',
    time: '2026-11-20T11:00:00.000Z',
    catalogVersion: '2026-11-01',
    tokens: { input: new NumberValue('1000'), output: new NumberValue('0') },
  });
  const marker = {
    principal: 'CONFLICT#r-1',
    period: 'user/alice|0.5',
    requestId: 'r-1',
    outcome: 'replaced',
    records: [record('user/bob', '0.01'), record('user/alice', '0.5')],
    stands: 'user/alice',
    addedUsd: new NumberValue('0.49'),
    detectedAt: '2026-11-20T11:00:01.000Z',
  };

  it('alerts a conflict on the critical topic and audits both records on the standing principal, once', async () => {
    await evaluator().evaluate(marker);

    expect(claims()[0]).toMatchObject({
      Key: { principal: 'CONFLICT#r-1', period: 'user/alice|0.5' },
      ConditionExpression: 'attribute_not_exists(alertedAt)',
      ExpressionAttributeNames: { '#outbox': 'outbox:usage-conflict|r-1|user/alice|0.5' },
    });
    expect(published()).toEqual([
      expect.objectContaining({
        TopicArn: targets.criticalTopicArn,
        Subject: 'Conflicting Bedrock usage records for request r-1',
        Message: expect.stringMatching(
          /user\/alice is charged \$0\.5, and user\/bob is credited the \$0\.01 it was charged/,
        ),
      }),
    ]);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({
        action: 'usage.conflict',
        subject: 'user/alice',
        actor: 'system:ingest',
        requestId: 'r-1',
        period: '2026-11',
        details: {
          outcome: 'replaced',
          addedUsd: '0.49',
          records: [
            expect.objectContaining({ principal: 'user/bob', costUsd: '0.01', tokens: { input: 1000, output: 0 } }),
            expect.objectContaining({ principal: 'user/alice', costUsd: '0.5' }),
          ],
        },
      }),
      { once: 'usage-conflict|r-1|user/alice|0.5' },
    );
  });

  it('audits the sweep’s estimate corrected by the exact record once, on the principal’s chain, and alerts nobody', async () => {
    const estimate = { ...record('user/alice', '0.5'), source: 'coverage-sweep', catalogVersion: 'unmetered-estimate' };
    await evaluator().evaluate({
      ...marker,
      period: 'user/alice|0.000375',
      outcome: 'corrected',
      records: [estimate, record('user/alice', '0.000375')],
      addedUsd: new NumberValue('-0.499625'),
    });

    expect(published()).toEqual([]);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({
        action: 'usage.estimate-replaced',
        subject: 'user/alice',
        requestId: 'r-1',
        period: '2026-11',
        details: expect.objectContaining({ estimateUsd: '0.5', exactUsd: '0.000375', addedUsd: '-0.499625' }),
      }),
      { once: 'estimate-replaced|r-1|user/alice|0.000375' },
    );
  });

  it('sends nothing when the conflict was alerted before', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());

    await evaluator().evaluate({ ...marker, alertedAt: '2026-11-20T11:00:02.000Z' });

    expect(published()).toEqual([]);
    expect(audit.append).not.toHaveBeenCalled();
  });
});

describe('exhaustion', () => {
  const suspendId = 'suspend|user/alice|2026-11|g0';
  const suspendName = executionName('suspend', suspendId, '2026-11-g0-user/alice');

  it('starts the suspension workflow under a name derived from the decision, with generation, decision and holder', async () => {
    await evaluator().evaluate(counter('user/alice', '100', { alertLevel: new NumberValue('95') }));

    expect(suspendName).toMatch(/g0/);
    expect(claims()[0]).toMatchObject({
      ConditionExpression:
        '(attribute_not_exists(exhaustedGeneration) OR exhaustedGeneration < :g) AND (attribute_not_exists(#g) OR #g = :g) AND attribute_not_exists(#lifted)',
      ExpressionAttributeNames: expect.objectContaining({ '#outbox': `outbox:${suspendId}`, '#lifted': 'lifted' }),
    });
    expect(started()).toEqual([
      { stateMachineArn: config.suspendStateMachineArn, name: suspendName, input: expect.any(String) },
    ]);
    expect(startInput()).toEqual({
      principal: 'user/alice',
      principalArn: 'arn:aws:iam::111122223333:user/alice',
      period: '2026-11',
      generation: 0,
      decisionId: suspendId,
      holder: `suspend:${suspendName}`,
      reason: 'budget',
      graceSeconds: 0,
      spendUsd: '100',
      limitUsd: '100',
    });
    expect(published()[0]).toMatchObject({
      TopicArn: targets.criticalTopicArn,
      MessageAttributes: expect.objectContaining({ decisionId: { DataType: 'String', StringValue: suspendId } }),
    });
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({
        action: 'suspension.requested',
        executionArn: executionArnOf(config.suspendStateMachineArn, suspendName),
      }),
      { once: suspendId },
    );
  });

  it('starts the emergency stop when the account shards add up to its budget', async () => {
    const stopId = 'stop|ACCOUNT|2026-11|g0';
    const name = executionName('emergency-stop', stopId, '2026-11-g0-ACCOUNT');
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        Budgets: [
          { principal: 'ACCOUNT', period: '2026-11', alertLevel: new NumberValue('95') },
          { principal: 'ACCOUNT#3', period: '2026-11', spendUsd: new NumberValue('60.000000000000000001') },
          { principal: 'ACCOUNT#41', period: '2026-11', spendUsd: new NumberValue('39.999999999999999999') },
        ],
      },
    });

    // One shard's record: the account is judged on the sum of all of them, exactly 100.
    await evaluator().evaluate(counter('ACCOUNT#41', '39.999999999999999999'));

    expect(ddb.commandCalls(BatchGetCommand)[0]?.args[0].input.RequestItems?.Budgets).toMatchObject({
      ConsistentRead: true,
      Keys: expect.arrayContaining([
        { principal: 'ACCOUNT', period: '2026-11' },
        { principal: 'ACCOUNT#0', period: '2026-11' },
        { principal: 'ACCOUNT#63', period: '2026-11' },
      ]),
    });
    expect(claims()[0]).toMatchObject({ Key: { principal: 'ACCOUNT', period: '2026-11' } });
    expect(started()[0]).toMatchObject({ stateMachineArn: config.emergencyStopStateMachineArn, name });
    expect(startInput()).toMatchObject({ decisionId: stopId, holder: `stop:${name}`, generation: 0 });
    expect(audit.append).toHaveBeenCalledWith(expect.objectContaining({ action: 'emergency-stop.started' }), {
      once: stopId,
    });
  });

  it("starts one stop of a group at its limit, scoped to the group: its members' denies, reason group:<name>", async () => {
    limits['GROUP#ds'] = '500';
    const stopId = 'stop|GROUP#ds|2026-11|g0';
    const name = executionName('emergency-stop', stopId, '2026-11-g0-GROUP#ds');
    try {
      await evaluator().evaluate(counter('GROUP#ds', '500.000001', { alertLevel: new NumberValue('95') }));
    } finally {
      delete limits['GROUP#ds'];
    }

    expect(claims()[0]).toMatchObject({ Key: { principal: 'GROUP#ds', period: '2026-11' } });
    expect(started()[0]).toMatchObject({ stateMachineArn: config.emergencyStopStateMachineArn, name });
    expect(startInput()).toMatchObject({ principal: 'GROUP#ds', holder: `stop:${name}`, reason: 'group:ds' });
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({ action: 'group.stopped', subject: 'GROUP#ds' }),
      { once: stopId },
    );
  });

  it("judges a deleted group's counter no more: it is history, never held to the default limit", async () => {
    await evaluator().evaluate(counter('GROUP#gone', '5000'));

    expect(claims()).toEqual([]);
    expect(started()).toEqual([]);
  });

  it('reads the account shards once per batch: the first read already counts every shard record of it', async () => {
    const e = evaluator();
    e.startBatch();
    await e.evaluate(counter('ACCOUNT#1', '5'));
    await e.evaluate(counter('ACCOUNT#2', '6'));
    await e.evaluate(counter('ACCOUNT#1', '7'));
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 1);

    e.startBatch();
    await e.evaluate(counter('ACCOUNT#1', '8'));
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 2);
  });

  it('does not read the account shards of a kind of period the account is not judged on', async () => {
    await evaluator().evaluate({ ...counter('ACCOUNT#1', '500'), period: '2026-W47' });

    expect(ddb).not.toHaveReceivedCommand(BatchGetCommand);
    expect(workflows).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it.each([
    ['the account root', counter('root', '150', { principalArn: 'arn:aws:iam::111122223333:root' }), /root/],
    ['a break-glass principal', counter('user/breakglass', '150'), /break-glass/],
    ['a system role', counter('role/budgeteer-evaluate', '150'), /own roles/],
  ])('never suspends %s: alert and audit suspension.skipped only', async (_who, item, reason) => {
    await evaluator().evaluate({ ...item, alertLevel: new NumberValue('95') });

    expect(workflows).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(published()).toEqual([expect.objectContaining({ TopicArn: targets.criticalTopicArn })]);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({
        action: 'suspension.skipped',
        details: expect.objectContaining({ reason: expect.stringMatching(reason) }),
      }),
      { once: `suspend|${item.principal}|2026-11|g0` },
    );
  });

  it.each([
    ['already suspended', { state: 'suspended' }],
    ['lifted until the period ends', { lifted: { by: 'admin', at: '2026-11-19T00:00:00Z', reason: 'launch' } }],
  ])('starts no new suspension of a principal %s', async (_why, extra) => {
    await evaluator().evaluate(counter('user/alice', '130', { alertLevel: new NumberValue('95'), ...extra }));

    expect(claims()).toEqual([]);
    expect(workflows).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(topics).not.toHaveReceivedCommand(PublishCommand);
  });
});

describe('generations', () => {
  it('starts generation g+1 with the thresholds above the current percent re-armed when the limit changed', async () => {
    ddb.on(UpdateCommand).resolves({
      Attributes: counter('user/alice', '60', { generation: new NumberValue('1'), alertLevel: new NumberValue('0') }),
    });

    await evaluator().evaluate(
      counter('user/alice', '60', { generationLimitUsd: new NumberValue('50'), alertLevel: new NumberValue('95') }),
    );

    expect(updates()[0]).toMatchObject({
      // Spend is now under the limit: a suspension whose wait has not begun must end too (#end).
      UpdateExpression: 'SET #g = :next, #limit = :limit, #cause = :cause, alertLevel = :level, #end = :next',
      ExpressionAttributeNames: expect.objectContaining({ '#end': 'endWaitGeneration' }),
      ConditionExpression: '(attribute_not_exists(#g) OR #g = :g)',
      ExpressionAttributeValues: {
        ':g': 0,
        ':next': 1,
        ':limit': new NumberValue('100'),
        ':cause': 'limit-changed',
        ':level': 0,
      },
    });
    expect(topics).not.toHaveReceivedCommand(PublishCommand);
    expect(waits.decide).not.toHaveBeenCalled();
  });

  it('leaves a suspension in force when the limit changes but the spend is still over it', async () => {
    limits['user/alice'] = '55';
    ddb.on(UpdateCommand).resolves({ Attributes: counter('user/alice', '60', { generation: new NumberValue('1') }) });

    await evaluator().evaluate(counter('user/alice', '60', { generationLimitUsd: new NumberValue('50') }));

    expect(updates()[0]?.UpdateExpression).toBe(
      'SET #g = :next, #limit = :limit, #cause = :cause, alertLevel = :level',
    );
    expect(waits.decide).not.toHaveBeenCalled();
  });

  it('alerts 80, 90 and 95% of the raised limit again, then suspends again under a new name', async () => {
    const table = new Table();
    table.put(
      counter('user/alice', '60', {
        alertLevel: new NumberValue('95'),
        exhaustedGeneration: new NumberValue('0'),
        generationLimitUsd: new NumberValue('50'),
      }),
    );
    const alice = { principal: 'user/alice', period: '2026-11' };

    await evaluator().evaluate(table.image(alice));
    for (const spend of ['80', '90', '95', '100']) {
      table.set(alice, { spendUsd: new NumberValue(spend) });
      await evaluator().evaluate(table.image(alice));
    }

    expect(audit.append.mock.calls.map(([, options]) => options.once)).toEqual([
      'threshold|user/alice|2026-11|g1|80',
      'threshold|user/alice|2026-11|g1|90',
      'threshold|user/alice|2026-11|g1|95',
      'suspend|user/alice|2026-11|g1',
    ]);
    expect(published().map((p) => p.Subject)).toEqual([
      expect.stringMatching(/80% reached/),
      expect.stringMatching(/90% reached/),
      expect.stringMatching(/95% reached/),
      expect.anything(),
    ]);
    const name = executionName('suspend', 'suspend|user/alice|2026-11|g1', '2026-11-g1-user/alice');
    expect(started()[0]?.name).toBe(name);
    expect(name).not.toBe(executionName('suspend', 'suspend|user/alice|2026-11|g0', '2026-11-g0-user/alice'));
    expect(startInput()).toMatchObject({ generation: 1, decisionId: 'suspend|user/alice|2026-11|g1' });
    expect(pendingEffects(table.image(alice))).toEqual([]);
  });

  /** A suspension as the suspend function records it, its workflow waiting. */
  const suspension = {
    holder: 'suspend:s-1',
    executionArn: 'arn:exec:s-1',
    since: '2026-11-19T00:00:00Z',
    reason: 'budget',
    generation: 0,
    decisionId: 'suspend|user/alice|2026-11|g0',
    waitId: 'wait-1',
  };

  it('lifts a suspension through its pending decision when the new limit is above the spend', async () => {
    const item = counter('user/alice', '60', {
      state: 'suspended',
      suspension,
      generationLimitUsd: new NumberValue('50'),
      alertLevel: new NumberValue('95'),
    });
    ddb.on(UpdateCommand).resolves({ Attributes: { ...item, generation: new NumberValue('1') } });
    waits.decide.mockResolvedValue({});

    await evaluator().evaluate(item);

    expect(waits.decide).toHaveBeenCalledTimes(1);
    expect(waits.decide).toHaveBeenCalledWith('wait-1', {
      decision: 'lift',
      reason: 'limit-raised',
      actor: 'system:evaluate',
    });
  });

  it('keeps a suspension the new limit still justifies', async () => {
    const item = counter('user/alice', '120', {
      state: 'suspended',
      suspension,
      generationLimitUsd: new NumberValue('50'),
    });
    ddb.on(UpdateCommand).resolves({ Attributes: { ...item, generation: new NumberValue('1') } });

    await evaluator().evaluate(item);

    expect(waits.decide).not.toHaveBeenCalled();
  });
});

describe('circuit breaker', () => {
  const stop = {
    holder: 'stop:emergency-stop-abc',
    decisionId: 'stop|ACCOUNT|2026-11|g0',
    executionArn: 'arn:aws:states:us-east-1:111122223333:execution:stop:emergency-stop-abc',
    since: '2026-11-20T10:00:00Z',
    reason: 'account budget exhausted',
    generation: 0,
  };

  beforeEach(() => {
    ddb
      .on(GetCommand, { Key: { principal: 'ACCOUNT', period: '2026-11' } })
      .resolves({ Item: counter('ACCOUNT', '1000', { state: 'stopped', suspension: stop }) });
  });

  it('denies a principal seen spending while the account is stopped: claims stopDenied and invokes the suspend function', async () => {
    await evaluator().evaluate(counter('user/bob', '10'));

    expect(claims()).toEqual([
      expect.objectContaining({
        Key: { principal: 'user/bob', period: '2026-11' },
        ConditionExpression: 'attribute_not_exists(#denied) OR #denied <> :holder',
        ExpressionAttributeNames: expect.objectContaining({
          '#denied': 'stopDenied',
          '#outbox': `outbox:${stop.holder}|user/bob`,
        }),
        ExpressionAttributeValues: expect.objectContaining({ ':holder': stop.holder }),
      }),
    ]);
    expect(functions).toHaveReceivedCommandTimes(InvokeCommand, 1);
    expect(functions).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: 'budgeteer-suspend' });
    expect(payloadOf(functions.commandCalls(InvokeCommand)[0]?.args[0].input)).toEqual({
      action: 'apply',
      executionArn: stop.executionArn,
      input: {
        principal: 'user/bob',
        principalArn: 'arn:aws:iam::111122223333:user/bob',
        period: '2026-11',
        decisionId: stop.decisionId,
        holder: stop.holder,
        reason: 'emergency-stop',
        stopOf: 'ACCOUNT',
      },
    });
  });

  /** The account active and group ds stopped in 2026-11: its stop's record. */
  const stopGroupDs = () => {
    const groupStop = { ...stop, holder: 'stop:emergency-stop-grp', decisionId: 'stop|GROUP#ds|2026-11|g0' };
    ddb
      .on(GetCommand, { Key: { principal: 'ACCOUNT', period: '2026-11' } })
      .resolves({ Item: counter('ACCOUNT', '10') })
      .on(GetCommand, { Key: { principal: 'GROUP#ds', period: '2026-11' } })
      .resolves({ Item: counter('GROUP#ds', '600', { state: 'stopped', suspension: groupStop }) });
    return groupStop;
  };

  it("denies a member seen spending while its group is stopped, once per stop, under the group's stop", async () => {
    const groupStop = stopGroupDs();

    await evaluator().evaluate(counter('user/bob', '10', { groups: new Set(['ds']) }));

    expect(claims()).toEqual([
      expect.objectContaining({
        ExpressionAttributeNames: expect.objectContaining({ '#denied': 'groupStop:ds' }),
        ExpressionAttributeValues: expect.objectContaining({ ':holder': groupStop.holder }),
      }),
    ]);
    expect(payloadOf(functions.commandCalls(InvokeCommand)[0]?.args[0].input)).toMatchObject({
      input: { principal: 'user/bob', holder: groupStop.holder, reason: 'group:ds', stopOf: 'GROUP#ds' },
    });

    ddb.resetHistory();
    functions.resetHistory();
    await evaluator().evaluate(
      counter('user/bob', '11', { groups: new Set(['ds']), 'groupStop:ds': groupStop.holder }),
    );
    expect(claims()).toEqual([]);
    expect(functions).not.toHaveReceivedCommand(InvokeCommand);
  });

  it('does not deny a principal counted in a group earlier this period but taken out of it since', async () => {
    stopGroupDs();

    // Carol's counter says she was counted in ds; ds's members are user/bob alone now.
    await evaluator().evaluate(counter('user/carol', '10', { groups: new Set(['ds']) }));

    expect(claims()).toEqual([]);
    expect(functions).not.toHaveReceivedCommand(InvokeCommand);
  });

  it("denies a member of a weekly group's stop from its weekly counter, though the member is budgeted monthly", async () => {
    const groupStop = { ...stop, holder: 'stop:emergency-stop-wk', decisionId: 'stop|GROUP#wk|2026-W47|g0' };
    ddb
      .on(GetCommand, { Key: { principal: 'GROUP#wk', period: '2026-W47' } })
      .resolves({ Item: counter('GROUP#wk', '90', { period: '2026-W47', state: 'stopped', suspension: groupStop }) });

    await evaluator().evaluate(counter('user/bob', '10', { period: '2026-W47', groups: new Set(['wk']) }));

    expect(payloadOf(functions.commandCalls(InvokeCommand)[0]?.args[0].input)).toMatchObject({
      input: { principal: 'user/bob', period: '2026-W47', holder: groupStop.holder, stopOf: 'GROUP#wk' },
    });
    // Judged on its own monthly kind only: no alert or suspension of its own from a weekly counter.
    expect(started()).toEqual([]);
  });

  it('does not deny again a principal the same stop already denied', async () => {
    await evaluator().evaluate(counter('user/bob', '10', { stopDenied: stop.holder }));

    expect(claims()).toEqual([]);
    expect(functions).not.toHaveReceivedCommand(InvokeCommand);
  });
});

describe('needsEvaluation', () => {
  const before = counter('user/alice', '50');
  const owed = { decisionId: 'threshold|x', audit: { actor: 'system:evaluate', action: 'a', subject: 's' } };

  it('skips own writes: same spend and no new outbox entry', () => {
    expect(needsEvaluation(before, { ...before, alertLevel: new NumberValue('80') })).toBe(false);
    expect(needsEvaluation({ ...before, 'outbox:threshold|x': owed }, before)).toBe(false);
    expect(needsEvaluation({ ...before, 'outbox:threshold|x': owed }, { ...before, 'outbox:threshold|x': owed })).toBe(
      false,
    );
  });

  it('evaluates a spend change or a new outbox entry', () => {
    expect(needsEvaluation(before, counter('user/alice', '50.01'))).toBe(true);
    expect(needsEvaluation(before, { ...before, 'outbox:threshold|x': owed })).toBe(true);
    expect(needsEvaluation(undefined, before)).toBe(true);
  });

  it('always evaluates limit records', () => {
    const limit = { principal: 'user/alice', period: 'LIMIT', limitUsd: new NumberValue('100') };
    expect(needsEvaluation(limit, limit)).toBe(true);
  });

  it('evaluates a change of the confirmed spend alone only where confirmed spend decides', () => {
    const confirmed = { ...before, confirmedSpendUsd: new NumberValue('50') };

    expect(needsEvaluation(before, confirmed)).toBe(false);
    expect(needsEvaluation(before, confirmed, true)).toBe(true);
    expect(needsEvaluation(confirmed, confirmed, true)).toBe(false);
  });
});

describe('with requireCloudTrailConfirmation', () => {
  const required = { requireConfirmation: true, confirmationWaitMinutes: 15 };
  const waitId = 'awaiting-confirmation|user/alice|2026-11|g0';

  it('starts no suspension on spend past the limit that is only logged: it claims the wait, alerts and audits it', async () => {
    await evaluator(required).evaluate(
      counter('user/alice', '120', { alertLevel: new NumberValue('95'), confirmedSpendUsd: new NumberValue('10') }),
    );

    expect(started()).toEqual([]);
    expect(claims()).toEqual([
      expect.objectContaining({
        UpdateExpression:
          'SET #outbox = :effects, #since = if_not_exists(#since, :now), #awaiting = :g, #awaitingSince = :at',
        ConditionExpression:
          '(attribute_not_exists(#awaiting) OR #awaiting < :g) AND (attribute_not_exists(#g) OR #g = :g) AND attribute_not_exists(#lifted)',
        ExpressionAttributeNames: expect.objectContaining({
          '#outbox': `outbox:${waitId}`,
          '#awaiting': 'awaitingConfirmationGeneration',
          '#awaitingSince': 'awaitingConfirmationSince',
          '#since': 'outboxSince',
        }),
      }),
    ]);
    expect(published()).toEqual([
      expect.objectContaining({
        TopicArn: targets.criticalTopicArn,
        Subject: 'Bedrock budget reached on logged spend, awaiting CloudTrail: user/alice (2026-11)',
        Message: expect.stringContaining('($10.00 confirmed by CloudTrail, $110.00 only logged)'),
      }),
    ]);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({
        action: 'suspension.awaiting-confirmation',
        details: { spendUsd: '120', confirmedSpendUsd: '10', limitUsd: '100', generation: 0, waitMinutes: 15 },
      }),
      { once: waitId },
    );
  });

  it('suspends once the confirmed spend reaches the limit, and says how much is confirmed', async () => {
    await evaluator(required).evaluate(
      counter('user/alice', '120', { alertLevel: new NumberValue('95'), confirmedSpendUsd: new NumberValue('100') }),
    );

    expect(started()).toEqual([expect.objectContaining({ stateMachineArn: config.suspendStateMachineArn })]);
    expect(published()[0]?.Message).toContain('($100.00 confirmed by CloudTrail, $20.00 only logged)');
  });

  it('holds the emergency stop too until the account spend past its limit is confirmed', async () => {
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        Budgets: [
          { principal: 'ACCOUNT', period: '2026-11', alertLevel: new NumberValue('95') },
          {
            principal: 'ACCOUNT#3',
            period: '2026-11',
            spendUsd: new NumberValue('150'),
            confirmedSpendUsd: new NumberValue('40'),
          },
        ],
      },
    });

    await evaluator(required).evaluate({ principal: 'ACCOUNT#3', period: '2026-11', spendUsd: new NumberValue('150') });

    expect(started()).toEqual([]);
    expect(claims()[0]?.ExpressionAttributeNames).toMatchObject({
      '#outbox': 'outbox:awaiting-confirmation|ACCOUNT|2026-11|g0',
    });
  });

  it('without the setting, suspends on logged spend as before, and the alert tells confirmed from logged', async () => {
    await evaluator().evaluate(
      counter('user/alice', '120', { alertLevel: new NumberValue('95'), confirmedSpendUsd: new NumberValue('10') }),
    );

    expect(started()).toHaveLength(1);
    expect(published()[0]?.Message).toContain('($10.00 confirmed by CloudTrail, $110.00 only logged)');
  });
});

/**
 * Issue 13, "Done when": a failure after each step of each decision, then the stream redelivers. The table is a
 * small stateful fake so that a redelivery sees what the failed attempt left, read back as DynamoDB would return it.
 */
type Step = 'claim' | 'publish' | 'audit' | 'start' | 'invoke' | 'clear';
type Key = { principal: string; period: string };

class Table {
  private readonly items = new Map<string, Record<string, unknown>>();
  private readonly claimed = new Set<string>();
  crashAfter: Step | undefined;
  claimImage: BudgetItem | undefined;

  constructor() {
    ddb.on(GetCommand).callsFake(async (input: GetCommandInput) => ({ Item: this.read(input.Key as Key) }));
    ddb.on(BatchGetCommand).callsFake(async (input: BatchGetCommandInput) => ({
      Responses: { Budgets: (input.RequestItems?.Budgets?.Keys ?? []).flatMap((key) => this.read(key as Key) ?? []) },
    }));
    ddb.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => this.update(input));
  }

  crash(step: Step): void {
    if (this.crashAfter !== step) return;
    this.crashAfter = undefined;
    throw new Error(`crash after ${step}`);
  }

  put(item: Record<string, unknown>): void {
    this.items.set(this.id(item as Key), stored(item));
  }

  set(key: Key, values: Record<string, unknown>): void {
    this.put({ ...this.read(key), ...values });
  }

  /** The item as a stream record (or a consistent read) shows it now. */
  image(key: Key): BudgetItem {
    return this.read(key) as BudgetItem;
  }

  private read(key: Key): Record<string, unknown> | undefined {
    const item = this.items.get(this.id(key));
    return item && stored(item);
  }

  private id(key: Key) {
    return `${key.principal}|${key.period}`;
  }

  private update(input: UpdateCommandInput) {
    const key = input.Key as Key;
    const names = input.ExpressionAttributeNames ?? {};
    const values = input.ExpressionAttributeValues ?? {};
    const expression = input.UpdateExpression ?? '';
    const item = { ...this.read(key) } as Record<string, unknown>;
    const name = (token: string) => (token.startsWith('#') ? (names[token] ?? token) : token);
    if (expression.startsWith('REMOVE')) {
      for (const token of expression.slice('REMOVE'.length).split(',')) delete item[name(token.trim())];
      this.put(item);
      if (expression === 'REMOVE #outbox') this.crash('clear');
      return {};
    }
    const outbox = names['#outbox'];
    if (outbox) {
      // The decision's own condition, as DynamoDB would judge it: a decision is claimed once.
      if (this.claimed.has(outbox)) throw conditionFailed();
      this.claimed.add(outbox);
    }
    for (const clause of expression.replace(/^SET /, '').split(/,\s*(?![^()]*\))/)) {
      const [left = '', right = ''] = clause.split(' = ').map((s) => s.trim());
      const ifAbsent = /^if_not_exists\((#?\w+), (:\w+)\)$/.exec(right);
      if (/^:\w+$/.test(right)) item[name(left)] = values[right];
      else if (ifAbsent?.[2] && item[name(ifAbsent[1] ?? '')] === undefined) item[name(left)] = values[ifAbsent[2]];
    }
    this.put(item);
    if (outbox) {
      this.claimImage = this.image(key);
      this.crash('claim');
    }
    return { Attributes: this.read(key) };
  }
}

/** A value as it comes back from DynamoDB through the document client (wrapNumbers). */
function stored<T extends Record<string, unknown>>(item: T): T {
  return unmarshall(marshall(item, { removeUndefinedValues: true }), { wrapNumbers: true }) as T;
}

describe('issue 13: a failure after each step of each decision, then the stream redelivers', () => {
  const stop = {
    holder: 'stop:emergency-stop-abc',
    decisionId: 'stop|ACCOUNT|2026-11|g0',
    executionArn: 'arn:aws:states:us-east-1:111122223333:execution:stop:emergency-stop-abc',
  };
  type Owed = 'publish' | 'audit' | 'start' | 'invoke';
  const decisions: { name: string; decisionId: string; items: Record<string, unknown>[]; owes: Owed[] }[] = [
    {
      name: 'threshold alert',
      decisionId: 'threshold|user/alice|2026-11|g0|80',
      items: [counter('user/alice', '81')],
      owes: ['publish', 'audit'],
    },
    {
      name: 'suspension',
      decisionId: 'suspend|user/alice|2026-11|g0',
      items: [counter('user/alice', '100', { alertLevel: new NumberValue('95') })],
      owes: ['publish', 'audit', 'start'],
    },
    {
      name: 'suspension in a later generation',
      decisionId: 'suspend|user/alice|2026-11|g2',
      items: [
        counter('user/alice', '100', {
          alertLevel: new NumberValue('95'),
          generation: new NumberValue('2'),
          exhaustedGeneration: new NumberValue('1'),
          generationLimitUsd: new NumberValue('100'),
        }),
      ],
      owes: ['publish', 'audit', 'start'],
    },
    {
      name: 'emergency stop',
      decisionId: 'stop|ACCOUNT|2026-11|g0',
      // The decisions on the ACCOUNT item, the spend in its shards.
      items: [
        { principal: 'ACCOUNT', period: '2026-11', alertLevel: new NumberValue('95') },
        counter('ACCOUNT#5', '70'),
        counter('ACCOUNT#9', '30'),
      ],
      owes: ['publish', 'audit', 'start'],
    },
    {
      name: 'suspension skipped for break glass',
      decisionId: 'suspend|user/breakglass|2026-11|g0',
      items: [counter('user/breakglass', '100', { alertLevel: new NumberValue('95') })],
      owes: ['publish', 'audit'],
    },
    {
      name: 'circuit breaker deny',
      decisionId: `${stop.holder}|user/bob`,
      items: [counter('user/bob', '10'), counter('ACCOUNT', '1000', { state: 'stopped', suspension: stop })],
      owes: ['invoke'],
    },
    {
      name: 'unknown model',
      decisionId: 'unknown-model|acme.mystery-v1',
      items: [{ principal: 'MODEL#acme.mystery-v1', period: 'UNKNOWN', requests: new NumberValue('3') }],
      owes: ['publish', 'audit'],
    },
  ];
  const cases = decisions.flatMap((d) =>
    (['claim', ...d.owes, 'clear'] as Step[]).map((step) => [d.name, step, d] as const),
  );

  it.each(cases)('%s, failing after %s: every effect delivered, with the same decision id', async (_name, step, d) => {
    const table = new Table();
    for (const item of d.items) table.put(item);
    const record = stored(d.items[0] as BudgetItem);
    const key = { principal: record.principal, period: record.period };
    const appended: string[] = [];
    const messages: PublishCommandInput[] = [];
    const starts: StartExecutionCommandInput[] = [];
    const invokes: unknown[] = [];
    const names = new Set<string>();
    audit.append.mockImplementation(async (_entry: unknown, options: { once: string }) => {
      appended.push(options.once);
      table.crash('audit');
    });
    topics.on(PublishCommand).callsFake(async (input: PublishCommandInput) => {
      messages.push(input);
      table.crash('publish');
      return { MessageId: `m-${messages.length}` };
    });
    workflows.on(StartExecutionCommand).callsFake(async (input: StartExecutionCommandInput) => {
      starts.push(input);
      if (names.has(String(input.name))) throw new ExecutionAlreadyExists({ message: 'exists', $metadata: {} });
      names.add(String(input.name));
      table.crash('start');
      return { executionArn: 'arn:exec' };
    });
    functions.on(InvokeCommand).callsFake(async (input: InvokeCommandInput) => {
      invokes.push(payloadOf(input));
      table.crash('invoke');
      return { StatusCode: 200 };
    });
    table.crashAfter = step;

    await expect(evaluator().evaluate(record)).rejects.toThrow(`crash after ${step}`);
    // The stream retries the failed record, then delivers the claim's own record (with its outbox entry).
    await evaluator().evaluate(record);
    const claimImage = table.claimImage as BudgetItem;
    expect(claimImage[`outbox:${d.decisionId}`]).toBeDefined();
    await evaluator().evaluate(claimImage);

    // Nothing zero times: every effect the decision owes happened at least once.
    const delivered = { publish: messages, audit: appended, start: starts, invoke: invokes };
    expect(
      Object.entries(delivered)
        .filter(([, list]) => list.length > 0)
        .map(([kind]) => kind)
        .sort(),
    ).toEqual([...d.owes].sort());
    // The audit log keeps one entry per once-key: every attempt used the decision's.
    for (const once of appended) expect(once).toBe(d.decisionId);
    for (const message of messages) {
      expect(message.MessageAttributes?.decisionId?.StringValue).toBe(d.decisionId);
      expect(message).toEqual(messages[0]);
    }
    // Every start of the workflow under one name, with the input it was claimed with.
    expect(names.size).toBe(d.owes.includes('start') ? 1 : 0);
    for (const attempt of starts) expect(attempt).toEqual(starts[0]);
    if (starts[0]) expect(JSON.parse(String(starts[0].input))).toMatchObject({ decisionId: d.decisionId });
    for (const invoke of invokes) expect(invoke).toEqual(invokes[0]);
    // Nothing is left owed.
    const after = table.image(key);
    expect(pendingEffects(after)).toEqual([]);
  });

  it('starts a workflow redelivered after a crash with the input of the first attempt', async () => {
    const table = new Table();
    table.put(counter('user/alice', '100', { alertLevel: new NumberValue('95'), generation: new NumberValue('1') }));
    table.set({ principal: 'user/alice', period: '2026-11' }, { generationLimitUsd: new NumberValue('100') });
    let inputs: unknown[] = [];
    audit.append.mockResolvedValue(undefined);
    topics.on(PublishCommand).resolves({});
    workflows.on(StartExecutionCommand).callsFake(async (input: StartExecutionCommandInput) => {
      inputs = [...inputs, JSON.parse(String(input.input))];
      return {};
    });
    table.crashAfter = 'claim';
    const record = table.image({ principal: 'user/alice', period: '2026-11' });

    await expect(evaluator().evaluate(record)).rejects.toThrow();
    await evaluator().evaluate(table.claimImage as BudgetItem);

    expect(inputs).toEqual([
      expect.objectContaining({ generation: 1, graceSeconds: 0, decisionId: expect.any(String) }),
    ]);
  });
});

describe('a zero limit (a principal that may not spend)', () => {
  it('suspends at the first charged call with one critical notice saying so, and alerts no threshold', async () => {
    limits['user/zed'] = '0';

    await evaluator().evaluate(counter('user/zed', '0.000015'));

    expect(claims().map((claim) => claim.ExpressionAttributeNames?.['#outbox'])).toEqual([
      'outbox:suspend|user/zed|2026-11|g0',
    ]);
    expect(started()).toHaveLength(1);
    expect(audit.append.mock.calls.map(([entry]) => entry.action)).toEqual(['suspension.requested']);
    const [notice] = published();
    expect(notice?.TopicArn).toBe(targets.criticalTopicArn);
    expect(notice?.Subject).toBe('Bedrock use by a principal that may not spend: user/zed (2026-11)');
    expect(notice?.Message).toContain('user/zed may not spend on Bedrock (its limit for 2026-11 is $0.00)');
    expect(notice?.Message).not.toMatch(/9007199254740991|%/);
  });

  it('does nothing before a charge: a call that cost nothing is no spend', async () => {
    limits['user/zed'] = '0';

    await evaluator().evaluate(counter('user/zed', '0'));

    expect(claims()).toEqual([]);
    expect(published()).toEqual([]);
  });
});

describe('limits read once per batch', () => {
  it('shares one memo of limit items across a batch (DEFAULT read once), a new one per batch, and drops it on a DEFAULT change', async () => {
    budgets.budgetOf.mockClear();
    const judge = evaluator();
    judge.startBatch();
    await judge.evaluate(counter('user/ann', '1'));
    await judge.evaluate(counter('user/bob', '1'));
    const [first, second] = budgets.budgetOf.mock.calls.map((call) => (call as unknown[])[1]);
    expect(first).toBeInstanceOf(Map);
    expect(second).toBe(first);

    (first as Map<string, unknown>).set('DEFAULT', Promise.resolve(undefined));
    await judge.evaluate({ principal: 'DEFAULT', period: 'LIMIT', limitUsd: new NumberValue('4') });
    expect((first as Map<string, unknown>).has('DEFAULT')).toBe(false);
    // The budgets read before the change are read again: ann is judged against the new default.
    budgets.budgetOf.mockClear();
    await judge.evaluate(counter('user/ann', '1'));
    expect(budgets.budgetOf).toHaveBeenCalledWith('user/ann', first);

    judge.startBatch();
    expect((first as Map<string, unknown>).size).toBe(0);
  });
});

describe('threshold alerts of an organization', () => {
  it("names an account's budget by the account, not as the group that holds it", () => {
    const alert = {
      alertId: 'a-1',
      principal: 'GROUP#account-222222222222',
      period: '2026-11',
      threshold: 80,
      skipped: [],
      percent: new Big('82.5'),
      spend: usd('1.65'),
      confirmed: usd('1.65'),
      limit: usd('2'),
      topModels: [],
    };

    expect(thresholdAlertMessage(alert).subject).toBe('Bedrock budget 80% reached: account 222222222222 (2026-11)');
    expect(thresholdAlertMessage({ ...alert, principal: 'GROUP#data-science' }).subject).toBe(
      'Bedrock budget 80% reached: group data-science (2026-11)',
    );
  });
});
