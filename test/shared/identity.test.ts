import { principalFromArn } from '../../shared/identity';

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
