import type { NumberValue } from '@aws-sdk/lib-dynamodb';
import Big from 'big.js';
import { BudgetStore } from '../../shared/budgets';
import { usd } from '../../shared/money';
import { cloudTrailEvent, fixture, fixtureCases, invocationLog } from '../fixtures';
import { deliverLogs, documents, item, output, putEvents, rejectedRecords, settle, unique } from './support';

const ACCOUNT = '111122223333';
const userArn = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
/** DynamoDB numbers compare as numbers: moto keeps trailing zeros of a sum ("0.01500"), AWS does not. */
const value = (n: unknown) => {
  const raw = (n as NumberValue | undefined)?.value;
  return raw === undefined ? undefined : new Big(raw).toFixed();
};
/** The account's spend as every reader sees it: its shards added up. */
const accountSpend = async (period: string) =>
  (
    await new BudgetStore(documents, output('BudgetsTableName'), {
      configuredDefault: usd('0'),
      configuredAccount: usd('0'),
    }).accountTotal(period)
  ).spendUsd.toFixed();

/** Each test charges in a period of its own (a month in a far year), so the ACCOUNT counter is its own too. */
let year = 2100 + Math.floor(Math.random() * 5000);
const freshPeriod = () => {
  year++;
  return { period: `${year}-03`, timestamp: `${year}-03-15T10:00:00Z` };
};

describe('ingestion on the local stack', () => {
  it('charges invocation log records to their principals and the account, exactly', async () => {
    const { period, timestamp } = freshPeriod();
    const alice = `alice-${unique()}`;
    const id = unique();
    // Claude 3 Haiku: 1000 x 0.25 + 100 x 1.25 per million = 0.000375; Sonnet 4 with cache: 0.02445
    await deliverLogs([
      invocationLog(`${id}-1`, userArn(alice), { timestamp }),
      invocationLog(`${id}-2`, userArn(alice), {
        timestamp,
        modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
        input: { inputTokenCount: 350, cacheReadInputTokenCount: 8000, cacheWriteInputTokenCount: 2000 },
        output: { outputTokenCount: 900 },
      }),
    ]);

    const counter = await item('BudgetsTableName', { principal: `user/${alice}`, period });
    expect(value(counter?.spendUsd)).toBe('0.024825');
    expect(value(counter?.requests)).toBe('2');
    expect(await accountSpend(period)).toBe('0.024825');
    const row = await item('UsageTableName', { requestId: `${id}-2` });
    expect(row).toMatchObject({
      principal: `user/${alice}`,
      model: 'anthropic.claude-sonnet-4-20250514-v1:0',
      chargedBy: 'invocation-log',
      period,
    });
    expect(value(row?.costUsd)).toBe('0.02445');
  });

  it('merges a CloudTrail event (through EventBridge and SQS) with the later invocation log of the same request', async () => {
    const { period, timestamp } = freshPeriod();
    const bob = `bob-${unique()}`;
    const requestId = `${unique()}-merge`;
    const event = cloudTrailEvent(requestId, userArn(bob)) as { detail: Record<string, unknown> };
    event.detail.eventTime = timestamp;

    await putEvents([event]);
    await settle();
    const sighted = await item('UsageTableName', { requestId });
    expect(sighted).toMatchObject({ principal: `user/${bob}`, unmeteredSince: new Date(timestamp).toISOString() });
    expect(sighted?.costUsd).toBeUndefined();
    expect(await item('BudgetsTableName', { principal: `user/${bob}`, period })).toBeUndefined();

    await deliverLogs([invocationLog(requestId, userArn(bob), { timestamp })]);
    const charged = await item('UsageTableName', { requestId });
    expect(charged?.unmeteredSince).toBeUndefined();
    expect(value(charged?.costUsd)).toBe('0.000375');
    expect(value((await item('BudgetsTableName', { principal: `user/${bob}`, period }))?.spendUsd)).toBe('0.000375');
  });

  it('counts a request once however often and by whichever route it arrives', async () => {
    const { period, timestamp } = freshPeriod();
    const carol = `carol-${unique()}`;
    const requestId = `${unique()}-dup`;
    const log = invocationLog(requestId, userArn(carol), { timestamp });

    await deliverLogs([log, log]);
    await deliverLogs([log]);
    await putEvents([cloudTrailEvent(requestId, userArn(carol)), cloudTrailEvent(requestId, userArn(carol))]);
    await settle();

    const counter = await item('BudgetsTableName', { principal: `user/${carol}`, period });
    expect(value(counter?.spendUsd)).toBe('0.000375');
    expect(value(counter?.requests)).toBe('1');
    expect(value((await item('UsageTableName', { requestId }))?.costUsd)).toBe('0.000375');
  });

  it('keeps a malformed record with its reason and still counts the good records beside it', async () => {
    const { period, timestamp } = freshPeriod();
    const dave = `dave-${unique()}`;
    const tag = unique();

    await deliverLogs([
      invocationLog(`${tag}-ok-1`, userArn(dave), { timestamp }),
      { schemaType: 'ModelInvocationLog', requestId: `${tag}-broken`, identity: {} },
      `not json ${tag}`,
      invocationLog(`${tag}-ok-2`, userArn(dave), { timestamp }),
    ]);

    expect(value((await item('BudgetsTableName', { principal: `user/${dave}`, period }))?.spendUsd)).toBe('0.00075');
    const rejected = await rejectedRecords((entry) => entry.body.includes(tag));
    expect(rejected.map((r) => r.error).sort()).toEqual([
      expect.stringMatching(/^invalid invocation log record: timestamp/),
      'log event message is not JSON',
    ]);
    expect(await item('UsageTableName', { requestId: `${tag}-broken` })).toBeUndefined();
  });

  it('adds up 20 concurrent deliveries for one principal without losing or doubling any', async () => {
    const { period, timestamp } = freshPeriod();
    const erin = `erin-${unique()}`;
    const tag = unique();

    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        deliverLogs([
          invocationLog(`${tag}-${i}-a`, userArn(erin), { timestamp }),
          invocationLog(`${tag}-${i}-b`, userArn(erin), { timestamp }),
        ]),
      ),
    );

    const counter = await item('BudgetsTableName', { principal: `user/${erin}`, period });
    expect(value(counter?.requests)).toBe('40');
    expect(value(counter?.spendUsd)).toBe('0.015'); // 40 x 0.000375
    expect(await accountSpend(period)).toBe('0.015');
  });

  it('charges every invocation log fixture exactly what is written beside it, streams and 1-hour writes included', async () => {
    const { timestamp } = freshPeriod();
    const tag = unique();
    const cases = fixtureCases('invocation-log-').filter((c) => c.expected.costUsd !== undefined);

    await deliverLogs(cases.map((c) => ({ ...c.record, requestId: `${tag}-${c.name}`, timestamp })));

    const charged = await Promise.all(
      cases.map(async (c) => {
        const row = await item('UsageTableName', { requestId: `${tag}-${c.name}` });
        return [c.name, row?.model, value(row?.costUsd)];
      }),
    );
    expect(charged).toEqual(cases.map((c) => [c.name, c.expected.model, c.expected.costUsd]));
    expect(await rejectedRecords((entry) => entry.body.includes(tag))).toEqual([]);
  });

  it('ends the wait of a CloudTrail sighting with a $0 charge when its invocation log has no token counts', async () => {
    const { period, timestamp } = freshPeriod();
    const frank = `frank-${unique()}`;
    const requestId = `${unique()}-guardrail`;
    const event = cloudTrailEvent(requestId, userArn(frank)) as { detail: Record<string, unknown> };
    event.detail.eventTime = timestamp;
    await putEvents([event]);
    await settle();

    await deliverLogs([
      {
        ...fixture<Record<string, unknown>>('invocation-log-guardrail-intervened'),
        requestId,
        timestamp,
        identity: { arn: userArn(frank) },
      },
    ]);

    const row = await item('UsageTableName', { requestId });
    expect(value(row?.costUsd)).toBe('0');
    expect(row?.unmeteredSince).toBeUndefined();
    expect(value((await item('BudgetsTableName', { principal: `user/${frank}`, period }))?.spendUsd)).toBe('0');
  });

  it('routes a bedrock-mantle inference from EventBridge to a sighting the coverage sweep will charge', async () => {
    const { timestamp } = freshPeriod();
    const requestId = `${unique()}-mantle`;
    const event = fixture<{ detail: Record<string, unknown> }>('eventbridge-cloudtrail-mantle-createinference');

    await putEvents([{ ...event, detail: { ...event.detail, requestID: requestId, eventTime: timestamp } }]);
    await settle();

    expect(await item('UsageTableName', { requestId })).toMatchObject({
      operation: 'CreateInference',
      modelId: 'openai.gpt-oss-120b',
      unmeteredSince: new Date(timestamp).toISOString(),
    });
  });
});
