import { DynamoDBDocumentClient, GetCommand, NumberValue, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { Decision } from '../../functions/evaluate/evaluate';
import { RateGuard } from '../../functions/evaluate/rate';
import type { BudgetStore, LimitItemMemo } from '../../shared/budgets';
import type { Outbox } from '../../shared/decisions/outbox';
import { usd } from '../../shared/money';
import { bucketKey } from '../../shared/rate/buckets';

const ddb = mockClient(DynamoDBDocumentClient);
const now = new Date('2026-11-20T10:07:00Z');
const PRINCIPAL = 'user/alice';

function guard(rule: { maxUsdPerHour: string; onRate: 'alert' | 'suspend'; onAnomaly?: 'alert' | 'suspend' }) {
  const decisions: Decision[] = [];
  const claimed: string[] = [];
  const budgets = {
    rateRuleOf: async () => ({ ...rule, maxUsdPerHour: usd(rule.maxUsdPerHour) }),
    budgetOf: async () => ({ limitUsd: usd('100') }),
  } as unknown as BudgetStore;
  const outbox = {
    claim: async (_key: unknown, _update: unknown, effects: { decisionId: string }) => {
      claimed.push(effects.decisionId);
      return true;
    },
    deliver: async () => undefined,
  } as unknown as Outbox;
  const rates = new RateGuard(
    {
      budgetsTable: 'Budgets',
      periodKind: 'monthly',
      suspendStateMachineArn: 'arn:aws:states:us-east-1:111122223333:stateMachine:Suspend',
      protection: { breakGlassArns: [], systemRolePatterns: [] },
    },
    {
      documents: ddb as unknown as DynamoDBDocumentClient,
      budgets,
      outbox,
      now: () => now,
      onDecision: (decision) => decisions.push(decision),
    },
    new Map() as unknown as LimitItemMemo,
  );
  return { rates, decisions, claimed };
}

beforeEach(() => {
  ddb.reset();
  ddb.on(GetCommand).resolves({
    Item: {
      principal: PRINCIPAL,
      period: '2026-11',
      spendUsd: NumberValue.from('9'),
      principalArn: 'arn:aws:iam::111122223333:user/alice',
    },
  });
  // $9 in the bucket of 10:05: over an $8 hour; nothing before, so also an anomaly ($5 floor, ten times nothing).
  ddb.on(QueryCommand).resolves({ Items: [{ period: bucketKey(now), spendUsd: NumberValue.from('9') }] });
});

describe('the burn-rate guard reports what it decides, as the evaluator does', () => {
  it('tells the evaluator of the suspension it claimed (its metrics count SuspensionsStarted), once', async () => {
    const { rates, decisions } = guard({ maxUsdPerHour: '8', onRate: 'suspend' });

    await rates.judge({ principal: PRINCIPAL, period: bucketKey(now) } as never);

    expect(decisions).toEqual([{ kind: 'suspension', principal: PRINCIPAL, claimedAt: now }]);
  });

  it('reports no suspension for a rule that only alerts', async () => {
    const { rates, decisions, claimed } = guard({ maxUsdPerHour: '8', onRate: 'alert' });

    await rates.judge({ principal: PRINCIPAL, period: bucketKey(now) } as never);

    expect(claimed.some((id) => id.startsWith('rate|'))).toBe(true);
    expect(decisions).toEqual([]);
  });
});
