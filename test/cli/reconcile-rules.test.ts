import { billOfDay, formatReconciliation, identityRulesOf } from '../../cli/reconcile';
import { usd } from '../../shared/money';
import { meteredOf, reconcile } from '../../shared/reconcile/reconcile';

const rules = { perSessionRoles: [] };

const target = (outputs: Record<string, string>) => ({ clientConfig: {}, outputs });

describe('reconcile names a bill as the deployment names principals', () => {
  it("reads the deployment's per-session role patterns from its PerSessionRoles output", () => {
    expect(identityRulesOf(target({ PerSessionRoles: '["AWSReservedSSO_*","ci-runner-*"]' }))).toEqual({
      perSessionRoles: ['AWSReservedSSO_*', 'ci-runner-*'],
    });
  });

  it("names an organization's other accounts' principals by account, as its ingest does", () => {
    const central = target({ OrganizationId: 'o-a1b2c3d4e5', AccountId: '111122223333' });

    expect(identityRulesOf(central)).toEqual({ perSessionRoles: ['AWSReservedSSO_*'], homeAccount: '111122223333' });
    expect(identityRulesOf(target({ AccountId: '111122223333' }))).toEqual({ perSessionRoles: ['AWSReservedSSO_*'] });
  });

  it('takes the default for a stack from before the output, and refuses an output that is no list of patterns', () => {
    expect(identityRulesOf(target({}))).toEqual({ perSessionRoles: ['AWSReservedSSO_*'] });
    expect(() => identityRulesOf(target({ PerSessionRoles: '{"a":1}' }))).toThrow(
      'the stack output PerSessionRoles is not a JSON list of role name patterns',
    );
  });
});

describe('reconcile prints metered, billed and difference per principal and model', () => {
  const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
  const line = (arn: string, model: string | null, billedAs: string | null, amount: string) => ({
    arn: `arn:aws:iam::111122223333:user/${arn}`,
    model,
    billedAs,
    usd: usd(amount),
  });

  it('shows each model under its principal, marks drift, and says where the bill names no model', () => {
    const metered = meteredOf([
      { principal: 'user/ann', model: HAIKU, costUsd: usd('1') },
      { principal: 'user/ben', model: HAIKU, costUsd: usd('2') },
    ]);
    const bill = [
      line('ann', HAIKU, 'Claude 3 Haiku (Amazon Bedrock Edition)', '1.5'),
      line('ben', null, 'Amazon Bedrock', '2'),
    ];

    const text = formatReconciliation(reconcile('2026-11-30', metered, bill, rules), usd('0.01'));

    expect(text.split('\n')).toEqual([
      '2026-11-30: metered against billed per principal and model (USD), tolerance 0.01',
      'principal / model                         metered  billed  difference',
      'user/ann                                        1     1.5         0.5  drift',
      `  ${HAIKU}        1     1.5         0.5`,
      'user/ben                                        2       2           0',
      `  ${HAIKU}        2       -           -`,
      '  (no model: billed as Amazon Bedrock)          -       2           -',
      'The bill names no model for some cost of user/ben: their models are not met (-).',
      '',
    ]);
  });

  it('without a bill file, reads the saved Cost Explorer answer locally, and asks for a group for a deployed stack', async () => {
    const local = { clientConfig: { endpoint: 'http://127.0.0.1:4566' }, outputs: {} };
    const bill = await billOfDay(local, '2094-06-15', undefined);
    expect(bill.map((l) => l.arn)).toEqual([
      'arn:aws:iam::111122223333:user/recon-match',
      'arn:aws:iam::111122223333:user/recon-drift',
    ]);
    await expect(billOfDay(target({}), '2094-06-15', undefined)).rejects.toThrow(/--group TAG:<key>/);
    await expect(billOfDay(target({}), '2094-06-15', 'iamPrincipal/arn')).rejects.toThrow(
      /Cost Explorer: not a Cost Explorer group/,
    );
  });
});
