import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteRolePolicyCommand,
  DeleteUserPolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  ListUserPoliciesCommand,
  NoSuchEntityException,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { SendTaskSuccessCommand, SFNClient, TaskTimedOut } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  DeleteInlinePolicyFromPermissionSetCommand,
  DescribePermissionSetCommand,
  GetInlinePolicyForPermissionSetCommand,
  ListPermissionSetsCommand,
  ProvisionPermissionSetCommand,
  PutInlinePolicyToPermissionSetCommand,
  SSOAdminClient,
} from '@aws-sdk/client-sso-admin';
import { DynamoDBDocumentClient, GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DenyStore,
  type DenyWriter,
  EnforcementError,
  IamDenyWriter,
  IdentityCenterDenyWriter,
} from '../../functions/suspend/deny';
import { type EnforcementInput, Enforcer } from '../../functions/suspend/suspend';
import type { AuditLog } from '../../shared/audit/log';
import { approvalUrl } from '../../shared/decisions/links';
import { DecisionError, PendingWaits, waitIdOf } from '../../shared/decisions/pending';
import { linkSigner } from '../../shared/decisions/secret';
import {
  DENY_POLICY_NAME,
  type DenyEntity,
  type DenyHold,
  denyPolicy,
  PolicySizeError,
} from '../../shared/enforcement/policy';
import type { ProtectionRules } from '../../shared/enforcement/target';
import { asEmail } from '../shared/published';

const REGION = { region: 'us-east-1' };
const ACCOUNT = '111122223333';
const INSTANCE = 'arn:aws:sso:::instance/ssoins-1111111111111111';
const TOPIC = `arn:aws:sns:us-east-1:${ACCOUNT}:critical`;
const SSO_ROLE = 'AWSReservedSSO_DataScience_0123456789abcdef';
const PS_OTHER = `${INSTANCE}/ps-0000000000000001`;
const PS_DATA = `${INSTANCE}/ps-0000000000000002`;

const iamMock = mockClient(IAMClient);
const ssoMock = mockClient(SSOAdminClient);
const ddb = mockClient(DynamoDBDocumentClient);
const snsMock = mockClient(SNSClient);
const sfnMock = mockClient(SFNClient);

const iam = new IAMClient(REGION);
const ssoAdmin = new SSOAdminClient(REGION);
const documents = DynamoDBDocumentClient.from(new DynamoDBClient(REGION));
const sns = new SNSClient(REGION);
const sfn = new SFNClient(REGION);
const audit = { append: jest.fn() };
const now = new Date('2026-11-20T12:00:00Z');

const alice: DenyEntity = { kind: 'user', name: 'alice' };
const notebook: DenyEntity = { kind: 'role', name: 'shared-notebook' };
const denyKey = (entity: DenyEntity) => ({ principal: `DENY#${entity.kind}/${entity.name}`, period: 'DENY' });
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'condition', $metadata: {} });
const noSuchEntity = () => new NoSuchEntityException({ message: 'gone', $metadata: {} });
const urlEncoded = (document: unknown) => encodeURIComponent(JSON.stringify(document));

beforeEach(() => {
  iamMock.reset();
  ssoMock.reset();
  ddb.reset();
  snsMock.reset();
  sfnMock.reset();
  audit.append.mockReset();
  iamMock.on(ListUserPoliciesCommand).resolves({ PolicyNames: [] });
  iamMock.on(ListRolePoliciesCommand).resolves({ PolicyNames: [] });
  snsMock.on(PublishCommand).resolves({});
});

describe('IamDenyWriter', () => {
  it('puts exactly one BudgeteerDeny inline policy with the deny document on a user', async () => {
    const holds = [{ holder: 'suspend:e1' }];

    await new IamDenyWriter(iam).write(alice, holds);

    expect(iamMock).toHaveReceivedCommandTimes(PutUserPolicyCommand, 1);
    expect(iamMock).toHaveReceivedCommandWith(PutUserPolicyCommand, {
      UserName: 'alice',
      PolicyName: 'BudgeteerDeny',
      PolicyDocument: JSON.stringify(denyPolicy(alice, holds)),
    });
    expect(iamMock).not.toHaveReceivedCommand(PutRolePolicyCommand);
    expect(iamMock).not.toHaveReceivedCommand(DeleteUserPolicyCommand);
  });

  it('deletes the user’s BudgeteerDeny policy, and nothing else, when no hold is left', async () => {
    iamMock.on(DeleteUserPolicyCommand).resolves({});

    await new IamDenyWriter(iam).write(alice, []);

    expect(iamMock.calls()).toHaveLength(1);
    expect(iamMock).toHaveReceivedCommandWith(DeleteUserPolicyCommand, {
      UserName: 'alice',
      PolicyName: DENY_POLICY_NAME,
    });
  });

  it('treats a policy that is already gone as deleted (lifting twice changes nothing)', async () => {
    iamMock.on(DeleteUserPolicyCommand).rejects(noSuchEntity());
    iamMock.on(DeleteRolePolicyCommand).rejects(noSuchEntity());

    await expect(new IamDenyWriter(iam).write(alice, [])).resolves.toBeUndefined();
    await expect(new IamDenyWriter(iam).write(notebook, [])).resolves.toBeUndefined();
  });

  it('lets any other delete failure through', async () => {
    iamMock.on(DeleteUserPolicyCommand).rejects(new Error('Throttling'));

    await expect(new IamDenyWriter(iam).write(alice, [])).rejects.toThrow('Throttling');
  });

  it('puts the role policy (not a user policy) for a role', async () => {
    const holds = [{ holder: 'suspend:e1', session: 'AROAEXAMPLE:maria' }];

    await new IamDenyWriter(iam).write(notebook, holds);

    expect(iamMock).toHaveReceivedCommandTimes(PutRolePolicyCommand, 1);
    expect(iamMock).toHaveReceivedCommandWith(PutRolePolicyCommand, {
      RoleName: 'shared-notebook',
      PolicyName: 'BudgeteerDeny',
      PolicyDocument: JSON.stringify(denyPolicy(notebook, holds)),
    });
    expect(iamMock).not.toHaveReceivedCommand(PutUserPolicyCommand);
  });

  it('deletes the role policy when a role has no holds left', async () => {
    iamMock.on(DeleteRolePolicyCommand).resolves({});

    await new IamDenyWriter(iam).write(notebook, []);

    expect(iamMock).toHaveReceivedCommandWith(DeleteRolePolicyCommand, {
      RoleName: 'shared-notebook',
      PolicyName: 'BudgeteerDeny',
    });
  });

  it('looks up a role’s id once for the aws:userid pattern of its sessions', async () => {
    iamMock.on(GetRoleCommand).resolves({ Role: { RoleId: 'AROAEXAMPLE' } as never });
    const writer = new IamDenyWriter(iam);

    const maria = await writer.sessionPattern(notebook, 'shared-notebook', 'maria');
    const li = await writer.sessionPattern(notebook, 'shared-notebook', 'li');

    expect([maria, li]).toEqual(['AROAEXAMPLE:maria', 'AROAEXAMPLE:li']);
    expect(iamMock).toHaveReceivedCommandTimes(GetRoleCommand, 1);
    expect(iamMock).toHaveReceivedCommandWith(GetRoleCommand, { RoleName: 'shared-notebook' });
  });

  it('matches any role id for a permission set session, without asking IAM', async () => {
    const pattern = await new IamDenyWriter(iam).sessionPattern(
      { kind: 'permission-set', name: 'DataScience' },
      SSO_ROLE,
      'maria@example.com',
    );

    expect(pattern).toBe('*:maria@example.com');
    expect(iamMock.calls()).toHaveLength(0);
  });

  it('counts the user’s other inline policies (not its own) against the 2,048 limit and puts nothing over it', async () => {
    const other = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: 'x'.repeat(1700) }],
    };
    iamMock.on(ListUserPoliciesCommand).resolves({ PolicyNames: ['Other', DENY_POLICY_NAME] });
    iamMock.on(GetUserPolicyCommand, { PolicyName: 'Other' }).resolves({ PolicyDocument: urlEncoded(other) });

    await expect(new IamDenyWriter(iam).write(alice, [{ holder: 'suspend:e1' }])).rejects.toThrow(PolicySizeError);

    expect(iamMock).toHaveReceivedCommandTimes(GetUserPolicyCommand, 1);
    expect(iamMock).not.toHaveReceivedCommandWith(GetUserPolicyCommand, { PolicyName: DENY_POLICY_NAME });
    expect(iamMock).not.toHaveReceivedCommand(PutUserPolicyCommand);
  });

  it('puts the policy when the other inline policies leave room for it', async () => {
    const other = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] };
    iamMock.on(ListRolePoliciesCommand).resolves({ PolicyNames: ['Other'] });
    iamMock.on(GetRolePolicyCommand).resolves({ PolicyDocument: urlEncoded(other) });

    await new IamDenyWriter(iam).write(notebook, [{ holder: 'suspend:e1' }]);

    expect(iamMock).toHaveReceivedCommandWith(GetRolePolicyCommand, {
      RoleName: 'shared-notebook',
      PolicyName: 'Other',
    });
    expect(iamMock).toHaveReceivedCommandTimes(PutRolePolicyCommand, 1);
  });

  it('refuses a permission set entity when Identity Center is not configured', async () => {
    await expect(
      new IamDenyWriter(iam).write({ kind: 'permission-set', name: 'DataScience' }, [{ holder: 'suspend:e1' }]),
    ).rejects.toThrow(EnforcementError);
    expect(iamMock.calls()).toHaveLength(0);
  });
});

describe('IdentityCenterDenyWriter', () => {
  const permissionSet: DenyEntity = { kind: 'permission-set', name: 'DataScience' };
  const hold = { holder: 'suspend:e1', session: '*:maria@example.com' };
  const theirs = { Sid: 'AllowS3Read', Effect: 'Allow', Action: ['s3:GetObject'], Resource: '*' };

  beforeEach(() => {
    ssoMock
      .on(ListPermissionSetsCommand)
      .resolvesOnce({ PermissionSets: [PS_OTHER], NextToken: 'page-2' })
      .resolves({ PermissionSets: [PS_DATA] });
    ssoMock
      .on(DescribePermissionSetCommand, { PermissionSetArn: PS_OTHER })
      .resolves({ PermissionSet: { Name: 'Other' } });
    ssoMock
      .on(DescribePermissionSetCommand, { PermissionSetArn: PS_DATA })
      .resolves({ PermissionSet: { Name: 'DataScience' } });
    ssoMock.on(GetInlinePolicyForPermissionSetCommand).resolves({
      InlinePolicy: JSON.stringify({ Version: '2012-10-17', Statement: [theirs] }),
    });
    ssoMock.on(PutInlinePolicyToPermissionSetCommand).resolves({});
    ssoMock.on(DeleteInlinePolicyFromPermissionSetCommand).resolves({});
    ssoMock.on(ProvisionPermissionSetCommand).resolves({});
  });

  it('finds the permission set by name across pages, merges the deny beside its statements and provisions it', async () => {
    await new IdentityCenterDenyWriter(ssoAdmin, INSTANCE).write(permissionSet, [hold]);

    expect(ssoMock).toHaveReceivedCommandWith(ListPermissionSetsCommand, {
      InstanceArn: INSTANCE,
      NextToken: 'page-2',
    });
    expect(ssoMock).toHaveReceivedCommandWith(GetInlinePolicyForPermissionSetCommand, {
      InstanceArn: INSTANCE,
      PermissionSetArn: PS_DATA,
    });
    const put = ssoMock.commandCalls(PutInlinePolicyToPermissionSetCommand);
    expect(put).toHaveLength(1);
    expect(put[0]?.args[0].input).toMatchObject({ InstanceArn: INSTANCE, PermissionSetArn: PS_DATA });
    const policy = JSON.parse(put[0]?.args[0].input.InlinePolicy ?? '{}');
    expect(policy.Statement).toEqual([
      theirs,
      expect.objectContaining({ Effect: 'Deny', Condition: { StringLike: { 'aws:userid': '*:maria@example.com' } } }),
    ]);
    expect(ssoMock).toHaveReceivedCommandTimes(ProvisionPermissionSetCommand, 1);
    expect(ssoMock).toHaveReceivedCommandWith(ProvisionPermissionSetCommand, {
      InstanceArn: INSTANCE,
      PermissionSetArn: PS_DATA,
      TargetType: 'ALL_PROVISIONED_ACCOUNTS',
    });
    const order = ssoMock.calls().map((call) => call.args[0].constructor.name);
    expect(order.indexOf('PutInlinePolicyToPermissionSetCommand')).toBeLessThan(
      order.indexOf('ProvisionPermissionSetCommand'),
    );
  });

  it('remembers the permission set’s ARN instead of listing again', async () => {
    const writer = new IdentityCenterDenyWriter(ssoAdmin, INSTANCE);

    await writer.write(permissionSet, [hold]);
    await writer.write(permissionSet, []);

    expect(ssoMock).toHaveReceivedCommandTimes(ListPermissionSetsCommand, 2);
  });

  it('deletes the inline policy and re-provisions when only our statements were in it', async () => {
    const empty = JSON.stringify({ Version: '2012-10-17', Statement: [] });
    const writer = new IdentityCenterDenyWriter(ssoAdmin, INSTANCE);
    ssoMock.on(GetInlinePolicyForPermissionSetCommand).resolves({ InlinePolicy: empty });
    await writer.write(permissionSet, [hold]);
    const written = ssoMock.commandCalls(PutInlinePolicyToPermissionSetCommand)[0]?.args[0].input.InlinePolicy;
    ssoMock.resetHistory();
    ssoMock.on(GetInlinePolicyForPermissionSetCommand).resolves({ InlinePolicy: written });

    await writer.write(permissionSet, []);

    expect(ssoMock).toHaveReceivedCommandWith(DeleteInlinePolicyFromPermissionSetCommand, {
      InstanceArn: INSTANCE,
      PermissionSetArn: PS_DATA,
    });
    expect(ssoMock).not.toHaveReceivedCommand(PutInlinePolicyToPermissionSetCommand);
    expect(ssoMock).toHaveReceivedCommandTimes(ProvisionPermissionSetCommand, 1);
  });

  it('neither puts nor provisions when the inline policy already says what the holds say', async () => {
    const writer = new IdentityCenterDenyWriter(ssoAdmin, INSTANCE);
    await writer.write(permissionSet, [hold]);
    const written = ssoMock.commandCalls(PutInlinePolicyToPermissionSetCommand)[0]?.args[0].input.InlinePolicy;
    ssoMock.resetHistory();
    ssoMock.on(GetInlinePolicyForPermissionSetCommand).resolves({ InlinePolicy: written });

    await writer.write(permissionSet, [hold]);

    expect(ssoMock).not.toHaveReceivedCommand(PutInlinePolicyToPermissionSetCommand);
    expect(ssoMock).not.toHaveReceivedCommand(ProvisionPermissionSetCommand);
  });

  it('fails with EnforcementError when no permission set has the name', async () => {
    await expect(
      new IdentityCenterDenyWriter(ssoAdmin, INSTANCE).write({ kind: 'permission-set', name: 'Nope' }, [hold]),
    ).rejects.toThrow(EnforcementError);
    expect(ssoMock).not.toHaveReceivedCommand(PutInlinePolicyToPermissionSetCommand);
  });
});

describe('DenyStore', () => {
  const writer = { write: jest.fn<Promise<void>, [DenyEntity, readonly DenyHold[]]>(), sessionPattern: jest.fn() };
  const store = new DenyStore(documents, 'Budgets', writer as DenyWriter);
  const maria = { holder: 'suspend:e1', session: 'AROAEXAMPLE:maria' };

  beforeEach(() => {
    writer.write.mockReset().mockResolvedValue(undefined);
    ddb.on(UpdateCommand).resolves({});
  });

  it('records the hold with a version bump, then writes the policy once when nobody changed it meanwhile', async () => {
    const item = { ...denyKey(notebook), version: 1, 'hold:suspend:e1': { session: 'AROAEXAMPLE:maria' } };
    ddb.on(GetCommand).resolves({ Item: item });

    await store.hold(notebook, maria);

    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'Budgets',
      Key: denyKey(notebook),
      UpdateExpression: 'SET #hold = :hold, #kind = :kind, #name = :name ADD version :one',
      ExpressionAttributeNames: { '#hold': 'hold:suspend:e1', '#kind': 'entityKind', '#name': 'entityName' },
      ExpressionAttributeValues: {
        ':hold': { session: 'AROAEXAMPLE:maria' },
        ':one': 1,
        ':kind': 'role',
        ':name': 'shared-notebook',
      },
    });
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: denyKey(notebook), ConsistentRead: true });
    expect(writer.write).toHaveBeenCalledTimes(1);
    expect(writer.write).toHaveBeenCalledWith(notebook, [maria]);
  });

  it('writes again with the new holds when another workflow changed them between write and re-read', async () => {
    const li = { holder: 'suspend:e2', session: 'AROAEXAMPLE:li' };
    const first = { version: 1, 'hold:suspend:e1': { session: maria.session } };
    const second = {
      version: 2,
      'hold:suspend:e1': { session: maria.session },
      'hold:suspend:e2': { session: li.session },
    };
    ddb.on(GetCommand).resolvesOnce({ Item: first }).resolves({ Item: second });

    await store.hold(notebook, maria);

    expect(writer.write).toHaveBeenCalledTimes(2);
    expect(writer.write).toHaveBeenNthCalledWith(1, notebook, [maria]);
    expect(writer.write).toHaveBeenLastCalledWith(notebook, [maria, li]);
    expect(ddb).toHaveReceivedCommandTimes(GetCommand, 3);
  });

  it('gives up with EnforcementError after 10 rounds of holds that keep changing', async () => {
    let version = 0;
    ddb.on(GetCommand).callsFake(async () => ({ Item: { version: ++version, 'hold:suspend:e1': {} } }));

    await expect(store.hold(alice, { holder: 'suspend:e1' })).rejects.toThrow(EnforcementError);

    expect(writer.write).toHaveBeenCalledTimes(10);
  });

  it('releases only its own hold and writes what the others still hold', async () => {
    ddb.on(GetCommand).resolves({ Item: { version: 4, 'hold:stop:s1': {}, entityKind: 'user', entityName: 'alice' } });

    await store.release(alice, 'suspend:e1');

    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: denyKey(alice),
      UpdateExpression: 'SET #kind = :kind, #name = :name REMOVE #hold ADD version :one',
      ExpressionAttributeNames: { '#hold': 'hold:suspend:e1', '#kind': 'entityKind', '#name': 'entityName' },
    });
    expect(writer.write).toHaveBeenCalledWith(alice, [{ holder: 'stop:s1' }]);
  });

  it('writes no holds (delete the policy) when the record has none', async () => {
    ddb.on(GetCommand).resolves({});

    await store.release(alice, 'suspend:e1');

    expect(writer.write).toHaveBeenCalledWith(alice, []);
  });
});

describe('Enforcer', () => {
  const protection = {
    accountId: ACCOUNT,
    breakGlassArns: [`arn:aws:iam::${ACCOUNT}:role/BreakGlass`],
    systemRolePatterns: ['BudgeteerStack-*'],
  };
  const enforcer = (identityCenter = false, rules: ProtectionRules = protection) => {
    const writer = new IamDenyWriter(
      iam,
      identityCenter ? new IdentityCenterDenyWriter(ssoAdmin, INSTANCE) : undefined,
    );
    return new Enforcer(
      { budgetsTable: 'Budgets', criticalTopicArn: TOPIC, protection: rules, identityCenter, decisionHours: 24 },
      {
        documents,
        sns,
        audit: audit as unknown as AuditLog,
        denies: new DenyStore(documents, 'Budgets', writer),
        writer,
        waits: new PendingWaits(documents, sfn, 'Pending', () => now),
        now: () => now,
      },
    );
  };
  const input = (principal: string, extra: Partial<EnforcementInput> = {}): EnforcementInput => ({
    principal,
    period: '2026-11',
    decisionId: 'd-1',
    holder: 'suspend:e1',
    generation: 1,
    spendUsd: '12.50',
    limitUsd: '10.00',
    executionArn: `arn:aws:states:us-east-1:${ACCOUNT}:execution:suspend-principal:e1`,
    ...extra,
  });
  const counterKey = (principal: string) => ({ principal, period: '2026-11' });
  const marksSuspended = { ConditionExpression: expect.stringContaining('#g = :g') };

  beforeEach(() => {
    ddb.on(UpdateCommand).resolves({});
    ddb.on(GetCommand).resolves({});
    ddb
      .on(GetCommand, { Key: counterKey('user/alice') })
      .resolves({ Item: { ...counterKey('user/alice'), generation: 1 } });
    ddb.on(GetCommand, { Key: denyKey(alice) }).resolves({ Item: { version: 1, 'hold:suspend:e1': {} } });
    audit.append.mockResolvedValue({});
  });

  describe("a group's stop", () => {
    const groupInput = input('GROUP#ds', {
      holder: 'stop:g1',
      reason: 'group:ds',
      decisionId: 'stop|GROUP#ds|2026-11|g0',
    });
    const spent = (principal: string, groups: string[]) => ({
      ...counterKey(principal),
      spendUsd: 1,
      principalArn: `arn:aws:iam::${ACCOUNT}:${principal}`,
      groups: new Set(groups),
    });
    const members = (list: string[], extra: Record<string, unknown> = {}) =>
      ddb.on(GetCommand, { Key: { principal: 'GROUP#ds', period: 'LIMIT' } }).resolves({
        Item: { principal: 'GROUP#ds', period: 'LIMIT', limitUsd: 10, members: list, ...extra },
      });

    it("marks the group stopped (not the account) and returns its members still in it, scoped to the group's stop", async () => {
      members(['user/alice', 'user/ds-*']);
      ddb.on(ScanCommand).resolves({
        Items: [
          spent('user/alice', ['ds']),
          spent('user/ds-bob', ['ds', 'ml']),
          spent('user/carol', ['ds']), // counted in ds earlier, taken out of it since
          spent('user/dave', ['ml']),
          { ...counterKey('ACCOUNT'), spendUsd: 3 },
        ],
      });

      const { principals } = await enforcer().beginStop(groupInput);

      expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
        Key: { principal: 'GROUP#ds', period: '2026-11' },
        ExpressionAttributeValues: expect.objectContaining({ ':stopped': 'stopped' }),
      });
      expect(principals.map((p) => [p.principal, p.reason, p.stopOf, p.resources])).toEqual([
        ['user/alice', 'group:ds', 'GROUP#ds', undefined],
        ['user/ds-bob', 'group:ds', 'GROUP#ds', undefined],
      ]);
    });

    it('denies the callers of a group of application inference profiles those profiles only', async () => {
      members(['profile/abc123']);
      ddb.on(ScanCommand).resolves({ Items: [spent('user/alice', ['ds'])] });

      const { principals } = await enforcer().beginStop(groupInput);

      expect(principals).toEqual([
        expect.objectContaining({
          principal: 'user/alice',
          resources: [`arn:aws:bedrock:*:${ACCOUNT}:application-inference-profile/abc123`],
        }),
      ]);
    });

    it("denies an organization's member the profiles of its own account: any account's, by the profile's unique id", async () => {
      members(['profile/abc123']);
      ddb.on(ScanCommand).resolves({ Items: [spent('222222222222:user/alice', ['ds'])] });

      const { principals } = await enforcer(false, { ...protection, organization: true }).beginStop(groupInput);

      expect(principals).toEqual([
        expect.objectContaining({
          principal: '222222222222:user/alice',
          resources: ['arn:aws:bedrock:*:*:application-inference-profile/abc123'],
        }),
      ]);
    });
  });

  describe('apply', () => {
    it('changes nothing for a decision whose generation was replaced', async () => {
      ddb.on(GetCommand, { Key: counterKey('user/alice') }).resolves({ Item: { generation: 2 } });

      const outcome = await enforcer().apply(input('user/alice'));

      expect(outcome).toMatchObject({ outcome: 'stale' });
      expect(iamMock.calls()).toHaveLength(0);
      expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
      expect(audit.append).not.toHaveBeenCalled();
      expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
    });

    it('never denies a protected principal: audits suspension.skipped once and alerts the critical topic', async () => {
      ddb.on(GetCommand, { Key: counterKey('role/BreakGlass') }).resolves({ Item: { generation: 1 } });

      const outcome = await enforcer().apply(input('role/BreakGlass'));

      expect(outcome).toMatchObject({ outcome: 'skipped', why: expect.stringContaining('break-glass') });
      expect(iamMock.calls()).toHaveLength(0);
      expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
      expect(audit.append).toHaveBeenCalledTimes(1);
      expect(audit.append).toHaveBeenCalledWith(
        expect.objectContaining({ action: 'suspension.skipped', subject: 'role/BreakGlass', period: '2026-11' }),
        { once: 'd-1:suspension.skipped:role/BreakGlass' },
      );
      expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
      expect(snsMock).toHaveReceivedCommandWith(PublishCommand, {
        TopicArn: TOPIC,
        MessageAttributes: expect.objectContaining({ severity: { DataType: 'String', StringValue: 'critical' } }),
      });
    });

    it('never denies the account root, even from an emergency stop', async () => {
      const outcome = await enforcer().apply(input('root', { holder: 'stop:s1' }));

      expect(outcome).toMatchObject({ outcome: 'skipped' });
      expect(iamMock.calls()).toHaveLength(0);
      expect(audit.append).toHaveBeenCalledWith(expect.objectContaining({ action: 'suspension.skipped' }), {
        once: 'd-1:suspension.skipped:root',
      });
    });

    it('audits a federated user as enforcement.failed and denies nothing', async () => {
      const outcome = await enforcer().apply(input('federated-user/bob', { generation: 0 }));

      expect(outcome).toMatchObject({ outcome: 'unsupported' });
      expect(iamMock.calls()).toHaveLength(0);
      expect(audit.append).toHaveBeenCalledWith(
        expect.objectContaining({ action: 'enforcement.failed', details: expect.objectContaining({ step: 'apply' }) }),
        { once: 'd-1:enforcement.failed:federated-user/bob' },
      );
    });

    it('holds the deny, puts BudgeteerDeny, marks the principal suspended conditionally and audits deny.applied once', async () => {
      const outcome = await enforcer().apply(input('user/alice'));

      expect(outcome).toMatchObject({ outcome: 'applied', target: 'user alice' });
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        Key: denyKey(alice),
        ExpressionAttributeNames: expect.objectContaining({ '#hold': 'hold:suspend:e1' }),
      });
      expect(iamMock).toHaveReceivedCommandTimes(PutUserPolicyCommand, 1);
      expect(iamMock).toHaveReceivedCommandWith(PutUserPolicyCommand, {
        UserName: 'alice',
        PolicyName: 'BudgeteerDeny',
        PolicyDocument: JSON.stringify(denyPolicy(alice, [{ holder: 'suspend:e1' }])),
      });
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        TableName: 'Budgets',
        Key: counterKey('user/alice'),
        UpdateExpression: 'SET #state = :suspended, #s = if_not_exists(#s, :s)',
        ...marksSuspended,
        ExpressionAttributeValues: expect.objectContaining({
          ':suspended': 'suspended',
          ':g': 1,
          ':holder': 'suspend:e1',
          ':s': expect.objectContaining({ holder: 'suspend:e1', since: now.toISOString(), decisionId: 'd-1' }),
        }),
      });
      expect(audit.append).toHaveBeenCalledTimes(1);
      expect(audit.append).toHaveBeenCalledWith(
        expect.objectContaining({
          action: 'deny.applied',
          subject: 'user/alice',
          details: expect.objectContaining({ target: 'user alice', policyName: 'BudgeteerDeny', reason: 'budget' }),
        }),
        { once: 'd-1:deny.applied:user/alice' },
      );
      // The suspension message goes out when the workflow waits, with the links to decide.
      expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
    });

    it('takes its hold back when the decision went stale before the principal was marked', async () => {
      ddb.on(UpdateCommand, { Key: counterKey('user/alice') }).rejects(conditionFailed());
      ddb
        .on(GetCommand, { Key: denyKey(alice) })
        .resolvesOnce({ Item: { version: 1, 'hold:suspend:e1': {} } })
        .resolvesOnce({ Item: { version: 1, 'hold:suspend:e1': {} } })
        .resolves({ Item: { version: 2 } });
      iamMock.on(DeleteUserPolicyCommand).resolves({});

      const outcome = await enforcer().apply(input('user/alice'));

      expect(outcome).toMatchObject({ outcome: 'stale' });
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        Key: denyKey(alice),
        UpdateExpression: expect.stringContaining('REMOVE #hold'),
      });
      expect(iamMock).toHaveReceivedCommandWith(DeleteUserPolicyCommand, {
        UserName: 'alice',
        PolicyName: 'BudgeteerDeny',
      });
      expect(audit.append).not.toHaveBeenCalled();
    });

    it('takes its hold back when the deny cannot be written, so no orphan hold denies the role later', async () => {
      const maria = { holder: 'suspend:e1', session: 'AROAEXAMPLE:maria' };
      const crowd = Array.from({ length: 30 }, (_, i) => [`hold:suspend:x${i}`, { session: `AROAEXAMPLE:p${i}` }]);
      ddb.on(GetCommand, { Key: counterKey('role/shared-notebook/maria') }).resolves({ Item: { generation: 1 } });
      ddb.on(GetCommand, { Key: denyKey(notebook) }).resolves({
        Item: { version: 1, 'hold:suspend:e1': { session: maria.session }, ...Object.fromEntries(crowd) },
      });
      iamMock.on(GetRoleCommand).resolves({ Role: { RoleId: 'AROAEXAMPLE' } as never });

      await expect(enforcer().apply(input('role/shared-notebook/maria'))).rejects.toThrow(PolicySizeError);

      expect(iamMock).not.toHaveReceivedCommand(PutRolePolicyCommand);
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        Key: denyKey(notebook),
        UpdateExpression: expect.stringContaining('REMOVE #hold'),
        ExpressionAttributeNames: expect.objectContaining({ '#hold': 'hold:suspend:e1' }),
      });
    });

    describe('an SSO session (AWSReservedSSO_ role)', () => {
      const principal = `role/${SSO_ROLE}/maria@example.com`;

      beforeEach(() => {
        ddb.on(GetCommand, { Key: counterKey(principal) }).resolves({ Item: { generation: 1 } });
      });

      it('is denied on its permission set when Identity Center is configured', async () => {
        const permissionSet: DenyEntity = { kind: 'permission-set', name: 'DataScience' };
        ddb
          .on(GetCommand, { Key: denyKey(permissionSet) })
          .resolves({ Item: { version: 1, 'hold:suspend:e1': { session: '*:maria@example.com' } } });
        ssoMock.on(ListPermissionSetsCommand).resolves({ PermissionSets: [PS_DATA] });
        ssoMock.on(DescribePermissionSetCommand).resolves({ PermissionSet: { Name: 'DataScience' } });
        ssoMock.on(GetInlinePolicyForPermissionSetCommand).resolves({});

        const outcome = await enforcer(true).apply(input(principal));

        expect(outcome).toMatchObject({ outcome: 'applied', target: 'permission set DataScience' });
        expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
          Key: denyKey(permissionSet),
          ExpressionAttributeValues: expect.objectContaining({ ':hold': { session: '*:maria@example.com' } }),
        });
        expect(ssoMock).toHaveReceivedCommandTimes(PutInlinePolicyToPermissionSetCommand, 1);
        expect(ssoMock).toHaveReceivedCommandWith(ProvisionPermissionSetCommand, {
          PermissionSetArn: PS_DATA,
          TargetType: 'ALL_PROVISIONED_ACCOUNTS',
        });
        expect(iamMock.calls()).toHaveLength(0);
      });

      it('is denied on the role, scoped to its session, when Identity Center is not configured', async () => {
        const ssoRole: DenyEntity = { kind: 'role', name: SSO_ROLE };
        ddb
          .on(GetCommand, { Key: denyKey(ssoRole) })
          .resolves({ Item: { version: 1, 'hold:suspend:e1': { session: 'AROASSO:maria@example.com' } } });
        iamMock.on(GetRoleCommand).resolves({ Role: { RoleId: 'AROASSO' } as never });

        const outcome = await enforcer(false).apply(input(principal));

        expect(outcome).toMatchObject({ outcome: 'applied', target: `role ${SSO_ROLE}` });
        expect(iamMock).toHaveReceivedCommandWith(GetRoleCommand, { RoleName: SSO_ROLE });
        expect(iamMock).toHaveReceivedCommandWith(PutRolePolicyCommand, {
          RoleName: SSO_ROLE,
          PolicyName: 'BudgeteerDeny',
          PolicyDocument: expect.stringContaining('"aws:userid":"AROASSO:maria@example.com"'),
        });
        expect(ssoMock.calls()).toHaveLength(0);
      });
    });
  });

  describe('await', () => {
    const withLinks = () =>
      new Enforcer(
        { budgetsTable: 'Budgets', criticalTopicArn: TOPIC, protection, identityCenter: false, decisionHours: 24 },
        {
          documents,
          sns,
          audit: audit as unknown as AuditLog,
          denies: new DenyStore(documents, 'Budgets', new IamDenyWriter(iam)),
          writer: new IamDenyWriter(iam),
          waits: new PendingWaits(documents, sfn, 'Pending', () => now),
          links: linkSigner('https://approve.example', async () => 'k'.repeat(64)),
          now: () => now,
        },
      );

    /** The Pending row as DynamoDB returns it after a registration: what the attempt's update left. */
    const registered = (row: Record<string, unknown> = {}) =>
      ddb.on(UpdateCommand, { TableName: 'Pending', ReturnValues: 'ALL_NEW' }).callsFake((command) => ({
        Attributes: {
          id: command.Key.id,
          taskToken: command.ExpressionAttributeValues[':token'],
          expiresAt: command.ExpressionAttributeValues[':expires'],
          ...row,
        },
      }));

    it('keeps the task token server-side, audits override.requested once and sends the suspension with signed links, never the token', async () => {
      registered();
      snsMock.on(PublishCommand).resolves({});
      const id = await withLinks().await({ ...input('user/alice'), kind: 'suspension' }, 'SECRET-TASK-TOKEN');

      expect(id).toBe(waitIdOf(input('user/alice').executionArn as string, 'suspension'));
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        TableName: 'Pending',
        Key: { id },
        ExpressionAttributeValues: expect.objectContaining({
          ':token': 'SECRET-TASK-TOKEN',
          ':expires': '2026-11-21T12:00:00.000Z',
        }),
      });
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        TableName: 'Pending',
        Key: { id },
        UpdateExpression: 'SET notifiedAt = if_not_exists(notifiedAt, :now)',
      });
      expect(audit.append).toHaveBeenCalledWith(expect.objectContaining({ action: 'override.requested' }), {
        once: `override.requested:${id}`,
      });
      const published = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
      const body = published ? asEmail(published).Message : '';
      const expires = Date.parse('2026-11-21T12:00:00.000Z') / 1000;
      const link = approvalUrl('https://approve.example', 'k'.repeat(64), id, '2026-11-21T12:00:00.000Z');
      expect(link).toContain(`e=${expires}`);
      expect(body).toContain(`${link}&d=raise&a=2.50`); // 25% of the $10 limit
      expect(body).toContain(`${link}&d=raise&a=10.00`);
      expect(body).toContain(`${link}&d=lift`);
      expect(body).toContain(`${link}&d=keep`);
      expect(body).toContain(`npx budgeteer override ${id} raise|lift|keep`);
      expect(JSON.stringify(published)).not.toContain('SECRET-TASK-TOKEN');
      expect(JSON.stringify(audit.append.mock.calls)).not.toContain('SECRET-TASK-TOKEN');
    });

    it('registers a retried attempt’s token under the same id, and sends no second message when the first went out', async () => {
      registered({ expiresAt: '2026-11-21T09:00:00.000Z', notifiedAt: '2026-11-20T09:00:01.000Z' });
      snsMock.on(PublishCommand).resolves({});

      const id = await withLinks().await({ ...input('user/alice'), kind: 'suspension' }, 'SECOND-TOKEN');

      expect(id).toBe(waitIdOf(input('user/alice').executionArn as string, 'suspension'));
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        TableName: 'Pending',
        UpdateExpression: expect.stringContaining('expiresAt = if_not_exists(expiresAt, :expires)'),
        ExpressionAttributeValues: expect.objectContaining({ ':token': 'SECOND-TOKEN' }),
      });
      expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
    });

    it('sends a decision recorded while no attempt waited to the new attempt’s token at once, and no message', async () => {
      registered({ decided: { decision: 'lift', reason: 'admin', actor: 'arn:aws:iam::1:user/admin' } });
      sfnMock.on(SendTaskSuccessCommand).resolves({});

      await withLinks().await({ ...input('user/alice'), kind: 'suspension' }, 'NEW-TOKEN');

      expect(sfnMock).toHaveReceivedCommandWith(SendTaskSuccessCommand, {
        taskToken: 'NEW-TOKEN',
        output: expect.stringContaining('"decision":"lift"'),
      });
      expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
      expect(ddb).not.toHaveReceivedCommandWith(UpdateCommand, { UpdateExpression: 'SET #s.waitId = :id' });
    });

    it('sends no links when a lift or raise came before the wait began, and ends the wait at once', async () => {
      registered();
      ddb
        .on(UpdateCommand, { UpdateExpression: 'SET #s.waitId = :id' })
        .rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
      ddb
        .on(UpdateCommand, { TableName: 'Pending' })
        .resolves({ Attributes: { id: 'x', taskToken: 't', decided: {} } });
      sfnMock.on(SendTaskSuccessCommand).resolves({});

      await withLinks().await({ ...input('user/alice'), kind: 'suspension' }, 'token');

      expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
      expect(sfnMock).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    });
  });

  describe('lift', () => {
    const held = {
      ...denyKey(alice),
      entityKind: 'user',
      entityName: 'alice',
      'hold:suspend:e1': { principal: 'user/alice' },
    };

    beforeEach(() => {
      ddb.on(ScanCommand).resolves({ Items: [held] });
      ddb.on(GetCommand, { Key: denyKey(alice) }).resolves({ Item: { version: 2 } });
      iamMock.on(DeleteUserPolicyCommand).resolves({});
    });

    it('releases its hold, deletes the policy, marks the principal active and audits deny.lifted with the reason', async () => {
      await enforcer().lift({ ...input('user/alice'), reason: 'limit-raised' });

      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        Key: denyKey(alice),
        UpdateExpression: expect.stringContaining('REMOVE #hold'),
        ExpressionAttributeNames: expect.objectContaining({ '#hold': 'hold:suspend:e1' }),
      });
      expect(iamMock).toHaveReceivedCommandWith(DeleteUserPolicyCommand, {
        UserName: 'alice',
        PolicyName: 'BudgeteerDeny',
      });
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        Key: counterKey('user/alice'),
        UpdateExpression: 'SET #state = :active REMOVE #s',
        ConditionExpression: '#s.holder = :holder',
        ExpressionAttributeValues: { ':active': 'active', ':holder': 'suspend:e1' },
      });
      expect(audit.append).toHaveBeenCalledTimes(1);
      expect(audit.append).toHaveBeenCalledWith(
        expect.objectContaining({
          action: 'deny.lifted',
          subject: 'user/alice',
          details: expect.objectContaining({ reason: 'limit-raised', by: 'system:suspend' }),
        }),
        { once: 'd-1:deny.lifted:user/alice' },
      );
      expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
    });

    describe('a decision is taken only where it is recorded', () => {
      const suspended = (waitId = 'w-1') => ({
        Item: { ...counterKey('user/alice'), generation: 1, suspension: { holder: 'suspend:e1', waitId } },
      });

      it('refuses a lift recorded on no pending decision (a task output someone sent with a leaked token): the deny stays', async () => {
        ddb.on(GetCommand, { Key: counterKey('user/alice') }).resolves(suspended());
        ddb.on(GetCommand, { TableName: 'Pending' }).resolves({ Item: { id: 'w-1', taskToken: 't' } });

        await expect(
          enforcer().lift({ ...input('user/alice'), reason: 'admin', actor: 'arn:aws:iam::111122223333:user/cfo' }),
        ).rejects.toThrow(/unverified decision: admin is recorded on no pending decision of user\/alice/);
        expect(iamMock).not.toHaveReceivedCommand(DeleteUserPolicyCommand);
        expect(audit.append).not.toHaveBeenCalled();
      });

      it('refuses a keep dressed as a lift, and a period-end lift before the period ends', async () => {
        ddb.on(GetCommand, { Key: counterKey('user/alice') }).resolves(suspended());
        ddb
          .on(GetCommand, { TableName: 'Pending' })
          .resolves({ Item: { id: 'w-1', decided: { decision: 'keep', reason: 'approval', actor: 'x', at: 't' } } });

        await expect(enforcer().lift({ ...input('user/alice'), reason: 'approval' })).rejects.toThrow(/unverified/);
        await expect(enforcer().lift({ ...input('user/alice'), reason: 'period-end' })).rejects.toThrow(
          /a period-end lift before 2026-11 has ended/,
        );
        expect(iamMock).not.toHaveReceivedCommand(DeleteUserPolicyCommand);
      });

      it('never lifts a prepaid (TOTAL) suspension at a period end: its year-long wait is waited again', async () => {
        const total = (extra: Partial<EnforcementInput> = {}) => input('user/alice', { period: 'TOTAL', ...extra });
        ddb.on(GetCommand, { Key: { principal: 'user/alice', period: 'TOTAL' } }).resolves({
          Item: { principal: 'user/alice', period: 'TOTAL', generation: 1, suspension: { holder: 'suspend:e1' } },
        });

        expect(enforcer().waitSeconds('TOTAL')).toBe(365 * 86_400);
        await expect(enforcer().recheck(total({ reason: 'budget' }))).resolves.toEqual({
          outcome: 'wait',
          reason: 'total',
          seconds: 365 * 86_400,
        });
        await expect(enforcer().lift({ ...total(), reason: 'period-end' })).rejects.toThrow(/TOTAL never ends/);
        expect(iamMock).not.toHaveReceivedCommand(DeleteUserPolicyCommand);
      });

      it('refuses rate-fell for a budget suspension: only a burn-rate suspension ends when its hour falls back', async () => {
        // No rate rule, so the hour "has fallen back" at once: a forged task output saying rate-fell must still fail.
        ddb.on(GetCommand, { Key: counterKey('user/alice') }).resolves({
          Item: {
            ...counterKey('user/alice'),
            generation: 1,
            suspension: { holder: 'suspend:e1', waitId: 'w-1', reason: 'budget' },
          },
        });
        ddb.on(GetCommand, { TableName: 'Pending' }).resolves({ Item: { id: 'w-1', taskToken: 't' } });

        await expect(enforcer().lift({ ...input('user/alice'), reason: 'rate-fell' })).rejects.toThrow(
          /unverified decision: rate-fell cannot end user\/alice's budget suspension/,
        );
        expect(iamMock).not.toHaveReceivedCommand(DeleteUserPolicyCommand);
        expect(audit.append).not.toHaveBeenCalled();
      });

      it('lifts when a lift or raise came before the wait began (no waitId; the generation moved past the suspension)', async () => {
        ddb.on(GetCommand, { Key: counterKey('user/alice') }).resolves({
          Item: {
            ...counterKey('user/alice'),
            generation: 2,
            endWaitGeneration: 2,
            suspension: { holder: 'suspend:e1', generation: 1 },
          },
        });

        await enforcer().lift({ ...input('user/alice'), reason: 'limit-raised' });

        expect(iamMock).toHaveReceivedCommandTimes(DeleteUserPolicyCommand, 1);
      });

      it('lifts when the wait the item points to holds the decision', async () => {
        ddb.on(GetCommand, { Key: counterKey('user/alice') }).resolves(suspended());
        ddb
          .on(GetCommand, { TableName: 'Pending' })
          .resolves({ Item: { id: 'w-1', decided: { decision: 'raise', reason: 'approval', actor: 'x', at: 't' } } });

        await enforcer().lift({ ...input('user/alice'), reason: 'approval' });

        expect(iamMock).toHaveReceivedCommandTimes(DeleteUserPolicyCommand, 1);
      });
    });

    it('names the admin who lifted it', async () => {
      await enforcer().lift({ ...input('user/alice'), reason: 'admin', actor: 'admin:arn:aws:iam::1:user/ops' });

      expect(audit.append).toHaveBeenCalledWith(
        expect.objectContaining({ details: expect.objectContaining({ by: 'admin:arn:aws:iam::1:user/ops' }) }),
        { once: 'd-1:deny.lifted:user/alice' },
      );
    });

    it('converges when lifted twice: the principal is no longer marked by this holder', async () => {
      ddb.on(UpdateCommand, { Key: counterKey('user/alice') }).rejects(conditionFailed());
      iamMock.on(DeleteUserPolicyCommand).rejects(noSuchEntity());

      await expect(enforcer().lift({ ...input('user/alice'), reason: 'period-end' })).resolves.toBeUndefined();
    });
  });

  it('audits a failed step as enforcement.failed with the step and error, and alerts', async () => {
    await enforcer().failed({
      ...input('user/alice'),
      step: 'apply',
      error: { Error: 'Throttling', Cause: JSON.stringify({ errorMessage: 'Rate exceeded' }) },
    });

    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({
        action: 'enforcement.failed',
        details: expect.objectContaining({ step: 'apply', error: 'Throttling: Rate exceeded' }),
      }),
      { once: 'd-1:failed:apply:user/alice' },
    );
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
  });

  it('after a failed wait, reports it once and tells the workflow to wait again in 10 minutes until the period ends', async () => {
    const failedWait = (retries: number) =>
      enforcer().failed({ ...input('user/alice'), step: 'await', error: { Error: 'Throttling' }, wait: { retries } });
    const untilEnd = (Date.parse('2026-12-01T00:00:00Z') - now.getTime()) / 1000;

    const first = await failedWait(0);
    const again = await failedWait(1);

    expect(first).toEqual({ seconds: untilEnd - 600, retrySeconds: 600, untilEnd, lastChance: false, retries: 1 });
    expect(again).toMatchObject({ retries: 2, lastChance: false });
    expect(audit.append).toHaveBeenCalledTimes(1);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({ details: expect.objectContaining({ step: 'await', retryEverySeconds: 600 }) }),
      { once: 'd-1:failed:await:user/alice' },
    );
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
  });

  it('after a failed wait of a rate suspension, waits again only until its hour falls back, not until the period ends', async () => {
    // No rate rule in force here, so the hour has fallen back already: the next wait is of one second, then the
    // recheck lifts. A budget suspension's (above) would wait until the period's end.
    const retry = await enforcer().failed({
      ...input('user/alice'),
      reason: 'rate',
      step: 'await',
      error: { Error: 'Throttling' },
      wait: { retries: 0 },
    });
    const untilEnd = (Date.parse('2026-12-01T00:00:00Z') - now.getTime()) / 1000;

    expect(retry).toEqual({ seconds: 1, retrySeconds: 600, untilEnd, lastChance: false, retries: 1 });
  });

  it('after a failed wait in the period’s last 10 minutes, tells the workflow to wait for the period end', async () => {
    const late = new Enforcer(
      { budgetsTable: 'Budgets', criticalTopicArn: TOPIC, protection, identityCenter: false, decisionHours: 24 },
      {
        documents,
        sns,
        audit: audit as unknown as AuditLog,
        denies: new DenyStore(documents, 'Budgets', new IamDenyWriter(iam)),
        writer: new IamDenyWriter(iam),
        waits: new PendingWaits(documents, sfn, 'Pending'),
        now: () => new Date('2026-11-30T23:55:00Z'),
      },
    );

    const retry = await late.failed({ ...input('user/alice'), step: 'await', error: {}, wait: { retries: 3 } });

    expect(retry).toMatchObject({ lastChance: true, untilEnd: 300 });
  });
});

describe('PendingWaits.decide', () => {
  const waits = new PendingWaits(documents, sfn, 'Pending', () => now);
  const stored = {
    id: 'w-1',
    kind: 'suspension',
    principal: 'user/alice',
    period: '2026-11',
    executionArn: 'arn:aws:states:us-east-1:111122223333:execution:suspend-principal:e1',
    createdAt: '2026-11-20T11:00:00.000Z',
    expiresAt: '2026-11-21T11:00:00.000Z',
    taskToken: 'token-1',
    ttl: 1,
  };
  const lift = { decision: 'lift', reason: 'approval', actor: 'admin:ops' } as const;
  const decided = { ...lift, at: now.toISOString() };
  // An admin's, the system's or a raised limit's decision may replace a `keep` (the link is spent, not the power).
  const DECIDE_EXPRESSION = 'SET kept = if_not_exists(decided, :none), decided = :decided, wakePending = :yes';

  beforeEach(() => {
    ddb.on(UpdateCommand, { UpdateExpression: DECIDE_EXPRESSION }).resolves({
      Attributes: { ...stored, decided, wakePending: true },
    });
    ddb.on(UpdateCommand, { UpdateExpression: 'REMOVE wakePending' }).resolves({});
    sfnMock.on(SendTaskSuccessCommand).resolves({});
  });

  it('records the first decision conditionally and sends it to the waiting workflow', async () => {
    const wait = await waits.decide('w-1', lift);

    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'Pending',
      Key: { id: 'w-1' },
      ConditionExpression: 'attribute_exists(id) AND (attribute_not_exists(decided) OR decided.decision = :keep)',
      ExpressionAttributeValues: { ':decided': decided, ':yes': true, ':keep': 'keep', ':none': null },
    });
    expect(sfnMock).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(sfnMock).toHaveReceivedCommandWith(SendTaskSuccessCommand, {
      taskToken: 'token-1',
      output: JSON.stringify(decided),
    });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { id: 'w-1' },
      UpdateExpression: 'REMOVE wakePending',
    });
    expect(wait).toMatchObject({ id: 'w-1', decided });
    expect(wait).not.toHaveProperty('taskToken');
  });

  it('records an override (`record`) only where nobody decided, not even keep, and wakes nobody until told', async () => {
    ddb.on(UpdateCommand, { UpdateExpression: 'SET decided = :decided, wakePending = :yes' }).resolves({
      Attributes: { ...stored, decided, wakePending: true },
    });

    await waits.record('w-1', lift);

    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: 'attribute_exists(id) AND attribute_not_exists(decided)',
    });
    expect(sfnMock).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });

  it('wakes nobody for keep, and still clears the pending wake', async () => {
    const keep = { decision: 'keep', reason: 'approval', actor: 'admin:ops' } as const;
    ddb.on(UpdateCommand, { UpdateExpression: DECIDE_EXPRESSION }).resolves({
      Attributes: { ...stored, decided: { ...keep, at: now.toISOString() }, wakePending: true },
    });

    await waits.decide('w-1', keep);

    expect(sfnMock).not.toHaveReceivedCommand(SendTaskSuccessCommand);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { UpdateExpression: 'REMOVE wakePending' });
  });

  it('refuses a second decision with DecisionError decided, naming the first, and wakes nobody', async () => {
    ddb.on(UpdateCommand, { UpdateExpression: DECIDE_EXPRESSION }).rejects(conditionFailed());
    ddb.on(GetCommand, { TableName: 'Pending', Key: { id: 'w-1' } }).resolves({ Item: { ...stored, decided } });

    const second = waits.decide('w-1', { decision: 'raise', reason: 'approval', actor: 'admin:other' });

    await expect(second).rejects.toBeInstanceOf(DecisionError);
    await expect(second).rejects.toMatchObject({
      code: 'decided',
      message: expect.stringContaining('lift by admin:ops'),
    });
    expect(sfnMock).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });

  it('refuses an unknown id with DecisionError unknown', async () => {
    ddb.on(UpdateCommand, { UpdateExpression: DECIDE_EXPRESSION }).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({});

    await expect(waits.decide('nope', lift)).rejects.toMatchObject({ name: 'DecisionError', code: 'unknown' });
  });

  it('tolerates a workflow that stopped waiting (TaskTimedOut) and clears the pending wake', async () => {
    sfnMock.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: 'timed out', $metadata: {} }));

    await expect(waits.decide('w-1', lift)).resolves.toMatchObject({ id: 'w-1' });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { UpdateExpression: 'REMOVE wakePending' });
  });

  it('keeps the wake pending for the sweep when the workflow cannot be told for another reason', async () => {
    sfnMock.on(SendTaskSuccessCommand).rejects(new Error('ServiceUnavailable'));

    await expect(waits.decide('w-1', lift)).rejects.toThrow('ServiceUnavailable');
    expect(ddb).not.toHaveReceivedCommandWith(UpdateCommand, { UpdateExpression: 'REMOVE wakePending' });
  });
});
