import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  DynamoDBDocumentClient,
  NumberValue,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DefaultLimitReview, DefaultReviewError } from '../../shared/admin/default-review';
import type { AuditLog } from '../../shared/audit/log';
import { BudgetStore, PERIOD_INDEX } from '../../shared/budgets';
import { Outbox, pendingEffects } from '../../shared/decisions/outbox';
import { usd } from '../../shared/money';

const ddb = mockClient(DynamoDBDocumentClient);
const region = 'us-east-1';
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region }));
const now = new Date('2026-11-20T12:00:00Z');
const PAGE = 3;

type Item = Record<string, unknown> & { principal: string; period: string };

/**
 * A Budgets table in memory, as far as the review uses it: the period index (keys only, PAGE keys a page), a
 * consistent BatchGetItem, and the queueing write's condition. `failAfter` makes the n-th write fail (a crash).
 */
function table(items: Item[], failAfter = Number.POSITIVE_INFINITY) {
  const byKey = new Map(items.map((item) => [`${item.principal}|${item.period}`, item]));
  let writes = 0;
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    expect(input.IndexName).toBe(PERIOD_INDEX);
    const period = input.ExpressionAttributeValues?.[':period'];
    const keys = [...byKey.values()]
      .filter((item) => item.period === period)
      .map(({ principal }) => ({ principal, period }))
      .sort((a, b) => (a.principal < b.principal ? -1 : 1));
    const start = input.ExclusiveStartKey
      ? keys.findIndex((k) => k.principal === input.ExclusiveStartKey?.principal) + 1
      : 0;
    const page = keys.slice(start, start + PAGE);
    return { Items: page, ...(start + PAGE < keys.length ? { LastEvaluatedKey: page.at(-1) } : {}) };
  });
  ddb.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
    const keys = (input.RequestItems?.Budgets?.Keys ?? []) as { principal: string; period: string }[];
    expect(keys.length).toBeLessThanOrEqual(100);
    const found = keys.map((k) => byKey.get(`${k.principal}|${k.period}`)).filter((item) => item !== undefined);
    return { Responses: { Budgets: found } };
  });
  ddb.on(UpdateCommand).callsFake((input: UpdateCommandInput) => {
    writes++;
    if (writes > failAfter) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    const key = input.Key as { principal: string; period: string };
    const item = byKey.get(`${key.principal}|${key.period}`);
    const limit = (input.ExpressionAttributeValues?.[':limit'] as NumberValue | undefined)?.value;
    const reviewed = item?.reviewedDefaultUsd as NumberValue | undefined;
    if (!item || (reviewed && reviewed.value === limit)) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
    const outbox = input.ExpressionAttributeNames?.['#outbox'] as string;
    Object.assign(item, {
      reviewedDefaultUsd: NumberValue.from(limit as string),
      [outbox]: input.ExpressionAttributeValues?.[':effects'],
    });
    return { Attributes: item };
  });
  return { byKey, writes: () => writes };
}

const counter = (principal: string, spend: string, period = '2026-11'): Item => ({
  principal,
  period,
  spendUsd: NumberValue.from(spend),
});
const limitItem = (principal: string, limit: string): Item => ({
  principal,
  period: 'LIMIT',
  limitUsd: NumberValue.from(limit),
});

function review(concurrency = 2) {
  const store = new BudgetStore(documents, 'Budgets', { configuredDefault: usd('50'), configuredAccount: usd('1000') });
  const outbox = new Outbox(
    {
      table: 'Budgets',
      alertsTopicArn: 'arn:aws:sns:us-east-1:111122223333:alerts',
      criticalTopicArn: 'arn:aws:sns:us-east-1:111122223333:critical',
      suspendStateMachineArn: 'arn:aws:states:us-east-1:111122223333:stateMachine:suspend',
      emergencyStopStateMachineArn: 'arn:aws:states:us-east-1:111122223333:stateMachine:stop',
    },
    {
      documents,
      sns: new SNSClient({ region }),
      sfn: new SFNClient({ region }),
      audit: {} as AuditLog,
      now: () => now,
    },
  );
  return new DefaultLimitReview(store, outbox, 'monthly', concurrency);
}

const queuedPrincipals = (byKey: Map<string, Item>) =>
  [...byKey.values()]
    .filter((item) => pendingEffects(item).length > 0)
    .map((item) => item.principal)
    .sort();

beforeEach(() => ddb.reset());

describe('a change of the default judges every principal on it that spent this period again', () => {
  const items = () => [
    counter('user/ann', '3'),
    counter('user/bob', '12'),
    counter('user/cat', '0.5'),
    counter('user/dan', '7'),
    counter('user/eve', '9'),
    counter('user/own', '40'),
    limitItem('user/own', '100'),
    limitItem('DEFAULT', '4'),
    counter('ACCOUNT', '72'),
    { principal: 'ACCOUNT#3', period: '2026-11', spendUsd: NumberValue.from('1') },
    { principal: 'COVERAGE#user/ann', period: '2026-11-20' },
    counter('user/old', '60', '2026-10'),
    counter('user/wes', '2', '2026-W47'),
  ];

  it('queues the counter of the current period of each principal without a limit of its own, across pages, once', async () => {
    const { byKey } = table(items());

    const result = await review().review(usd('4'), now);

    expect(result).toEqual({ period: '2026-11', queued: 5, alreadyQueued: 0 });
    // Not the principal with its own limit, the account, its shards, markers, or another period's counters.
    expect(queuedPrincipals(byKey)).toEqual(['user/ann', 'user/bob', 'user/cat', 'user/dan', 'user/eve']);
    const ann = byKey.get('user/ann|2026-11') as Item;
    expect((ann.reviewedDefaultUsd as NumberValue).value).toBe('4');
    // The effect owed is the re-judgement itself: nothing to send, its stream record is what the evaluator judges.
    expect(pendingEffects(ann)).toEqual([{ decisionId: 'default-limit|user/ann|2026-11|4' }]);
    const [claim] = ddb.commandCalls(UpdateCommand);
    expect(claim?.args[0].input.ConditionExpression).toMatch(/attribute_exists\(#principal\)/);
    expect(claim?.args[0].input.UpdateExpression).toMatch(/#since = if_not_exists\(#since, :now\)/);
  });

  it('after a crash part-way, running it again queues only the rest; a third run queues nothing', async () => {
    // Pages of 3 keys, 2 writes at once: ann; bob and cat; then dan's write fails.
    const { byKey } = table(items(), 3);
    const first = review().review(usd('4'), now);
    await expect(first).rejects.toThrow(DefaultReviewError);
    await expect(first).rejects.toMatchObject({ done: 3 });
    expect(queuedPrincipals(byKey)).toEqual(['user/ann', 'user/bob', 'user/cat']);

    ddb.reset();
    const again = table([...byKey.values()]);
    expect(await review().review(usd('4'), now)).toEqual({ period: '2026-11', queued: 2, alreadyQueued: 3 });
    expect(queuedPrincipals(byKey)).toEqual(['user/ann', 'user/bob', 'user/cat', 'user/dan', 'user/eve']);
    expect(await review().review(usd('4'), now)).toEqual({ period: '2026-11', queued: 0, alreadyQueued: 5 });
    expect(again.writes()).toBe(10);
  });

  it('queues them again for another default, and never writes more than `concurrency` counters at once', async () => {
    table(items());
    await review().review(usd('4'), now);
    let inFlight = 0;
    let most = 0;
    const writes = ddb.commandCalls(UpdateCommand).length;
    ddb.on(UpdateCommand).callsFake(async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return { Attributes: {} };
    });
    expect(await review(2).review(usd('50'), now)).toMatchObject({ queued: 5 });
    expect(ddb.commandCalls(UpdateCommand).length - writes).toBe(5);
    expect(most).toBe(2);
  });
});
