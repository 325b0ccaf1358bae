import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { answer, callerOf } from '../../functions/admin/admin';
import { DefaultReviewError } from '../../shared/admin/default-review';
import { AdminService } from '../../shared/admin/service';
import type { AuditLog } from '../../shared/audit/log';
import type { BudgetStore } from '../../shared/budgets';
import type { AdminActions } from '../../shared/decisions/admin';
import type { Approvals } from '../../shared/decisions/approvals';
import { DecisionError } from '../../shared/decisions/pending';
import type { GroupDefinition } from '../../shared/groups/store';
import { usd } from '../../shared/money';
import { PriceRecorder } from '../../shared/pricing/admin';
import type { PriceVersion } from '../../shared/pricing/versions';

const ADMIN = 'arn:aws:iam::111122223333:user/dana';
const ALICE = 'arn:aws:iam::111122223333:user/alice';
const ADMIN_ROLE_SESSION = 'arn:aws:sts::111122223333:assumed-role/BudgetAdmins/erin';
const now = new Date('2026-11-20T12:00:00Z');

function event(body: unknown, iam?: { userArn: string }, method = 'POST'): LambdaFunctionURLEvent {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: {
      http: { method, path: '/', protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'budgeteer-cli' },
      ...(iam ? { authorizer: { iam } } : {}),
    } as LambdaFunctionURLEvent['requestContext'],
    body: typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
  };
}

function service(adminPrincipals = [ADMIN, 'arn:aws:sts::111122223333:assumed-role/BudgetAdmins/*', ALICE]) {
  const entries: { action: string; actor: string; subject: string; details: Record<string, unknown> }[] = [];
  const audit = {
    append: jest.fn(async (entry: (typeof entries)[number]) => {
      entries.push(entry);
      return { ...entry, seq: String(entries.length).padStart(12, '0'), id: `e${entries.length}` };
    }),
  };
  const limits = new Map<string, string>();
  const budgets = {
    ownLimit: async (p: string) =>
      limits.has(p) ? { principal: p, limitUsd: usd(limits.get(p) as string) } : undefined,
    setLimit: jest.fn(async (p: string, limit: { toFixed(): string }) => {
      limits.set(p, limit.toFixed());
    }),
  };
  const admin = {
    lift: jest.fn(async () => ({ wasSuspended: true })),
    emergencyStop: jest.fn(async () => 'arn:aws:states:::execution:stop:1'),
    resume: jest.fn(async () => undefined),
  };
  const approvals = {
    view: jest.fn(async (id: string) => (id === 'aliceWait01' ? { wait: { principal: 'user/alice' } } : undefined)),
    decide: jest.fn(),
  };
  const defaultReview = {
    review: jest.fn(async () => ({ period: '2026-11', queued: 3, alreadyQueued: 0 })),
  };
  const versions: PriceVersion[] = [];
  const priceStore = {
    all: async () => [...versions],
    add: async (version: PriceVersion) => {
      versions.push(version);
      return true;
    },
  };
  const groups = new Map<string, GroupDefinition>();
  const groupStore = {
    get: async (name: string) => groups.get(name),
    put: jest.fn(async (group: GroupDefinition) => {
      groups.set(group.name, group);
    }),
    remove: async (name: string) => groups.delete(name),
    counterIn: jest.fn(async () => ({ spend: usd('0'), state: 'active' })),
  };
  const svc = new AdminService(
    {
      periodKind: 'monthly',
      extraPeriodKinds: [],
      adminPrincipals,
      identityRules: { perSessionRoles: ['AWSReservedSSO_*'] },
    },
    {
      budgets: budgets as unknown as BudgetStore,
      audit: audit as unknown as AuditLog,
      admin: admin as unknown as AdminActions,
      approvals: approvals as unknown as Approvals,
      defaultReview,
      prices: new PriceRecorder(priceStore, audit as unknown as AuditLog, () => now),
      refreshPrices: async () => ({}),
      groups: groupStore,
      now: () => now,
    },
  );
  return { svc, entries, limits, admin, approvals, budgets, defaultReview, versions, groups, groupStore };
}

describe('the admin function', () => {
  it('takes the caller from the signature, never from the request', () => {
    expect(callerOf(event({}, { userArn: ADMIN }))).toEqual({
      arn: ADMIN,
      sourceIp: '203.0.113.9',
      userAgent: 'budgeteer-cli',
    });
    expect(callerOf(event({}))).toBeUndefined();
  });

  it('refuses an unsigned request (403) and acts on nothing', async () => {
    const { svc, budgets } = service();
    const result = await answer(event({ action: 'budget set', principal: 'user/bob', limitUsd: '5' }), svc);
    expect(result.statusCode).toBe(403);
    expect(budgets.setLimit).not.toHaveBeenCalled();
  });

  it('sets a limit as the signer, audited with the caller ARN, source IP and user agent', async () => {
    const { svc, entries, limits } = service();
    const result = await answer(
      event({ action: 'budget set', principal: 'user/bob', limitUsd: '25.50', actor: 'x' }, { userArn: ADMIN }),
      svc,
    );
    // An `actor` in the body is not a field of any request: refused before anything happens.
    expect(result.statusCode).toBe(400);
    expect(limits.size).toBe(0);

    const ok = await answer(
      event({ action: 'budget set', principal: 'user/bob', limitUsd: '25.50' }, { userArn: ADMIN }),
      svc,
    );
    expect(ok.statusCode).toBe(200);
    expect(limits.get('user/bob')).toBe('25.5');
    expect(entries).toEqual([
      expect.objectContaining({
        action: 'budget.limit-set',
        actor: ADMIN,
        subject: 'user/bob',
        details: expect.objectContaining({ limitUsd: '25.5', sourceIp: '203.0.113.9', userAgent: 'budgeteer-cli' }),
      }),
    ]);
    expect(JSON.parse(String(ok.body)).result).toMatchObject({ principal: 'user/bob', limitUsd: '25.5', setBy: ADMIN });
  });

  it('sets a group as the signer, audited group.set before it is written; a bad member is refused with nothing written', async () => {
    const { svc, entries, groups, groupStore } = service();
    const bad = await answer(
      event({ action: 'group set', name: 'ds', limitUsd: '500', members: ['alice'] }, { userArn: ADMIN }),
      svc,
    );
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(String(bad.body)).error).toContain('not a member: "alice"');
    expect(groupStore.put).not.toHaveBeenCalled();
    expect(entries).toEqual([]);

    const ok = await answer(
      event(
        { action: 'group set', name: 'ds', limitUsd: '500', members: ['role/ds-*'], tag: 'team=ds' },
        { userArn: ADMIN },
      ),
      svc,
    );
    expect(ok.statusCode).toBe(200);
    expect(groups.get('ds')).toMatchObject({ members: ['role/ds-*'], tag: { key: 'team', value: 'ds' } });
    expect(entries).toEqual([
      expect.objectContaining({
        action: 'group.set',
        actor: ADMIN,
        subject: 'GROUP#ds',
        details: expect.objectContaining({
          limitUsd: '500',
          tag: 'team=ds',
          previousUsd: null,
          sourceIp: '203.0.113.9',
        }),
      }),
    ]);
    // A stopped group is not deleted (409): its members would stay denied.
    groupStore.counterIn.mockResolvedValueOnce({ spend: usd('12'), state: 'stopped' });
    const refused = await answer(event({ action: 'group delete', name: 'ds' }, { userArn: ADMIN }), svc);
    expect(refused.statusCode).toBe(409);
    expect(groups.has('ds')).toBe(true);
    const gone = await answer(event({ action: 'group delete', name: 'ds' }, { userArn: ADMIN }), svc);
    expect(gone.statusCode).toBe(200);
    expect((await answer(event({ action: 'group delete', name: 'ds' }, { userArn: ADMIN }), svc)).statusCode).toBe(404);
    expect(entries.map((e) => e.action)).toEqual(['group.set', 'group.deleted']);
  });

  it('refuses group changes from a caller who is not an admin', async () => {
    const { svc, groupStore } = service();
    const result = await answer(
      event(
        { action: 'group set', name: 'ds', limitUsd: '5', members: ['user/x'] },
        { userArn: 'arn:aws:iam::111122223333:user/mallory' },
      ),
      svc,
    );
    expect(result.statusCode).toBe(403);
    expect(groupStore.put).not.toHaveBeenCalled();
  });

  it('a change of the default judges the principals on it again at once, and answers how many; no other limit does', async () => {
    const { svc, limits, defaultReview } = service();
    const own = await answer(
      event({ action: 'budget set', principal: 'user/bob', limitUsd: '5' }, { userArn: ADMIN }),
      svc,
    );
    expect(JSON.parse(String(own.body)).result.reviewed).toBeUndefined();
    expect(defaultReview.review).not.toHaveBeenCalled();

    const result = await answer(
      event({ action: 'budget set', principal: 'DEFAULT', limitUsd: '20' }, { userArn: ADMIN }),
      svc,
    );
    expect(result.statusCode).toBe(200);
    expect(limits.get('DEFAULT')).toBe('20');
    expect(defaultReview.review).toHaveBeenCalledWith(usd('20'), now);
    expect(JSON.parse(String(result.body)).result.reviewed).toEqual({ period: '2026-11', queued: 3, alreadyQueued: 0 });
  });

  it('a review that stops part-way answers 500: the default is set, and running the command again finishes it', async () => {
    const { svc, limits, defaultReview } = service();
    defaultReview.review.mockRejectedValueOnce(
      new DefaultReviewError('queued 40 principals on the default, then failed: throttled', 40),
    );
    const result = await answer(
      event({ action: 'budget set', principal: 'DEFAULT', limitUsd: '20' }, { userArn: ADMIN }),
      svc,
    );
    expect(result.statusCode).toBe(500);
    expect(limits.get('DEFAULT')).toBe('20');
    expect(JSON.parse(String(result.body)).error).toMatch(
      /the default limit is set \(audit entry 000000000001 of DEFAULT\), but judging the principals on it again stopped after 40 .*run the command again/,
    );
  });

  it('refuses a default of another kind of period than the deployment budgets principals on (it would never apply)', async () => {
    const { svc, limits, defaultReview } = service();
    (svc as unknown as { config: { extraPeriodKinds: string[] } }).config.extraPeriodKinds = ['weekly'];
    const result = await answer(
      event({ action: 'budget set', principal: 'DEFAULT', limitUsd: '20', period: 'weekly' }, { userArn: ADMIN }),
      svc,
    );
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(String(result.body)).error).toMatch(/the default applies to principals budgeted monthly/);
    expect(limits.has('DEFAULT')).toBe(false);
    expect(defaultReview.review).not.toHaveBeenCalled();
  });

  it('refuses a caller who is not an admin, audited as admin.refused on their own chain', async () => {
    const { svc, entries, limits } = service([ADMIN]);
    const result = await answer(
      event({ action: 'budget set', principal: 'user/bob', limitUsd: '1000' }, { userArn: ALICE }),
      svc,
    );
    expect(result.statusCode).toBe(403);
    expect(JSON.parse(String(result.body)).error).toContain('is not an admin');
    expect(limits.size).toBe(0);
    expect(entries).toEqual([
      expect.objectContaining({
        action: 'admin.refused',
        actor: ALICE,
        subject: 'user/alice',
        details: expect.objectContaining({ request: 'budget set', limitUsd: '1000', sourceIp: '203.0.113.9' }),
      }),
    ]);
  });

  it.each([
    ['raise their own limit', { action: 'budget set', principal: 'user/alice', limitUsd: '1000' }],
    ['lift their own suspension', { action: 'lift', principal: 'user/alice', reason: 'please' }],
    ['decide their own override', { action: 'override', id: 'aliceWait01', decision: 'lift', reason: 'please' }],
  ])('refuses an admin who would %s, audited as admin.refused', async (_what, request) => {
    const { svc, entries, admin, approvals, limits } = service();
    const result = await answer(event(request, { userArn: ALICE }), svc);
    expect(result.statusCode).toBe(403);
    expect(JSON.parse(String(result.body)).error).toMatch(/^nobody may .*user\/alice is the caller$/);
    expect(entries.map((e) => e.action)).toEqual(['admin.refused']);
    expect(limits.size).toBe(0);
    expect(admin.lift).not.toHaveBeenCalled();
    expect(approvals.decide).not.toHaveBeenCalled();
  });

  it('refuses a session of a role acting on another session of that role (its session name is the caller’s choice)', async () => {
    const session = 'arn:aws:sts::111122223333:assumed-role/BudgetAdmins/erin2';
    const { svc } = service();
    // BudgetAdmins is listed as a per-session role here, so erin2 is budgeted as role/BudgetAdmins/erin2.
    const perSession = new AdminService(
      {
        periodKind: 'monthly',
        extraPeriodKinds: [],
        adminPrincipals: ['arn:aws:sts::111122223333:assumed-role/BudgetAdmins/*'],
        identityRules: { perSessionRoles: ['BudgetAdmins'] },
      },
      (svc as unknown as { deps: ConstructorParameters<typeof AdminService>[1] }).deps,
    );
    const result = await answer(
      event({ action: 'lift', principal: 'role/BudgetAdmins/erin', reason: 'mine' }, { userArn: session }),
      perSession,
    );
    expect(result.statusCode).toBe(403);
    expect(JSON.parse(String(result.body)).error).toContain('(a session of role/BudgetAdmins)');
  });

  describe('in an organization', () => {
    const HOME = '111122223333';
    const MEMBER = '222233334444';
    const organization = (svc: AdminService) =>
      new AdminService(
        {
          periodKind: 'monthly',
          extraPeriodKinds: [],
          adminPrincipals: [`arn:aws:sts::${MEMBER}:assumed-role/ci/*`, ADMIN],
          identityRules: { perSessionRoles: ['ci'], homeAccount: HOME },
        },
        (svc as unknown as { deps: ConstructorParameters<typeof AdminService>[1] }).deps,
      );

    it("refuses a member account's session acting on another session of its role, as at home", async () => {
      const session = `arn:aws:sts::${MEMBER}:assumed-role/ci/me`;
      const result = await answer(
        event({ action: 'lift', principal: `${MEMBER}:role/ci/other`, reason: 'mine' }, { userArn: session }),
        organization(service().svc),
      );

      expect(result.statusCode).toBe(403);
      expect(JSON.parse(String(result.body)).error).toContain('(a session of role/ci)');
    });

    it("reads an id qualified with the deployment's own account as ingest keys it: unqualified", async () => {
      const { svc, budgets } = service();

      const result = await answer(
        event({ action: 'budget set', principal: `${HOME}:user/bob`, limitUsd: '5' }, { userArn: ADMIN }),
        organization(svc),
      );

      expect(result.statusCode).toBe(200);
      expect(budgets.setLimit.mock.calls.map((call) => call[0])).toEqual(['user/bob']);
    });
  });

  it('matches admin patterns: any session of an admin role', async () => {
    const { svc, admin } = service();
    const result = await answer(
      event({ action: 'emergency-stop', reason: 'drill' }, { userArn: ADMIN_ROLE_SESSION }),
      svc,
    );
    expect(result.statusCode).toBe(200);
    expect(admin.emergencyStop).toHaveBeenCalledWith('2026-11', ADMIN_ROLE_SESSION, 'drill', {
      sourceIp: '203.0.113.9',
      userAgent: 'budgeteer-cli',
    });
  });

  it('decides an override with the caller as approver; a decided one is 409', async () => {
    const { svc, approvals } = service();
    approvals.decide.mockResolvedValueOnce({ principal: 'user/bob', decided: { override: { limitTo: '30' } } });
    const ok = await answer(
      event(
        { action: 'override', id: 'bobsWait001', decision: 'raise', amountUsd: '10', reason: 'batch' },
        { userArn: ADMIN },
      ),
      svc,
    );
    expect(ok.statusCode).toBe(200);
    expect(approvals.decide).toHaveBeenCalledWith(
      'bobsWait001',
      expect.objectContaining({ approver: ADMIN, via: 'cli' }),
    );
    approvals.decide.mockRejectedValueOnce(new DecisionError('already decided: lift by x at t', 'decided'));
    const again = await answer(
      event({ action: 'override', id: 'bobsWait001', decision: 'lift', reason: 'batch' }, { userArn: ADMIN }),
      svc,
    );
    expect(again.statusCode).toBe(409);
  });

  it('answers a bad body (400) and another method (405) without acting', async () => {
    const { svc } = service();
    expect((await answer(event('{not json', { userArn: ADMIN }), svc)).statusCode).toBe(400);
    expect((await answer(event({ action: 'drop table' }, { userArn: ADMIN }), svc)).statusCode).toBe(400);
    expect((await answer(event({}, { userArn: ADMIN }, 'GET'), svc)).statusCode).toBe(405);
  });

  it('records negotiated prices as the signer, audited price.changed with the old and new rates; a non-admin is refused', async () => {
    const { svc, entries, versions } = service([ADMIN]);
    const prices = [
      { model: 'us.anthropic.claude-3-haiku-20240307-v1:0', input: '0.2', effectiveFrom: '2026-11-21T00:00:00Z' },
    ];

    const ok = await answer(event({ action: 'prices set', prices }, { userArn: ADMIN }), svc);

    expect(ok.statusCode).toBe(200);
    expect(versions).toEqual([
      expect.objectContaining({
        model: 'anthropic.claude-3-haiku-20240307-v1:0',
        source: 'set',
        scope: 'any',
        effectiveFrom: '2026-11-21T00:00:00.000Z',
        prices: { input: '0.2' },
        recordedBy: ADMIN,
      }),
    ]);
    expect(entries).toEqual([
      expect.objectContaining({
        action: 'price.changed',
        actor: ADMIN,
        subject: 'MODEL#anthropic.claude-3-haiku-20240307-v1:0',
        details: expect.objectContaining({
          source: 'set',
          old: expect.objectContaining({ input: '0.25', output: '1.25' }),
          new: expect.objectContaining({ input: '0.2', output: '1.25' }),
          sourceIp: '203.0.113.9',
        }),
      }),
    ]);

    const refused = await answer(event({ action: 'prices set', prices }, { userArn: ALICE }), svc);
    expect(refused.statusCode).toBe(403);
    expect(versions).toHaveLength(1);
    expect(entries[1]).toMatchObject({ action: 'admin.refused', actor: ALICE });
  });

  it('refuses a price entry that sets no price or is not a decimal string (400), recording nothing', async () => {
    const { svc, versions } = service([ADMIN]);
    for (const prices of [[{ model: 'amazon.nova-pro-v1:0' }], [{ model: 'amazon.nova-pro-v1:0', input: 0.8 }]]) {
      expect((await answer(event({ action: 'prices set', prices }, { userArn: ADMIN }), svc)).statusCode).toBe(400);
    }
    expect(versions).toEqual([]);
  });
});
