import { CreateUserCommand, GetUserPolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetSecretValueCommand, ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { deploymentOf } from '../../cli/deployment';
import { adminActionsFor, approvalsFor } from '../../cli/enforcement';
import { type Inbox, openInbox } from '../../local/inbox';
import { setBudgetLimit } from '../../shared/admin/set-limit';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { approvalUrl } from '../../shared/decisions/links';
import { PendingWaits } from '../../shared/decisions/pending';
import { usd } from '../../shared/money';
import { invocationLog } from '../fixtures';
import { deliverLogs, documents, eventually, item, local, output, settle, unique } from './support';

const OPUS = 'anthropic.claude-opus-4-20250514-v1:0'; // $15 per million input tokens
const ADMIN = 'arn:aws:iam::123456789012:user/admin';
const ACCOUNT = '111122223333';
const iam = new IAMClient(local.clientConfig);
const sfn = new SFNClient(local.clientConfig);
const store = new BudgetStore(documents, output('BudgetsTableName'), {
  configuredDefault: usd('50'),
  configuredAccount: usd('1000'),
});
const audit = new AuditLog(documents, output('AuditTableName'));
const waits = new PendingWaits(documents, sfn, output('PendingTableName'));
const deployment = deploymentOf({ clientConfig: local.clientConfig, outputs: local.outputs });
const target = { clientConfig: local.clientConfig, outputs: local.outputs };
const thisMonth = () => new Date().toISOString().slice(0, 7);
const isolatedMonth = () => `${2100 + Math.floor(Math.random() * 5000)}-08`;
const LINK = /http:\/\/127\.0\.0\.1:\d+\/d\/[A-Za-z0-9_-]+\?e=\d+&s=[A-Za-z0-9_-]+/;

let inbox: Inbox;
beforeAll(async () => {
  inbox = await openInbox(local.clientConfig, [output('CriticalTopicArn')], `approvals-${unique()}`);
});
afterAll(() => inbox.close());

/** Messages are shared by every test on the topic: keep the ones seen, and look for one's own. */
const seen: { subject: string; message: string; attributes: Record<string, string> }[] = [];
async function messageFor(principal: string, kind: string) {
  return eventually(`the ${kind} message for ${principal}`, async () => {
    seen.push(...(await inbox.read()));
    return seen.find((m) => m.attributes.principal === principal && m.attributes.kind === kind);
  });
}

async function userPolicy(name: string): Promise<string | undefined> {
  try {
    const { PolicyDocument } = await iam.send(
      new GetUserPolicyCommand({ UserName: name, PolicyName: 'BudgeteerDeny' }),
    );
    return decodeURIComponent(PolicyDocument ?? '');
  } catch (error) {
    if (['NoSuchEntityException', 'NoSuchEntity'].includes((error as Error).name)) return undefined;
    throw error;
  }
}

async function actionsFor(subject: string) {
  const entries = [];
  for await (const entry of audit.query({ subject })) entries.push(entry);
  return entries;
}

async function suspended(limit: string, dollars: number) {
  const name = `apv-${unique()}`;
  const principal = `user/${name}`;
  await iam.send(new CreateUserCommand({ UserName: name }));
  await setBudgetLimit(store, audit, deployment, { principal, limitUsd: usd(limit), actor: ADMIN });
  await settle();
  await deliverLogs([
    invocationLog(`${unique()}-${unique()}`, `arn:aws:iam::${ACCOUNT}:user/${name}`, {
      timestamp: new Date().toISOString(),
      modelId: OPUS,
      input: { inputTokenCount: Math.round((dollars * 1_000_000) / 15) },
      output: { outputTokenCount: 0 },
    }),
  ]);
  await settle();
  const message = await messageFor(principal, 'suspended');
  const link = LINK.exec(message.message)?.[0];
  if (!link) throw new Error(`no link in the suspension message:\n${message.message}`);
  return { name, principal, link, message };
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
async function post(url: string, fields: Record<string, string>) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form(fields),
    redirect: 'manual',
  });
  return { status: response.status, html: await response.text() };
}
async function page(url: string, method = 'GET') {
  const response = await fetch(url, { method, redirect: 'manual' });
  return { status: response.status, html: await response.text(), headers: response.headers };
}
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

async function signingKey(): Promise<string> {
  const secrets = new SecretsManagerClient(local.clientConfig);
  const { SecretList = [] } = await secrets.send(new ListSecretsCommand({}));
  const arn = SecretList.find((s) => s.Name?.includes('SigningKey'))?.ARN;
  const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
  return SecretString ?? '';
}

describe('approval links on the local stack (real function URL, real workflows)', () => {
  it('a GET changes nothing (twice); the POST of raise raises the limit, lifts the deny and is audited; the link is then spent', async () => {
    const { name, principal, link, message } = await suspended('1', 2);
    expect(message.message).toContain('Raise the limit by $0.25 (25%)');
    expect(message.message).not.toMatch(/AAAA|taskToken/); // never the task token
    const period = thisMonth();
    for (const _ of [1, 2]) {
      const shown = await page(link);
      expect(shown.status).toBe(200);
      expect(shown.html).toContain(principal);
      expect(shown.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(shown.headers.get('x-frame-options')).toBe('DENY');
      expect(shown.headers.get('referrer-policy')).toBe('no-referrer');
      expect(shown.headers.get('cache-control')).toBe('no-store');
    }
    expect(await userPolicy(name)).toBeDefined();
    expect((await store.ownLimit(principal))?.limitUsd.toFixed()).toBe('1');
    const id = /\/d\/([^?]+)/.exec(link)?.[1] ?? '';
    expect((await waits.get(id))?.decided).toBeUndefined();

    const { html } = await page(link);
    const decided = await post(link, {
      csrf: csrfOf(html),
      decision: 'raise',
      amountUsd: '2',
      reason: 'quarter-end batch',
      approver: 'dana@example.com',
    });
    expect(decided.status).toBe(200);
    expect(decided.html).toContain('The limit is now 3 USD');
    await eventually('the lift', async () => ((await userPolicy(name)) === undefined ? true : undefined));
    expect((await store.ownLimit(principal))?.limitUsd.toFixed()).toBe('3');
    await eventually('the principal active', async () =>
      (await item('BudgetsTableName', { principal, period }))?.state === 'active' ? true : undefined,
    );

    // The lift step audits deny.lifted after it removed the policy and marked the principal active.
    const entries = await eventually('deny.lifted audited', async () => {
      const all = await actionsFor(principal);
      return all.some((e) => e.action === 'deny.lifted') ? all : undefined;
    });
    const actions = entries.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['override.requested', 'override.approved', 'deny.lifted']));
    expect(actions.filter((a) => a === 'override.approved')).toHaveLength(1);
    expect(entries.find((e) => e.action === 'override.approved')).toMatchObject({
      actor: `link:${id}`,
      details: expect.objectContaining({
        decision: 'raise',
        approver: 'dana@example.com',
        reason: 'quarter-end batch',
        amountUsd: '2',
        approvalId: id,
        limitFromUsd: '1',
        limitToUsd: '3',
        via: 'link',
      }),
    });
    expect(JSON.stringify(entries)).not.toContain('taskToken');
    const again = await page(link);
    expect(again.status).toBe(409);
    expect(again.html).toContain('Already decided: raise');
    expect(again.html).toContain('dana@example.com');
    expect((await post(link, { csrf: csrfOf(html), decision: 'lift', reason: 'x', approver: 'y' })).status).toBe(409);
    expect((await audit.verify(principal)).ok).toBe(true);
  }, 90_000);

  it('refuses forged, unknown, expired, wrong-method, unverified and misfit requests with a page, changing nothing', async () => {
    const { name, link } = await suspended('1', 2);
    const id = /\/d\/([^?]+)/.exec(link)?.[1] ?? '';
    const base = link.slice(0, link.indexOf('/d/'));
    const key = await signingKey();
    const altered = link.replace(/s=([A-Za-z0-9_-])/, (_, c) => `s=${c === 'A' ? 'B' : 'A'}`);
    expect((await page(altered)).status).toBe(403);
    expect((await page(link.replace(/e=(\d+)/, (_, e) => `e=${Number(e) + 3600}`))).status).toBe(403);
    expect(
      (await page(approvalUrl(base, key, 'NoSuchDecision1', new Date(Date.now() + 3_600_000).toISOString()))).status,
    ).toBe(404);
    expect((await page(approvalUrl(base, key, id, new Date(Date.now() - 1000).toISOString()))).status).toBe(410);
    expect((await page(link, 'PUT')).status).toBe(405);
    const { html } = await page(link);
    expect((await post(link, { decision: 'lift', reason: 'r', approver: 'a' })).status).toBe(403);
    expect((await post(link, { csrf: 'x'.repeat(43), decision: 'lift', reason: 'r', approver: 'a' })).status).toBe(403);
    expect((await post(link, { csrf: csrfOf(html), decision: 'resume', reason: 'r', approver: 'a' })).status).toBe(400);
    const noReason = await post(link, { csrf: csrfOf(html), decision: 'lift', reason: ' ', approver: 'a' });
    expect(noReason.status).toBe(400);
    expect(noReason.html).toContain('a reason is required');
    expect((await waits.get(id))?.decided).toBeUndefined();
    expect(await userPolicy(name)).toBeDefined();
  }, 90_000);

  it('lift by link: the deny is removed and no suspension follows this period; two concurrent POSTs: exactly one wins', async () => {
    const { name, principal, link } = await suspended('1', 2);
    const { html } = await page(link);
    const fields = { csrf: csrfOf(html), decision: 'lift', reason: 'demo day', approver: 'erin' };
    const results = await Promise.all([post(link, fields), post(link, { ...fields, approver: 'frank' })]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    await eventually('the lift', async () => ((await userPolicy(name)) === undefined ? true : undefined));
    const counter = await item('BudgetsTableName', { principal, period: thisMonth() });
    expect(counter?.lifted).toMatchObject({ reason: 'demo day' });
    const approved = (await actionsFor(principal)).filter((e) => e.action === 'override.approved');
    expect(approved).toHaveLength(1);
  }, 90_000);

  it('keep by link: still suspended, audited as override.denied, the link spent; an admin can still lift from the CLI', async () => {
    const { name, principal, link } = await suspended('1', 2);
    const id = /\/d\/([^?]+)/.exec(link)?.[1] ?? '';
    const { html } = await page(link);
    const kept = await post(link, {
      csrf: csrfOf(html),
      decision: 'keep',
      reason: 'over budget twice',
      approver: 'gus',
    });
    expect(kept.status).toBe(200);
    await messageFor(principal, 'override-kept');
    expect(await userPolicy(name)).toBeDefined();
    expect((await actionsFor(principal)).find((e) => e.action === 'override.denied')).toMatchObject({
      actor: `link:${id}`,
      details: expect.objectContaining({ decision: 'keep', approver: 'gus', reason: 'over budget twice' }),
    });
    expect((await page(link)).status).toBe(409);

    const { admin, close } = adminActionsFor(documents, target);
    try {
      await admin.lift(principal, thisMonth(), ADMIN, 'after all');
    } finally {
      close();
    }
    await eventually('the lift', async () => ((await userPolicy(name)) === undefined ? true : undefined));
  }, 90_000);

  it('emergency stop: resume by link, and by `budgeteer override` from the CLI', async () => {
    for (const via of ['link', 'cli'] as const) {
      const period = isolatedMonth();
      const { admin, close } = adminActionsFor(documents, target);
      try {
        await admin.emergencyStop(period, ADMIN, `drill by ${via}`);
      } finally {
        close();
      }
      const message = await eventually('the stop message', async () => {
        seen.push(...(await inbox.read()));
        return seen.find((m) => m.attributes.kind === 'emergency-stop' && m.attributes.period === period);
      });
      const link = LINK.exec(message.message)?.[0] ?? '';
      expect(message.message).toContain('Resume Bedrock use');
      const id = /\/d\/([^?]+)/.exec(link)?.[1] ?? '';
      if (via === 'link') {
        const { html } = await page(link);
        expect(html).toContain('Emergency stop');
        const done = await post(link, {
          csrf: csrfOf(html),
          decision: 'resume',
          reason: 'drill over',
          approver: 'hana',
        });
        expect(done.status).toBe(200);
      } else {
        const cli = approvalsFor(documents, target);
        try {
          const pending = await cli.approvals.pending();
          expect(pending.map((w) => w.id)).toContain(id);
          await cli.approvals.decide(id, { decision: 'resume', reason: 'drill over', approver: ADMIN, via: 'cli' });
        } finally {
          cli.close();
        }
      }
      await eventually('the account active', async () =>
        (await item('BudgetsTableName', { principal: 'ACCOUNT', period }))?.state === 'active' ? true : undefined,
      );
      const actions = await eventually('the resume audited', async () => {
        const all = (await actionsFor('ACCOUNT')).filter((e) => e.period === period).map((e) => e.action);
        return all.includes('emergency-stop.resumed') ? all : undefined;
      });
      expect(actions).toEqual([
        'emergency-stop.started',
        'override.requested',
        'override.approved',
        'emergency-stop.resumed',
      ]);
    }
  }, 120_000);
});
