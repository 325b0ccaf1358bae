import { CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { callAdmin } from '../../cli/admin-client';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { usd } from '../../shared/money';
import { signedFetch } from '../../shared/sigv4-fetch';
import { documents, identityFor, local, output, unique } from './support';

/**
 * Door 1 on the local stack: the admin function behind an AWS_IAM function URL is the only way to change a budget,
 * and who acts is whoever signed the request.
 */
const audit = new AuditLog(documents, output('AuditTableName'));
const store = new BudgetStore(documents, output('BudgetsTableName'), {
  configuredDefault: usd('50'),
  configuredAccount: usd('1000'),
});
const target = { clientConfig: local.clientConfig, outputs: local.outputs };
const iam = new IAMClient(local.clientConfig);

async function entriesOf(subject: string) {
  const entries = [];
  for await (const entry of audit.query({ subject })) entries.push(entry);
  return entries;
}

describe('the admin function on the local stack (AWS_IAM function URL, SigV4 checked)', () => {
  it('an admin raises a limit: the audit entry names the ARN that signed, whatever the body or environment says', async () => {
    const principal = `user/adm-${unique()}`;
    process.env.BUDGETEER_ACTOR = 'arn:aws:iam::123456789012:user/mallory'; // no longer honoured by anything
    try {
      const reply = await callAdmin(target, { action: 'budget set', principal, limitUsd: '75.5' }, local.admin);
      expect(reply.result).toMatchObject({ principal, limitUsd: '75.5', setBy: local.admin.arn });
    } finally {
      delete process.env.BUDGETEER_ACTOR;
    }
    expect((await store.ownLimit(principal))?.limitUsd.toFixed()).toBe('75.5');
    expect(await entriesOf(principal)).toEqual([
      expect.objectContaining({
        action: 'budget.limit-set',
        actor: local.admin.arn,
        details: expect.objectContaining({
          limitUsd: '75.5',
          sourceIp: expect.any(String),
          userAgent: expect.any(String),
        }),
      }),
    ]);
  });

  it('alice, signing with her own keys, cannot raise her own limit: refused and audited as admin.refused', async () => {
    const name = `alice-${unique()}`;
    const principal = `user/${name}`;
    await iam.send(new CreateUserCommand({ UserName: name }));
    const alice = await identityFor(name);

    await expect(callAdmin(target, { action: 'budget set', principal, limitUsd: '1000' }, alice)).rejects.toThrow(
      /is not an admin of this deployment/,
    );
    expect(await store.ownLimit(principal)).toBeUndefined();
    expect(await entriesOf(principal)).toEqual([
      expect.objectContaining({
        action: 'admin.refused',
        actor: alice.arn,
        details: expect.objectContaining({ request: 'budget set', limitUsd: '1000' }),
      }),
    ]);
  });

  it('the local admin cannot change their own limit either', async () => {
    await expect(
      callAdmin(target, { action: 'budget set', principal: 'user/budgeteer-admin', limitUsd: '1000' }, local.admin),
    ).rejects.toThrow(/nobody may change their own limit: user\/budgeteer-admin is the caller/);
  });

  it('refuses an unsigned request (403) and one signed by an unknown key, and changes nothing', async () => {
    const principal = `user/adm-${unique()}`;
    const body = JSON.stringify({ action: 'budget set', principal, limitUsd: '5' });
    const unsigned = await fetch(output('AdminUrl'), { method: 'POST', body });
    expect(unsigned.status).toBe(403);
    const forged = await signedFetch(output('AdminUrl'), {
      method: 'POST',
      body,
      region: local.clientConfig.region,
      credentials: { accessKeyId: 'AKIAFORGED0000000000', secretAccessKey: 'x'.repeat(40) },
    });
    expect(forged.status).toBe(403);
    expect(await store.ownLimit(principal)).toBeUndefined();
  });
});
