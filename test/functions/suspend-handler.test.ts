import { Enforcer } from '../../functions/suspend/suspend';

Object.assign(process.env, {
  BUDGETS_TABLE: 'Budgets',
  CRITICAL_TOPIC_ARN: 'arn:aws:sns:us-east-1:111122223333:critical',
  BREAK_GLASS_PRINCIPALS: '[]',
  SYSTEM_ROLE_PATTERNS: '[]',
  PENDING_TABLE: 'Pending',
  AUDIT_TABLE: 'Audit',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  // Metrics on, printed on the global console, where the test reads them.
  POWERTOOLS_DEV: 'true',
  POWERTOOLS_METRICS_DISABLED: 'false',
});

const failed = jest.spyOn(Enforcer.prototype, 'failed');
const printed = jest.spyOn(console, 'log').mockImplementation(() => undefined);
// Configuration is read at module load, so the handler is loaded after the environment is set.
const { runStep } = require('../../functions/suspend/handler') as typeof import('../../functions/suspend/handler');

/** How many EnforcementFailures the step published. */
const enforcementFailures = () =>
  printed.mock.calls
    .map(([line]) => JSON.parse(String(line)))
    .reduce((sum, emf) => sum + (typeof emf.EnforcementFailures === 'number' ? emf.EnforcementFailures : 0), 0);

const input = {
  principal: 'user/alice',
  period: '2026-11',
  decisionId: 'suspend|user/alice|2026-11|g0',
  holder: 'suspend:s-1',
  reason: 'budget',
};
const step = (name: string, wait?: { retries: number }) =>
  runStep({ action: 'failed', step: name, input: { ...input, ...(wait ? { wait } : {}) }, error: { Error: 'x' } });
const retry = (retries: number) => ({ seconds: 60, retrySeconds: 60, untilEnd: 3600, lastChance: false, retries });

beforeEach(() => {
  failed.mockReset();
  printed.mockClear();
});

describe('suspend handler: EnforcementFailures counts each failure recorded once', () => {
  it('counts a step that failed after its retries, once it is recorded', async () => {
    failed.mockResolvedValue(undefined);

    await step('apply');

    expect(failed).toHaveBeenCalledTimes(1);
    expect(enforcementFailures()).toBe(1);
  });

  it("counts a wait's first failure, not the quiet retries after it", async () => {
    failed.mockResolvedValueOnce(retry(1)).mockResolvedValueOnce(retry(2)).mockResolvedValueOnce(retry(3));

    await step('await');
    await step('await', { retries: 1 });
    await step('await', { retries: 2 });

    expect(enforcementFailures()).toBe(1);
  });

  it('counts nothing while the failure could not be recorded: the retried step counts it once', async () => {
    failed.mockRejectedValueOnce(new Error('audit table throttled')).mockResolvedValueOnce(undefined);

    await expect(step('lift')).rejects.toThrow('audit table throttled');
    expect(enforcementFailures()).toBe(0);

    await step('lift');
    expect(enforcementFailures()).toBe(1);
  });
});
