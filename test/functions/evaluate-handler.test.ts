import { Logger } from '@aws-lambda-powertools/logger';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { type BudgetItem, type Decision, Evaluator, type EvaluatorDeps } from '../../functions/evaluate/evaluate';
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
  // Metrics on, printed on the global console, where the test reads them.
  POWERTOOLS_METRICS_DISABLED: 'false',
});

const evaluated: BudgetItem[] = [];
/** What the evaluator decides for an item, as it would report it, and whether it then fails. */
let decide: ((item: BudgetItem) => { decision?: Omit<Decision, 'claimedAt'>; fail?: boolean }) | undefined;
jest.spyOn(Evaluator.prototype, 'evaluate').mockImplementation(async function (this: Evaluator, item) {
  evaluated.push(item);
  const { decision, fail } = decide?.(item) ?? {};
  const { deps } = this as unknown as { deps: EvaluatorDeps };
  if (decision) deps.onDecision?.({ ...decision, claimedAt: new Date('2026-11-20T12:00:03.500Z') });
  if (fail) throw new Error('SNS throttled');
});
const printed = jest.spyOn(console, 'log').mockImplementation(() => undefined);
/** Every EMF blob the handler printed. */
const metricsPrinted = () => printed.mock.calls.map(([line]) => JSON.parse(String(line)));
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
  printed.mockClear();
  decide = undefined;
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

describe('evaluate handler: the decisions of a batch as metrics', () => {
  const before = { principal: 'user/alice', period: '2026-11', spendUsd: '89' };
  const charge = { ...before, spendUsd: '96', updatedAt: '2026-11-20T12:00:01.000Z' };

  it('publishes what the batch decided, with the latency from the charge to the claim, even when the batch then fails', async () => {
    decide = (item) =>
      item.principal === 'user/alice'
        ? { decision: { kind: 'threshold-alert', principal: 'user/alice', threshold: 95 }, fail: true }
        : {};

    const response = await evaluateStream({
      Records: [record('5', charge, before)],
    } as unknown as DynamoDBStreamEvent);

    // The batch is retried from the record, but its claim is not made again: it is counted now.
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '5' }] });
    const batch = metricsPrinted().find((emf) => emf.threshold === undefined);
    expect(batch).toMatchObject({ service: 'evaluate', AlertsSent: 1, CrossingToDecisionLatency: 2500 });
    expect(metricsPrinted().find((emf) => emf.threshold === '95')).toMatchObject({ AlertsSent: 1 });
  });

  it("dates a change that is no charge by the stream record's creation time", async () => {
    decide = () => ({ decision: { kind: 'suspension', principal: 'user/alice' } });
    const limitRecord = record('6', { principal: 'user/alice', period: 'LIMIT', limitUsd: '90' });
    limitRecord.dynamodb = { ...limitRecord.dynamodb, ApproximateCreationDateTime: 1_795_176_000 } as never;

    await evaluateStream({ Records: [limitRecord] } as unknown as DynamoDBStreamEvent);

    expect(metricsPrinted()).toEqual([
      expect.objectContaining({
        SuspensionsStarted: 1,
        CrossingToDecisionLatency: Date.parse('2026-11-20T12:00:03.500Z') - 1_795_176_000_000,
      }),
    ]);
  });

  it('publishes nothing for a batch that decided nothing', async () => {
    await evaluateStream({ Records: [record('7', charge, before)] } as unknown as DynamoDBStreamEvent);

    expect(evaluated).toHaveLength(1);
    expect(printed).not.toHaveBeenCalled();
  });
});
