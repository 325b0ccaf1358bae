import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, NumberValue, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { usd } from '../../shared/money';
import { reconcileDay } from '../../shared/reconcile/day';

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const ddb = mockClient(documents);
const DAY = '2026-11-30';
const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const OPUS = 'anthropic.claude-opus-4-20250514-v1:0';
const rules = { perSessionRoles: ['AWSReservedSSO_*'] };

beforeEach(() => ddb.reset());

describe('the day metered from daily counters', () => {
  it("reads each principal's counter of the day through the period index, per model, and never scans Usage", async () => {
    ddb.on(QueryCommand).resolves({
      Items: [
        { principal: 'user/alice', period: DAY },
        { principal: 'ACCOUNT#3', period: DAY },
        { principal: 'GROUP#ds', period: DAY },
        { principal: 'DIGEST', period: DAY },
        { principal: 'role/app', period: DAY },
      ],
    });
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        Budgets: [
          {
            principal: 'user/alice',
            period: DAY,
            spendUsd: new NumberValue('1.000015'),
            [`modelSpend:${HAIKU}`]: new NumberValue('0.000015'),
            [`modelSpend:${OPUS}`]: new NumberValue('1'),
          },
          {
            principal: 'role/app',
            period: DAY,
            spendUsd: new NumberValue('2'),
            [`modelSpend:${OPUS}`]: new NumberValue('2'),
          },
        ],
      },
    });
    const bill = [{ arn: 'arn:aws:iam::111122223333:user/alice', model: null, billedAs: null, usd: usd('1.000015') }];

    const result = await reconcileDay(
      documents,
      { usageTable: 'Usage', dailyCounters: { budgetsTable: 'Budgets' } },
      DAY,
      bill,
      rules,
    );

    expect(ddb).not.toHaveReceivedCommand(ScanCommand);
    // Only the principals' counters are read: not the account's shard, a group's counter or the digest's claim.
    expect(ddb.commandCalls(BatchGetCommand)[0]?.args[0].input.RequestItems?.Budgets?.Keys).toEqual([
      { principal: 'user/alice', period: DAY },
      { principal: 'role/app', period: DAY },
    ]);
    const metered = Object.fromEntries(result.principals.map((p) => [p.principal, p.meteredUsd]));
    expect(metered).toEqual({ 'user/alice': '1.000015', 'role/app': '2' });
    expect(result.principals.find((p) => p.principal === 'user/alice')?.differenceUsd).toBe('0');
  });
});
