import { Logger } from '@aws-lambda-powertools/logger';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { type BudgetItem, Evaluator } from '../../functions/evaluate/evaluate';
import { parseStreamRecord } from '../../functions/evaluate/stream';
import { decimalOf } from '../../shared/budgets/items';

Object.assign(process.env, {
  BUDGETS_TABLE: 'Budgets',
  THRESHOLDS: '[80,90,95]',
  PERIOD: 'monthly',
  SUSPEND_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:111122223333:stateMachine:suspend',
  EMERGENCY_STOP_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:111122223333:stateMachine:stop',
  BREAK_GLASS_PRINCIPALS: '[]',
  SYSTEM_ROLE_PATTERNS: '[]',
  PENDING_TABLE: 'Pending',
  DEFAULT_BUDGET_USD: '50',
  ACCOUNT_BUDGET_USD: '1000',
  AUDIT_TABLE: 'Audit',
  ALERTS_TOPIC_ARN: 'arn:aws:sns:us-east-1:111122223333:alerts',
  CRITICAL_TOPIC_ARN: 'arn:aws:sns:us-east-1:111122223333:critical',
  POWERTOOLS_DEV: 'true',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_METRICS_DISABLED: 'true',
});

const evaluated: BudgetItem[] = [];
jest.spyOn(Evaluator.prototype, 'evaluate').mockImplementation(async (item) => {
  evaluated.push(item);
});
const logged = jest.spyOn(Logger.prototype, 'error');
// Configuration is read at module load, so the handler is loaded after the environment is set.
const { evaluateStream } =
  require('../../functions/evaluate/handler') as typeof import('../../functions/evaluate/handler');

/** A record as Lambda delivers it from the Budgets stream. */
function record(sequence: string, newImage: Record<string, unknown>, oldImage?: Record<string, unknown>) {
  return {
    eventID: `e-${sequence}`,
    eventName: oldImage ? 'MODIFY' : 'INSERT',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:dynamodb:us-east-1:111122223333:table/Budgets/stream/2026-11-01T00:00:00.000',
    dynamodb: {
      Keys: marshall({ principal: newImage.principal, period: newImage.period }),
      NewImage: marshall(newImage),
      ...(oldImage ? { OldImage: marshall(oldImage) } : {}),
      SequenceNumber: sequence,
      SizeBytes: 100,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}
/** marshall writes a number's digits as they are: an N of 20 significant digits. */
const spend = (digits: string) => ({ N: digits });

beforeEach(() => {
  evaluated.length = 0;
  logged.mockClear();
});

describe('evaluate handler: stream records parsed before they are judged', () => {
  it('passes over a record that is not a valid Budgets item, reports it, and judges the good records after it', async () => {
    const bad = record('1', { principal: 'user/bob', period: '2026-11', state: 'paused' });
    const good = record('2', { principal: 'user/alice', period: '2026-11' });
    good.dynamodb.NewImage.spendUsd = spend('12345678901234567.123456789');

    const response = await evaluateStream({ Records: [bad, good] } as unknown as DynamoDBStreamEvent);

    // Not handed back for a retry that would fail again and hold up every record behind it.
    expect(response).toEqual({ batchItemFailures: [] });
    expect(logged).toHaveBeenCalledWith(
      'unparseable Budgets stream record: passed over, not retried',
      expect.objectContaining({
        eventID: 'e-1',
        sequenceNumber: '1',
        reason: expect.stringMatching(/user\/bob \/ 2026-11 is not a valid counter[\s\S]*state/),
      }),
    );
    expect(evaluated.map((item) => item.principal)).toEqual(['user/alice']);
    // Exact: Powertools' own unmarshalling would have made this a float.
    expect(decimalOf(evaluated[0]?.spendUsd).toFixed()).toBe('12345678901234567.123456789');
  });

  it('says what a bad record is and why', () => {
    const parsed = parseStreamRecord(record('7', { principal: 'user/bob', period: '2026-11', state: 'paused' }));

    expect(parsed).toMatchObject({ ok: false, eventID: 'e-7', sequenceNumber: '7' });
    expect(parsed.ok === false && parsed.error).toMatch(/not a valid counter[\s\S]*state/);
    expect(parseStreamRecord({ eventID: 'e-8', dynamodb: {} })).toMatchObject({ ok: false, eventID: 'e-8' });
  });

  it("drops the evaluator's own writes that change nothing it judges, before any read", async () => {
    const before = { principal: 'user/alice', period: '2026-11', spendUsd: '5' };

    await evaluateStream({
      Records: [record('3', { ...before, alertLevel: 80 }, before)],
    } as unknown as DynamoDBStreamEvent);

    expect(evaluated).toEqual([]);
  });
});
