import { accountOfId, principalFromArn, qualifiedId, splitPrincipalId } from '../../shared/identity';

const rules = { perSessionRoles: ['AWSReservedSSO_*', 'shared-notebook'] };

describe('principal identity', () => {
  it('names an IAM user by user name, ignoring the path', () => {
    expect(principalFromArn('arn:aws:iam::111122223333:user/team/alice', rules)).toMatchObject({
      id: 'user/alice',
      kind: 'user',
      arn: 'arn:aws:iam::111122223333:user/team/alice',
      accountId: '111122223333',
    });
  });

  it('recognises a long-term Bedrock API key user', () => {
    expect(principalFromArn('arn:aws:iam::111122223333:user/BedrockAPIKey-4xq9', rules)).toMatchObject({
      id: 'user/BedrockAPIKey-4xq9',
      kind: 'api-key',
    });
  });

  it('budgets a role session per role by default and targets the role', () => {
    const principal = principalFromArn('arn:aws:sts::111122223333:assumed-role/summarizer-app/batch-worker-7', rules);
    expect(principal).toMatchObject({
      id: 'role/summarizer-app',
      kind: 'role',
      arn: 'arn:aws:iam::111122223333:role/summarizer-app',
    });
  });

  it('keeps the role path when the event carries the role ARN', () => {
    const principal = principalFromArn(
      'arn:aws:sts::111122223333:assumed-role/summarizer-app/s1',
      rules,
      'arn:aws:iam::111122223333:role/apps/summarizer-app',
    );
    expect(principal.arn).toBe('arn:aws:iam::111122223333:role/apps/summarizer-app');
  });

  it('budgets SSO permission-set sessions per human', () => {
    const arn =
      'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_DataScientist_0123456789abcdef/maria@example.com';
    expect(principalFromArn(arn, rules)).toMatchObject({
      id: 'role/AWSReservedSSO_DataScientist_0123456789abcdef/maria@example.com',
      kind: 'session',
      arn,
      sessionName: 'maria@example.com',
    });
  });

  it('budgets sessions of a role configured as per-session', () => {
    expect(principalFromArn('arn:aws:sts::111122223333:assumed-role/shared-notebook/bob', rules).id).toBe(
      'role/shared-notebook/bob',
    );
    expect(principalFromArn('arn:aws:sts::111122223333:assumed-role/shared-notebook-2/bob', rules).id).toBe(
      'role/shared-notebook-2',
    );
  });

  it('recognises the account root', () => {
    expect(principalFromArn('arn:aws:iam::111122223333:root', rules)).toMatchObject({ id: 'root', kind: 'root' });
  });

  it.each([
    ['not an ARN', 'alice'],
    ['a non-principal ARN', 'arn:aws:s3:::bucket/key'],
    ['a role ARN rather than a session', 'arn:aws:iam::111122223333:group/admins'],
  ])('refuses %s', (_, arn) => {
    expect(() => principalFromArn(arn, rules)).toThrow(/ARN/);
  });
});

describe('account-qualified identity (organization deployments)', () => {
  const home = { perSessionRoles: ['AWSReservedSSO_*'], homeAccount: '999988887777' };

  it('qualifies a principal of another account with that account, and keeps its ARN for enforcement', () => {
    expect(principalFromArn('arn:aws:iam::222233334444:user/alice', home)).toMatchObject({
      id: '222233334444:user/alice',
      accountId: '222233334444',
      arn: 'arn:aws:iam::222233334444:user/alice',
    });
    expect(
      principalFromArn('arn:aws:sts::222233334444:assumed-role/AWSReservedSSO_DS_0123456789abcdef/maria', home),
    ).toMatchObject({ id: '222233334444:role/AWSReservedSSO_DS_0123456789abcdef/maria', kind: 'session' });
    expect(principalFromArn('arn:aws:iam::222233334444:root', home).id).toBe('222233334444:root');
  });

  it("keeps the deployment's own account's principals unqualified, as a single account names them", () => {
    expect(principalFromArn('arn:aws:iam::999988887777:user/alice', home).id).toBe('user/alice');
  });

  it('never qualifies in a single account, whatever account the ARN names', () => {
    expect(principalFromArn('arn:aws:iam::222233334444:user/alice', rules).id).toBe('user/alice');
  });

  it('tells the same user in two accounts apart', () => {
    const a = principalFromArn('arn:aws:iam::222233334444:user/alice', home).id;
    const b = principalFromArn('arn:aws:iam::333344445555:user/alice', home).id;
    expect(a).not.toBe(b);
  });

  it('splits a qualified id into its account and its id within the account', () => {
    expect(splitPrincipalId('222233334444:role/app/s1')).toEqual({ account: '222233334444', local: 'role/app/s1' });
    expect(splitPrincipalId('role/app')).toEqual({ local: 'role/app' });
    expect(splitPrincipalId('GROUP#team')).toEqual({ local: 'GROUP#team' });
    expect(accountOfId('user/alice', '999988887777')).toBe('999988887777');
    expect(accountOfId(qualifiedId('222233334444', 'user/alice'), '999988887777')).toBe('222233334444');
  });
});
