import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { answer } from '../../functions/approve/approve';
import { type ApprovalView, OverrideError, raiseOffers } from '../../shared/decisions/approvals';
import { approvalUrl, checkFormToken, checkLink, formToken, signLink } from '../../shared/decisions/links';
import { DecisionError, type PendingWait } from '../../shared/decisions/pending';
import { usd } from '../../shared/money';

const SECRET = 's'.repeat(64);
const now = new Date('2026-11-20T12:00:00Z');
const expiresAt = '2026-11-21T12:00:00.000Z';
const ID = 'AbCdEfGhIjKlMnOp';

describe('approval links', () => {
  const link = signLink(SECRET, ID, Date.parse(expiresAt) / 1000);
  const check = (over: Partial<{ id: string; expires: string; signature: string }> = {}, at = now) =>
    checkLink(SECRET, { id: ID, expires: String(link.expires), signature: link.signature, ...over }, at);

  it('accepts the link as signed until it expires, then refuses it as expired', () => {
    expect(check()).toEqual({ ok: true });
    expect(check({}, new Date(Date.parse(expiresAt)))).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses an altered id, expiry or signature, or another key, as forged', () => {
    expect(check({ id: 'AbCdEfGhIjKlMnOq' })).toEqual({ ok: false, reason: 'forged' });
    expect(check({ expires: String(link.expires + 3600) })).toEqual({ ok: false, reason: 'forged' });
    expect(check({ signature: `${link.signature.slice(0, -1)}A` })).toMatchObject({ ok: false, reason: 'forged' });
    expect(check({ signature: '' })).toEqual({ ok: false, reason: 'forged' });
    expect(check({ expires: '1e12' })).toEqual({ ok: false, reason: 'forged' });
    const other = signLink('t'.repeat(64), ID, link.expires);
    expect(check({ signature: other.signature })).toEqual({ ok: false, reason: 'forged' });
  });

  it('checks a forged expired link as forged: a forger learns nothing about expiry', () => {
    expect(check({ signature: 'x' }, new Date('2030-01-01T00:00:00Z'))).toEqual({ ok: false, reason: 'forged' });
  });

  it('binds the form token to the id, apart from the link signature', () => {
    expect(checkFormToken(SECRET, ID, formToken(SECRET, ID))).toBe(true);
    expect(checkFormToken(SECRET, 'AbCdEfGhIjKlMnOq', formToken(SECRET, ID))).toBe(false);
    expect(checkFormToken(SECRET, ID, link.signature)).toBe(false);
    expect(checkFormToken(SECRET, ID, undefined)).toBe(false);
  });

  it('puts only the id, expiry and signature in the URL', () => {
    expect(approvalUrl('https://x.lambda-url.aws/', SECRET, ID, expiresAt)).toBe(
      `https://x.lambda-url.aws/d/${ID}?e=${link.expires}&s=${link.signature}`,
    );
    expect(() => signLink(SECRET, 'a/b', 1)).toThrow(RangeError);
  });
});

describe('the approval endpoint', () => {
  const wait: PendingWait = {
    id: ID,
    kind: 'suspension',
    principal: 'user/<script>alert(1)</script>',
    period: '2026-11',
    executionArn: 'arn:aws:states:us-east-1:111122223333:execution:suspend:e1',
    createdAt: '2026-11-20T11:00:00.000Z',
    expiresAt,
  };
  const view = (over: Partial<PendingWait> = {}): ApprovalView => ({
    wait: { ...wait, ...over },
    spendUsd: usd('10.5'),
    limitUsd: usd('10'),
    topModels: [{ model: 'anthropic.claude-opus-4', spend: usd('10.5') }],
    raiseOffers: [
      { amount: usd('2.5'), label: '25%' },
      { amount: usd('5'), label: '50%' },
      { amount: usd('10'), label: '100%' },
    ],
  });
  const approvals = { view: jest.fn(), decide: jest.fn() };
  const deps = { approvals, secret: async () => SECRET, now: () => now };
  const url = new URL(approvalUrl('https://approve.example', SECRET, ID, expiresAt));

  function request(
    method: string,
    options: { path?: string; query?: Record<string, string>; body?: string; type?: string } = {},
  ): LambdaFunctionURLEvent {
    const query = options.query ?? Object.fromEntries(url.searchParams);
    return {
      version: '2.0',
      routeKey: '$default',
      rawPath: options.path ?? url.pathname,
      rawQueryString: new URLSearchParams(query).toString(),
      headers: { 'content-type': options.type ?? 'application/x-www-form-urlencoded' },
      queryStringParameters: query,
      requestContext: {
        http: { method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: '198.51.100.7', userAgent: 'Mail/1.0' },
      } as LambdaFunctionURLEvent['requestContext'],
      ...(options.body === undefined ? {} : { body: options.body }),
      isBase64Encoded: false,
    };
  }
  const post = (fields: Record<string, string>, extra: { type?: string } = {}) =>
    answer(request('POST', { body: new URLSearchParams(fields).toString(), ...extra }), deps);
  const valid = { csrf: formToken(SECRET, ID), decision: 'raise', amountUsd: '5', reason: 'batch', approver: 'dana' };

  beforeEach(() => {
    approvals.view.mockReset().mockResolvedValue(view());
    approvals.decide.mockReset();
  });

  it('GET renders the confirmation page with the stakes, the choices and the security headers, and decides nothing', async () => {
    const result = await answer(
      request('GET', { query: { ...Object.fromEntries(url.searchParams), d: 'lift' } }),
      deps,
    );

    expect(result.statusCode).toBe(200);
    expect(result.headers).toMatchObject({
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
      'content-security-policy': expect.stringContaining("default-src 'none'"),
    });
    const html = String(result.body);
    expect(html).toContain('user/&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>');
    expect(html).toContain('$10.50');
    expect(html).toContain('anthropic.claude-opus-4');
    expect(html).toContain('value="lift" required checked');
    expect(html).toContain(`name="csrf" value="${formToken(SECRET, ID)}"`);
    expect(html).toContain(`action="/d/${ID}?e=${url.searchParams.get('e')}&amp;s=${url.searchParams.get('s')}"`);
    expect(approvals.decide).not.toHaveBeenCalled();
  });

  it("shows a group's stop as the group's: its members, its budget, and resume or keep; the account's as the account's", async () => {
    approvals.view.mockResolvedValue(view({ kind: 'emergency-stop', principal: 'GROUP#data-science' }));
    const group = String((await answer(request('GET'), deps)).body);
    expect(group).toContain('<h1>Group stopped: data-science (2026-11)</h1>');
    expect(group).toContain('<dt>Scope</dt><dd>the members of group data-science</dd>');
    expect(group).toContain('<dt>Group budget</dt>');
    expect(group).not.toContain('the whole account');
    expect(group).not.toContain('value="raise"');

    approvals.view.mockResolvedValue(view({ kind: 'emergency-stop', principal: 'ACCOUNT' }));
    const account = String((await answer(request('GET'), deps)).body);
    expect(account).toContain('<h1>Emergency stop: all Bedrock use (2026-11)</h1>');
    expect(account).toContain('<dt>Account budget</dt>');
    expect(account).not.toContain('<dt>SCP</dt>');
  });

  it("names where an organization stop's SCP is attached, and that resuming detaches it from there", async () => {
    approvals.view.mockResolvedValue({
      ...view({ kind: 'emergency-stop', principal: 'ACCOUNT' }),
      scpTargets: ['ou-ab12-workloads', '222222222222'],
    });

    const page = String((await answer(request('GET'), deps)).body);

    expect(page).toContain(
      '<dt>SCP</dt><dd>BudgeteerOrganizationStop attached to ou-ab12-workloads, 222222222222</dd>',
    );
    expect(page).toContain('the service control policy is detached from ou-ab12-workloads, 222222222222,');
    expect(page).toContain('<h1>Emergency stop: all Bedrock use in the organization (2026-11)</h1>');
    expect(page).toContain('<dd>every account of the organization</dd>');
    expect(page).toContain('<dt>Organization budget</dt>');
  });

  it.each([
    [
      'a forged signature',
      () => answer(request('GET', { query: { e: url.searchParams.get('e') ?? '', s: 'forged' } }), deps),
      403,
    ],
    ['no signature', () => answer(request('GET', { query: {} }), deps), 403],
    ['a path that is no link', () => answer(request('GET', { path: '/admin' }), deps), 404],
    ['a method other than GET or POST', () => answer(request('DELETE'), deps), 405],
    ['a POST without the anti-forgery field', () => post({ ...valid, csrf: '' }), 403],
    [
      'a POST with another link’s anti-forgery field',
      () => post({ ...valid, csrf: formToken(SECRET, 'Other0000000') }),
      403,
    ],
    ['a POST that is not a form', () => post(valid, { type: 'application/json' }), 403],
    ['a decision of the other kind', () => post({ ...valid, decision: 'resume' }), 400],
  ])('refuses %s with a page and changes nothing', async (_what, call, status) => {
    const result = await call();
    expect(result.statusCode).toBe(status);
    expect(String(result.body)).toContain('Nothing was changed');
    expect(approvals.decide).not.toHaveBeenCalled();
  });

  it('offers a prepaid (TOTAL) grant a lift until its limit is next set: it has no period end', async () => {
    approvals.view.mockResolvedValue(view({ period: 'TOTAL' }));

    const html = String(
      (await answer(request('GET', { query: { ...Object.fromEntries(url.searchParams), d: 'lift' } }), deps)).body,
    );

    expect(html).toContain('Lift until its limit is next set');
    expect(html).toContain('is not suspended again before its limit is next set');
    expect(html).not.toContain('the period end');
  });

  it('shows a zero limit as a principal that may not spend, and offers no share of it: only a typed amount', async () => {
    approvals.view.mockResolvedValue({ ...view(), limitUsd: usd('0'), raiseOffers: raiseOffers(usd('0')) });

    const html = String(
      (await answer(request('GET', { query: { ...Object.fromEntries(url.searchParams), d: 'raise' } }), deps)).body,
    );

    expect(html).toContain('$0.00 <small>(0 USD)</small>: may not spend, suspended at its first charged call');
    expect(html).toContain('type the amount it may spend this period');
    expect(html).toContain('<datalist id="offers"></datalist>');
    expect(html).toContain(
      'id="amountUsd" name="amountUsd" inputmode="decimal" autocomplete="off" list="offers" value=""',
    );
    expect(html).toContain('Any amount may be typed.');
    expect(html).not.toMatch(/\$0\.00 \((25|50|100)%\)|Infinity|NaN|9007199254740991/);
  });

  it('refuses an unknown id (404) and an expired link (410)', async () => {
    approvals.view.mockResolvedValue(undefined);
    expect((await answer(request('GET'), deps)).statusCode).toBe(404);
    approvals.view.mockResolvedValue(view());
    const late = { ...deps, now: () => new Date(Date.parse(expiresAt) + 1) };
    expect((await answer(request('GET'), late)).statusCode).toBe(410);
  });

  it('shows who decided what and when, on GET and POST, once the link is decided', async () => {
    const decided = { decision: 'lift', reason: 'approval', actor: 'erin', at: '2026-11-20T11:30:00.000Z' } as const;
    approvals.view.mockResolvedValue(view({ decided }));
    for (const result of [await answer(request('GET'), deps), await post(valid)]) {
      expect(result.statusCode).toBe(409);
      expect(String(result.body)).toContain('Already decided: lift by erin at 2026-11-20T11:30:00.000Z');
    }
    expect(approvals.decide).not.toHaveBeenCalled();
  });

  it('decides on the POST with the form’s fields, the caller’s address and agent', async () => {
    approvals.decide.mockResolvedValue({
      ...wait,
      decided: {
        decision: 'raise',
        reason: 'approval',
        actor: 'dana',
        note: 'batch',
        amountUsd: '5',
        at: now.toISOString(),
        override: { via: 'link', limitFrom: '10', limitTo: '15' },
      },
    });
    const result = await post(valid);

    expect(result.statusCode).toBe(200);
    expect(String(result.body)).toContain('The limit is now 15 USD');
    expect(approvals.decide).toHaveBeenCalledWith(ID, {
      decision: 'raise',
      reason: 'batch',
      approver: 'dana',
      amountUsd: '5',
      via: 'link',
      sourceIp: '198.51.100.7',
      userAgent: 'Mail/1.0',
    });
  });

  it('shows the form again with the reason when the request is incomplete (400)', async () => {
    approvals.decide.mockRejectedValue(new OverrideError('a reason is required'));
    const result = await post({ ...valid, reason: '' });
    expect(result.statusCode).toBe(400);
    expect(String(result.body)).toContain('a reason is required');
    expect(String(result.body)).toContain('<form method="post"');
  });

  it('shows the winner to the loser of a race (409)', async () => {
    approvals.decide.mockRejectedValue(new DecisionError('already decided', 'decided'));
    approvals.view
      .mockResolvedValueOnce(view())
      .mockResolvedValueOnce(view({ decided: { decision: 'keep', reason: 'approval', actor: 'gus', at: 't' } }));
    const result = await post(valid);
    expect(result.statusCode).toBe(409);
    expect(String(result.body)).toContain('Already decided: keep by gus');
  });
});
