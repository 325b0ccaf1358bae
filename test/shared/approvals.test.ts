import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { AuditLog } from '../../shared/audit/log';
import { type BudgetStore, LimitChangedError } from '../../shared/budgets';
import { Approvals, OverrideError } from '../../shared/decisions/approvals';
import { type Decision, DecisionError, type PendingWait, type PendingWaits } from '../../shared/decisions/pending';
import { type Usd, usd } from '../../shared/money';

const now = new Date('2026-11-20T12:00:00Z');
const snsMock = mockClient(SNSClient);

/** In-memory stand-ins with the stores' contracts: the first decision wins, audit entries once per key. */
function world() {
  const wait: PendingWait = {
    id: 'wait-0001',
    kind: 'suspension',
    principal: 'user/alice',
    period: '2026-11',
    executionArn: 'arn:aws:states:us-east-1:111122223333:execution:suspend:e1',
    createdAt: '2026-11-20T11:00:00.000Z',
    expiresAt: '2026-11-21T11:00:00.000Z',
  };
  const state = { wait: { ...wait } as PendingWait & { decided?: Decision & { at: string } }, unsent: false };
  const woken: string[] = [];
  const waits = {
    get: async (id: string) => (id === wait.id ? { ...state.wait } : undefined),
    record: async (id: string, decision: Decision) => {
      if (state.wait.decided) throw new DecisionError('already decided', 'decided');
      state.wait = { ...state.wait, decided: { ...decision, at: now.toISOString() } };
      state.unsent = true;
      return { ...state.wait, id };
    },
    async *unsent() {
      if (state.unsent) yield { ...state.wait };
    },
    wake: jest.fn(async (w: PendingWait) => {
      if (w.decided?.decision !== 'keep') woken.push(w.id);
      state.unsent = false;
    }),
  };
  const limits = new Map<string, Usd>([['user/alice', usd('10')]]);
  const setLimit = jest.fn(async (principal: string, limit: Usd, _by: string, _at: Date, expected?: Usd | null) => {
    const own = limits.get(principal);
    if (expected !== undefined && !(expected === null ? own === undefined : own?.eq(expected))) {
      throw new LimitChangedError('changed');
    }
    limits.set(principal, limit);
  });
  const budgets = {
    ownLimit: async (p: string) => (limits.has(p) ? { principal: p, limitUsd: limits.get(p) as Usd } : undefined),
    limitOf: async (p: string) => limits.get(p) ?? usd('50'),
    budgetOf: async (p: string) => ({ limitUsd: limits.get(p) ?? usd('50') }),
    spendOf: async () => usd('10.5'),
    setLimit,
  };
  const onceKeys = new Set<string>();
  const entries: { action: string; actor: string; details: Record<string, unknown> }[] = [];
  const audit = {
    append: jest.fn(async (input: (typeof entries)[number], options?: { once: string }) => {
      if (options && onceKeys.has(options.once)) return undefined;
      if (options) onceKeys.add(options.once);
      entries.push(input);
      return input;
    }),
  };
  const approvals = new Approvals({
    documents: {} as DynamoDBDocumentClient,
    budgetsTable: 'Budgets',
    waits: waits as unknown as PendingWaits,
    budgets: budgets as unknown as BudgetStore,
    audit: audit as unknown as AuditLog,
    sns: new SNSClient({}),
    criticalTopicArn: 'arn:aws:sns:us-east-1:111122223333:critical',
    now: () => now,
  });
  return { approvals, state, woken, limits, setLimit, entries, waits, audit };
}

const raise = { decision: 'raise', amountUsd: '5', reason: 'batch', approver: 'dana', via: 'link' } as const;

beforeEach(() => {
  snsMock.reset();
  snsMock.on(PublishCommand).resolves({});
});

describe('Approvals.decide', () => {
  it('raises the limit by the amount, audits override.approved as the link holder with the approver, then wakes the workflow', async () => {
    const w = world();
    await w.approvals.decide('wait-0001', raise);

    expect(w.limits.get('user/alice')?.toFixed()).toBe('15');
    expect(w.entries).toEqual([
      expect.objectContaining({
        action: 'override.approved',
        actor: 'link:wait-0001',
        details: expect.objectContaining({
          decision: 'raise',
          approver: 'dana',
          amountUsd: '5',
          limitFromUsd: '10',
          limitToUsd: '15',
          approvalId: 'wait-0001',
        }),
      }),
    ]);
    expect(w.woken).toEqual(['wait-0001']);
  });

  it.each([
    ['the limit write', 'setLimit'],
    ['the audit entry', 'append'],
    ['the wake', 'wake'],
  ])('completes after a crash at %s: the sweep applies the raise once, audits once, wakes', async (_what, step) => {
    const w = world();
    const crash = new Error('crash');
    if (step === 'setLimit') w.setLimit.mockRejectedValueOnce(crash);
    if (step === 'append') w.audit.append.mockRejectedValueOnce(crash);
    if (step === 'wake') w.waits.wake.mockRejectedValueOnce(crash);

    await expect(w.approvals.decide('wait-0001', raise)).rejects.toThrow('crash');
    expect(await w.approvals.wakeAll()).toBe(1);
    expect(await w.approvals.wakeAll()).toBe(0);

    expect(w.limits.get('user/alice')?.toFixed()).toBe('15'); // raised once, not twice
    expect(w.entries.filter((e) => e.action === 'override.approved')).toHaveLength(1);
    expect(w.woken).toEqual(['wait-0001']);
  });

  it('leaves a limit someone else set in between and says so in the entry', async () => {
    const w = world();
    w.setLimit.mockImplementationOnce(async () => {
      w.limits.set('user/alice', usd('40'));
      throw new LimitChangedError('changed');
    });
    await w.approvals.decide('wait-0001', raise);
    expect(w.limits.get('user/alice')?.toFixed()).toBe('40');
    expect(w.entries[0]?.details.note).toContain('changed by someone else');
  });

  it('keep: audits override.denied, tells the critical topic, and does not wake the workflow', async () => {
    const w = world();
    await w.approvals.decide('wait-0001', { decision: 'keep', reason: 'no', approver: 'gus', via: 'link' });
    expect(w.entries.map((e) => e.action)).toEqual(['override.denied']);
    expect(w.woken).toEqual([]);
    expect(snsMock).toHaveReceivedCommandWith(PublishCommand, {
      MessageAttributes: expect.objectContaining({
        decisionId: { DataType: 'String', StringValue: 'override:wait-0001' },
      }),
    });
  });

  it.each([
    ['a reason is required', { ...raise, reason: ' ' }],
    ['the approver is required', { ...raise, approver: '' }],
    ['raise needs an amount', { ...raise, amountUsd: undefined }],
    ['more than 0', { ...raise, amountUsd: '0' }],
    ['amount', { ...raise, amountUsd: '-5' }],
    ['amount', { ...raise, amountUsd: '1e3' }],
    ['control characters', { ...raise, reason: 'a\u0007b' }],
  ])('refuses an incomplete request (%s) with OverrideError and records nothing', async (message, request) => {
    const w = world();
    await expect(w.approvals.decide('wait-0001', request)).rejects.toThrow(OverrideError);
    await expect(w.approvals.decide('wait-0001', request)).rejects.toThrow(message);
    expect(w.state.wait.decided).toBeUndefined();
  });

  it('refuses a decision of the other kind, an unknown id and an expired wait with DecisionError', async () => {
    const w = world();
    await expect(w.approvals.decide('wait-0001', { ...raise, decision: 'resume' })).rejects.toMatchObject({
      code: 'not-allowed',
    });
    await expect(w.approvals.decide('nope', raise)).rejects.toMatchObject({ code: 'unknown' });
    const late = world();
    late.state.wait = { ...late.state.wait, expiresAt: '2026-11-20T11:59:59.000Z' };
    await expect(late.approvals.decide('wait-0001', raise)).rejects.toMatchObject({ code: 'expired' });
  });
});

describe('Approvals.view of an organization stop', () => {
  const stop: PendingWait = {
    id: 'wait-0002',
    kind: 'emergency-stop',
    principal: 'ACCOUNT',
    period: '2026-11',
    executionArn: 'arn:aws:states:us-east-1:123456789012:execution:emergency-stop:org-1',
    createdAt: '2026-11-20T11:00:00.000Z',
    expiresAt: '2026-11-21T11:00:00.000Z',
  };
  const viewWith = (counter: Record<string, unknown>) =>
    new Approvals({
      documents: { send: async () => ({ Item: counter }) } as unknown as DynamoDBDocumentClient,
      budgetsTable: 'Budgets',
      waits: { get: async () => stop } as unknown as PendingWaits,
      budgets: { limitOf: async () => usd('1000'), spendOf: async () => usd('1000') } as unknown as BudgetStore,
      audit: {} as AuditLog,
      sns: new SNSClient({}),
      criticalTopicArn: 'arn:aws:sns:us-east-1:123456789012:critical',
      now: () => now,
    }).view(stop.id);

  it('names the targets the SCP is attached to, from the stop record on the account counter', async () => {
    const organizationStop = {
      holder: 'stop:org-1',
      policyId: 'p-stop0001',
      targets: ['ou-ab12-workloads', '222222222222'],
      attached: ['ou-ab12-workloads'],
    };

    await expect(viewWith({ principal: 'ACCOUNT', period: '2026-11', organizationStop })).resolves.toMatchObject({
      scpTargets: ['ou-ab12-workloads'],
    });
    await expect(viewWith({ principal: 'ACCOUNT', period: '2026-11' })).resolves.not.toHaveProperty('scpTargets');
  });
});
