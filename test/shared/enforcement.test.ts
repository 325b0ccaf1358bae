import {
  checkSize,
  DENIED_ACTIONS,
  type DenyEntity,
  type DenyHold,
  denyPolicy,
  denyStatements,
  INLINE_POLICY_LIMITS,
  mergeIntoInlinePolicy,
  PolicySizeError,
  PROFILE_ACTIONS,
  policySize,
} from '../../shared/enforcement/policy';
import { enforcementTarget, entityKey, type ProtectionRules } from '../../shared/enforcement/target';

const ACCOUNT = '111122223333';
const SSO_ROLE = 'AWSReservedSSO_DataScience_0123456789abcdef';
const protection: ProtectionRules = {
  accountId: ACCOUNT,
  breakGlassArns: [`arn:aws:iam::${ACCOUNT}:role/ops/BreakGlass`, `arn:aws:iam::${ACCOUNT}:user/emergency-admin`],
  systemRolePatterns: ['BudgeteerStack-*'],
};
const role: DenyEntity = { kind: 'role', name: 'shared-notebook' };
const user: DenyEntity = { kind: 'user', name: 'alice' };

/** `count` distinct sessions of one role, each its own hold. */
const sessionHolds = (count: number): DenyHold[] =>
  Array.from({ length: count }, (_, i) => ({ holder: `suspend:exec-${i}`, session: `AROAEXAMPLE:person-${i}` }));

describe('enforcement target', () => {
  it('denies an IAM user on the user itself', () => {
    expect(
      enforcementTarget({ id: 'user/alice', arn: `arn:aws:iam::${ACCOUNT}:user/alice` }, protection, false),
    ).toEqual({ status: 'deny', entity: { kind: 'user', name: 'alice' } });
  });

  it('denies a Bedrock API key user on that user (the key acts as it)', () => {
    expect(
      enforcementTarget(
        { id: 'user/BedrockAPIKey-4xq9', arn: `arn:aws:iam::${ACCOUNT}:user/BedrockAPIKey-4xq9` },
        protection,
        false,
      ),
    ).toEqual({ status: 'deny', entity: { kind: 'user', name: 'BedrockAPIKey-4xq9' } });
  });

  it('denies a role budgeted as a whole on the role, with no session scope', () => {
    expect(
      enforcementTarget(
        { id: 'role/summarizer-app', arn: `arn:aws:iam::${ACCOUNT}:role/summarizer-app` },
        protection,
        false,
      ),
    ).toEqual({ status: 'deny', entity: { kind: 'role', name: 'summarizer-app' } });
  });

  it('scopes a per-session role principal to its session on the role', () => {
    expect(enforcementTarget({ id: 'role/shared-notebook/maria' }, protection, false)).toEqual({
      status: 'deny',
      entity: { kind: 'role', name: 'shared-notebook' },
      session: { roleName: 'shared-notebook', sessionName: 'maria' },
    });
  });

  it('keeps an SSO session on its AWSReservedSSO_ role when Identity Center is not configured', () => {
    expect(enforcementTarget({ id: `role/${SSO_ROLE}/maria@example.com` }, protection, false)).toEqual({
      status: 'deny',
      entity: { kind: 'role', name: SSO_ROLE },
      session: { roleName: SSO_ROLE, sessionName: 'maria@example.com' },
    });
  });

  it('moves an SSO session to its permission set when Identity Center is configured', () => {
    expect(enforcementTarget({ id: `role/${SSO_ROLE}/maria@example.com` }, protection, true)).toEqual({
      status: 'deny',
      entity: { kind: 'permission-set', name: 'DataScience' },
      session: { roleName: SSO_ROLE, sessionName: 'maria@example.com' },
    });
  });

  it('leaves a role that only looks like an SSO role on the role even with Identity Center', () => {
    expect(enforcementTarget({ id: 'role/AWSReservedSSO_DataScience_nothex' }, protection, true)).toEqual({
      status: 'deny',
      entity: { kind: 'role', name: 'AWSReservedSSO_DataScience_nothex' },
    });
  });

  it('refuses a federated user, which has no IAM entity of its own', () => {
    expect(
      enforcementTarget(
        { id: 'federated-user/bob', arn: `arn:aws:sts::${ACCOUNT}:federated-user/bob` },
        protection,
        false,
      ),
    ).toMatchObject({ status: 'unsupported', reason: expect.stringContaining('federated user') });
  });

  it('refuses an id it cannot map to an IAM entity', () => {
    expect(enforcementTarget({ id: 'role/a/b/c' }, protection, false)).toMatchObject({ status: 'unsupported' });
  });

  it('never denies the account root, by id or by ARN', () => {
    expect(enforcementTarget({ id: 'root' }, protection, false)).toMatchObject({ status: 'protected' });
    expect(
      enforcementTarget({ id: 'user/whatever', arn: `arn:aws:iam::${ACCOUNT}:root` }, protection, false),
    ).toMatchObject({ status: 'protected', reason: expect.stringContaining('root') });
  });

  it('never denies a break-glass user named by its ARN', () => {
    expect(
      enforcementTarget(
        { id: 'user/emergency-admin', arn: `arn:aws:iam::${ACCOUNT}:user/emergency-admin` },
        protection,
        false,
      ),
    ).toMatchObject({ status: 'protected', reason: expect.stringContaining('break-glass') });
  });

  it('never denies a break-glass role (with a path) nor any session of it', () => {
    expect(enforcementTarget({ id: 'role/BreakGlass' }, protection, false)).toMatchObject({ status: 'protected' });
    expect(
      enforcementTarget(
        { id: 'role/BreakGlass/oncall', arn: `arn:aws:sts::${ACCOUNT}:assumed-role/BreakGlass/oncall` },
        protection,
        false,
      ),
    ).toMatchObject({ status: 'protected' });
  });

  it('does not protect a role of the same name in another account', () => {
    expect(
      enforcementTarget({ id: 'role/BreakGlass', arn: `arn:aws:iam::444455556666:role/BreakGlass` }, protection, false),
    ).toMatchObject({ status: 'deny' });
  });

  it('never denies the stack’s own roles, matched by pattern, nor their sessions', () => {
    expect(enforcementTarget({ id: 'role/BudgeteerStack-SuspendFn-1AB2' }, protection, false)).toMatchObject({
      status: 'protected',
    });
    expect(enforcementTarget({ id: 'role/BudgeteerStack-SuspendFn-1AB2/s1' }, protection, false)).toMatchObject({
      status: 'protected',
    });
    expect(enforcementTarget({ id: 'role/OtherStack-Fn' }, protection, false)).toMatchObject({ status: 'deny' });
  });

  it('keys one deny record per entity', () => {
    expect(entityKey({ kind: 'permission-set', name: 'DataScience' })).toBe('DENY#permission-set/DataScience');
  });
});

describe('enforcement target in an organization', () => {
  const MEMBER = '222233334444';
  const OTHER = '555566667777';
  const organization: ProtectionRules = {
    ...protection,
    organization: true,
    breakGlassArns: [...protection.breakGlassArns, `arn:aws:iam::${MEMBER}:role/Emergency`],
  };
  const deny = (id: string, rules = organization, arn?: string) =>
    enforcementTarget({ id, ...(arn ? { arn } : {}) }, rules, false);

  it('denies a member account principal in its own account, named by the qualified id', () => {
    expect(deny(`${MEMBER}:user/alice`)).toEqual({
      status: 'deny',
      entity: { kind: 'user', name: 'alice', account: MEMBER },
    });
    expect(deny(`${MEMBER}:role/notebook/maria`)).toEqual({
      status: 'deny',
      entity: { kind: 'role', name: 'notebook', account: MEMBER },
      session: { roleName: 'notebook', sessionName: 'maria', account: MEMBER },
    });
  });

  it('leaves a principal of the deployment’s own account (unqualified, or qualified with it) unnamed', () => {
    expect(deny('user/alice')).toEqual({ status: 'deny', entity: { kind: 'user', name: 'alice' } });
    expect(deny(`${ACCOUNT}:user/alice`)).toEqual({ status: 'deny', entity: { kind: 'user', name: 'alice' } });
  });

  it('never denies the root of any account, by qualified id or by ARN', () => {
    expect(deny(`${MEMBER}:root`)).toMatchObject({ status: 'protected' });
    expect(deny(`${MEMBER}:user/x`, organization, `arn:aws:iam::${MEMBER}:root`)).toMatchObject({
      status: 'protected',
    });
  });

  it('never denies the member stacks’ and StackSet roles in a member account, nor their sessions', () => {
    for (const id of [
      `${MEMBER}:role/BudgeteerMember-Enforcement`,
      `${MEMBER}:role/BudgeteerMember-EventForwarding/s1`,
      `${MEMBER}:role/stacksets-exec-0123456789abcdef0123456789abcdef`,
    ]) {
      expect(deny(id)).toMatchObject({ status: 'protected' });
    }
  });

  it("denies a member account's role named like the system's but not one of them: a member's users may create roles", () => {
    for (const id of [
      `${MEMBER}:role/BudgeteerMember-Anything`,
      `${MEMBER}:role/stacksets-exec-mine`,
      // The central stack's role names are the budget account's: the same name in a member account is another role.
      `${MEMBER}:role/BudgeteerStack-SuspendFn-1AB2`,
    ]) {
      expect(deny(id)).toMatchObject({ status: 'deny' });
    }
    expect(deny('role/BudgeteerStack-SuspendFn-1AB2')).toMatchObject({ status: 'protected' });
  });

  it('protects the member stacks’ role names only in an organization deployment', () => {
    expect(deny('role/BudgeteerMember-Enforcement', protection)).toMatchObject({ status: 'deny' });
  });

  it('protects a break-glass role in its own account only: the same name elsewhere is another role', () => {
    expect(deny(`${MEMBER}:role/Emergency`)).toMatchObject({ status: 'protected' });
    expect(deny(`${MEMBER}:role/Emergency/maria`)).toMatchObject({ status: 'protected' });
    expect(deny(`${OTHER}:role/Emergency`)).toEqual({
      status: 'deny',
      entity: { kind: 'role', name: 'Emergency', account: OTHER },
    });
    // The home account's break-glass role is not protected in a member account either.
    expect(deny(`${MEMBER}:role/BreakGlass`)).toMatchObject({ status: 'deny' });
  });

  it('protects a break-glass user by its name in its own account, without the ARN', () => {
    const rules = { ...organization, breakGlassArns: [`arn:aws:iam::${MEMBER}:user/admins/emergency`] };
    expect(deny(`${MEMBER}:user/emergency`, rules)).toMatchObject({ status: 'protected' });
    expect(deny(`${OTHER}:user/emergency`, rules)).toMatchObject({ status: 'deny' });
  });

  it('denies a member account’s SSO session on its permission set (no one account’s), scoped to its account’s role', () => {
    expect(enforcementTarget({ id: `${MEMBER}:role/${SSO_ROLE}/maria@example.com` }, organization, true)).toEqual({
      status: 'deny',
      entity: { kind: 'permission-set', name: 'DataScience' },
      session: { roleName: SSO_ROLE, sessionName: 'maria@example.com', account: MEMBER },
    });
  });

  it('keys a member account entity’s deny record by its account, apart from the same name at home', () => {
    expect(entityKey({ kind: 'user', name: 'alice', account: MEMBER })).toBe(`DENY#${MEMBER}:user/alice`);
    expect(entityKey({ kind: 'user', name: 'alice' })).toBe('DENY#user/alice');
  });
});

describe('deny policy', () => {
  it('denies every Bedrock inference entry point, API keys and the mantle endpoint included', () => {
    expect(DENIED_ACTIONS).toEqual(
      expect.arrayContaining([
        'bedrock:InvokeModel',
        'bedrock:InvokeModelWithResponseStream',
        'bedrock:InvokeModelWithBidirectionalStream',
        'bedrock:StartAsyncInvoke',
        'bedrock:CreateModelInvocationJob',
        'bedrock:InvokeAgent',
        'bedrock:RetrieveAndGenerate',
        'bedrock:InvokeFlow',
        'bedrock:CallWithBearerToken',
        'bedrock-mantle:CreateInference',
      ]),
    );
  });

  it('is a single explicit Deny on the whole entity for a whole-entity hold', () => {
    expect(denyPolicy(user, [{ holder: 'suspend:e1' }])).toEqual({
      Version: '2012-10-17',
      Statement: [{ Sid: 'BudgeteerDenyAll', Effect: 'Deny', Action: [...DENIED_ACTIONS], Resource: '*' }],
    });
  });

  it('denies only the resources a scoped hold names (a group of profiles), for the actions that take them', () => {
    const profile = 'arn:aws:bedrock:*:111122223333:application-inference-profile/abc123';
    const statements = denyStatements([
      { holder: 'stop:a|user/x', resources: [profile] },
      // The same scope held twice is one statement; a session's scope is its own.
      { holder: 'stop:b|user/x', resources: [profile] },
      { holder: 'stop:c|role/r/s', session: 'AROAEXAMPLE:s', resources: [profile] },
    ]);
    // In a fixed order (by scope, then session), so the same holds always write the same document.
    expect(statements).toEqual([
      expect.objectContaining({
        Action: [...PROFILE_ACTIONS],
        Resource: [profile],
        Condition: { StringLike: { 'aws:userid': 'AROAEXAMPLE:s' } },
      }),
      expect.objectContaining({ Action: [...PROFILE_ACTIONS], Resource: [profile] }),
    ]);
    expect(statements[1]).not.toHaveProperty('Condition');
    expect(statements.every((st) => /^BudgeteerScoped[0-9a-f]{16}$/.test(st.Sid))).toBe(true);
    expect(statements.map((st) => st.Action)).not.toContainEqual(
      expect.arrayContaining(['bedrock:CallWithBearerToken']),
    );
  });

  it('drops a scoped hold beside a whole-entity one: everything is denied already', () => {
    const held = [{ holder: 'suspend:e1' }, { holder: 'stop:a|user/x', resources: ['arn:aws:bedrock:*:1:x/y'] }];
    expect(denyStatements(held)).toEqual([
      { Sid: 'BudgeteerDenyAll', Effect: 'Deny', Action: [...DENIED_ACTIONS], Resource: '*' },
    ]);
  });

  it('is absent when nothing is held, so the policy is deleted', () => {
    expect(denyPolicy(user, [])).toBeUndefined();
  });

  it('scopes a session hold with aws:userid and a Budgeteer Sid', () => {
    const [statement, ...rest] = denyStatements([{ holder: 'suspend:e1', session: 'AROAEXAMPLE:maria' }]);
    expect(rest).toEqual([]);
    expect(statement).toMatchObject({
      Sid: expect.stringMatching(/^BudgeteerSession[0-9a-f]{16}$/),
      Effect: 'Deny',
      Action: [...DENIED_ACTIONS],
      Resource: '*',
      Condition: { StringLike: { 'aws:userid': 'AROAEXAMPLE:maria' } },
    });
  });

  it('adds a second session beside the first and removes either without touching the other', () => {
    const maria = { holder: 'suspend:e1', session: 'AROAEXAMPLE:maria' };
    const li = { holder: 'suspend:e2', session: 'AROAEXAMPLE:li' };
    const [mariaOnly] = denyStatements([maria]);
    const [liOnly] = denyStatements([li]);

    const both = denyStatements([maria, li]);

    expect(both).toHaveLength(2);
    expect(both).toEqual(expect.arrayContaining([mariaOnly, liOnly]));
    expect(denyStatements([li])).toEqual([liOnly]);
    expect(denyStatements([maria])).toEqual([mariaOnly]);
  });

  it('writes the same document whatever order the holds come in, and one statement per session', () => {
    const holds = [
      { holder: 'suspend:e1', session: 'AROAEXAMPLE:zed' },
      { holder: 'suspend:e2', session: 'AROAEXAMPLE:amy' },
      { holder: 'stop:s1', session: 'AROAEXAMPLE:zed' },
    ];

    const forward = denyPolicy(role, holds);
    const backward = denyPolicy(role, [...holds].reverse());

    expect(JSON.stringify(forward)).toBe(JSON.stringify(backward));
    expect(forward?.Statement.map((s) => s.Condition?.StringLike['aws:userid'])).toEqual([
      'AROAEXAMPLE:amy',
      'AROAEXAMPLE:zed',
    ]);
  });

  it('denies the whole entity, with no session statements, once any hold is for the whole entity', () => {
    const statements = denyStatements([{ holder: 'suspend:e1', session: 'AROAEXAMPLE:maria' }, { holder: 'stop:s1' }]);

    expect(statements).toEqual([expect.objectContaining({ Sid: 'BudgeteerDenyAll' })]);
    expect(statements[0]?.Condition).toBeUndefined();
  });

  it('counts size as IAM does and accepts a document exactly at the limit', () => {
    const document = { x: 'a'.repeat(INLINE_POLICY_LIMITS.user - 8) };
    expect(policySize(document)).toBe(INLINE_POLICY_LIMITS.user);

    expect(() => checkSize(user, document, 0)).not.toThrow();
    expect(() => checkSize(user, document, 1)).toThrow(PolicySizeError);
  });

  it('refuses a user deny over 2,048 characters, counting the user’s other inline policies', () => {
    const document = denyPolicy(user, [{ holder: 'suspend:e1' }]);
    const size = policySize(document);

    expect(() => checkSize(user, document, INLINE_POLICY_LIMITS.user - size)).not.toThrow();
    expect(() => checkSize(user, document, INLINE_POLICY_LIMITS.user - size + 1)).toThrow(
      expect.objectContaining({ name: 'PolicySizeError', message: expect.stringContaining('2048') }),
    );
  });

  it('refuses a role deny whose session statements pass 10,240 characters, and accepts one fewer', () => {
    let fits = 1;
    while (policySize({ Version: '2012-10-17', Statement: denyStatements(sessionHolds(fits + 1)) }) <= 10_240) fits++;

    expect(() => denyPolicy(role, sessionHolds(fits))).not.toThrow();
    expect(() => denyPolicy(role, sessionHolds(fits + 1))).toThrow(PolicySizeError);
    expect(() => denyPolicy(role, sessionHolds(fits + 1))).toThrow(/10240/);
  });

  it('gives a user the 2,048 limit and a role the 10,240 limit for the same document', () => {
    const holds = sessionHolds(5);
    expect(policySize({ Version: '2012-10-17', Statement: denyStatements(holds) })).toBeGreaterThan(2048);

    expect(() => denyPolicy(user, holds)).toThrow(PolicySizeError);
    expect(() => denyPolicy(role, holds)).not.toThrow();
  });
});

describe('permission set inline policy merge', () => {
  const permissionSet: DenyEntity = { kind: 'permission-set', name: 'DataScience' };
  const theirs = {
    Sid: 'AllowS3Read',
    Effect: 'Allow',
    Action: ['s3:GetObject'],
    Resource: '*',
  };
  const unnamed = { Effect: 'Deny', Action: 'ec2:*', Resource: '*' };
  const hold = { holder: 'suspend:e1', session: '*:maria@example.com' };

  it('adds our statements after the organization’s, which stay as they were', () => {
    const merged = mergeIntoInlinePolicy(
      JSON.stringify({ Version: '2012-10-17', Statement: [theirs, unnamed] }),
      permissionSet,
      [hold],
    );

    expect(JSON.parse(merged ?? '')).toEqual({
      Version: '2012-10-17',
      Statement: [theirs, unnamed, ...denyStatements([hold])],
    });
  });

  it('removes only Budgeteer statements when the holds are released', () => {
    const withOurs = mergeIntoInlinePolicy(
      JSON.stringify({ Version: '2012-10-17', Statement: [theirs] }),
      permissionSet,
      [hold],
    );

    const released = mergeIntoInlinePolicy(withOurs, permissionSet, []);

    expect(JSON.parse(released ?? '')).toEqual({ Version: '2012-10-17', Statement: [theirs] });
  });

  it('replaces our old statements rather than adding to them', () => {
    const first = mergeIntoInlinePolicy(undefined, permissionSet, [hold]);
    const second = mergeIntoInlinePolicy(first, permissionSet, [hold, { holder: 'suspend:e2', session: '*:li' }]);

    expect(JSON.parse(second ?? '').Statement).toEqual(
      denyStatements([hold, { holder: 'suspend:e2', session: '*:li' }]),
    );
    expect(mergeIntoInlinePolicy(second, permissionSet, [hold])).toBe(first);
  });

  it('keeps a single (non-array) foreign statement', () => {
    const merged = mergeIntoInlinePolicy(JSON.stringify({ Version: '2012-10-17', Statement: theirs }), permissionSet, [
      hold,
    ]);

    expect(JSON.parse(merged ?? '').Statement[0]).toEqual(theirs);
  });

  it('is undefined (delete the policy) when only our statements were there and none are held', () => {
    const ours = mergeIntoInlinePolicy(undefined, permissionSet, [hold]);

    expect(mergeIntoInlinePolicy(ours, permissionSet, [])).toBeUndefined();
    expect(mergeIntoInlinePolicy(undefined, permissionSet, [])).toBeUndefined();
  });

  it('refuses a merge that passes the permission set’s limit, counting the foreign statements', () => {
    const big = { Sid: 'Big', Effect: 'Allow', Action: ['s3:GetObject'], Resource: 'x'.repeat(10_000) };

    expect(() =>
      mergeIntoInlinePolicy(JSON.stringify({ Version: '2012-10-17', Statement: [big] }), permissionSet, [hold]),
    ).toThrow(PolicySizeError);
  });
});
