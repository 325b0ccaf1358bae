import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteUserPolicyCommand,
  GetRoleCommand,
  IAMClient,
  ListRolePoliciesCommand,
  ListUserPoliciesCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import {
  AccessDeniedException,
  AttachPolicyCommand,
  ConstraintViolationException,
  CreatePolicyCommand,
  DescribeOrganizationCommand,
  DescribePolicyCommand,
  DetachPolicyCommand,
  DuplicatePolicyAttachmentException,
  DuplicatePolicyException,
  ListChildrenCommand,
  ListPoliciesCommand,
  ListRootsCommand,
  ListTargetsForPolicyCommand,
  OrganizationsClient,
  PolicyNotAttachedException,
  UpdatePolicyCommand,
} from '@aws-sdk/client-organizations';
import { SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient, GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { MemberAccounts, RENEW_BEFORE_MS } from '../../functions/suspend/accounts';
import { DenyStore, EnforcementError, entityOfRecord, IamDenyWriter } from '../../functions/suspend/deny';
import { stoppedMessage } from '../../functions/suspend/messages';
import { OrganizationStop, OrganizationStopRecords, type ScpAudit } from '../../functions/suspend/scp';
import { Enforcer } from '../../functions/suspend/suspend';
import type { AuditLog } from '../../shared/audit/log';
import { PendingWaits } from '../../shared/decisions/pending';
import { denyPolicy } from '../../shared/enforcement/policy';
import { organizationStopPolicy } from '../../shared/enforcement/scp';

const REGION = { region: 'us-east-1' };
const MEMBER = '222222222222';
const OTHER_MEMBER = '333333333333';

const iamMock = mockClient(IAMClient);
const stsMock = mockClient(STSClient);
const ddb = mockClient(DynamoDBDocumentClient);
const orgMock = mockClient(OrganizationsClient);
const snsMock = mockClient(SNSClient);
const conditionFailed = () =>
  Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });

const HOME_KEY = 'AKIAHOMEFUNCTION';
const iam = new IAMClient({ ...REGION, credentials: { accessKeyId: HOME_KEY, secretAccessKey: 'secret' } });
const sts = new STSClient(REGION);
const documents = DynamoDBDocumentClient.from(new DynamoDBClient(REGION));
let clock = Date.parse('2026-12-01T12:00:00Z');
const now = () => clock;

/** STS answers each AssumeRole with credentials named after the role's account and the call's number. */
function assumeRoleAnswers(): void {
  let issued = 0;
  stsMock.on(AssumeRoleCommand).callsFake(async ({ RoleArn }: { RoleArn: string }) => {
    issued++;
    const account = RoleArn.split(':')[4];
    return {
      Credentials: {
        AccessKeyId: `ASIA${account}-${issued}`,
        SecretAccessKey: 'secret',
        SessionToken: 'token',
        Expiration: new Date(clock + 3_600_000),
      },
    };
  });
}

/** What each IAM call was signed with: the SDK resolves its client's credentials to sign every request. */
let signedWith: { command: string; accessKeyId: string; client: unknown }[] = [];
function signs(command: unknown, output: Record<string, unknown> = {}): void {
  iamMock.on(command as never).callsFake(async (_input: unknown, getClient: () => IAMClient) => {
    const client = getClient();
    const credentials = await (client.config.credentials as () => Promise<{ accessKeyId: string }>)();
    signedWith.push({ command: (command as { name: string }).name, accessKeyId: credentials.accessKeyId, client });
    return output;
  });
}
const keysOf = (command: { name: string }) =>
  signedWith.filter((call) => call.command === command.name).map((call) => call.accessKeyId);

beforeEach(() => {
  iamMock.reset();
  stsMock.reset();
  ddb.reset();
  signedWith = [];
  clock = Date.parse('2026-12-01T12:00:00Z');
  signs(ListUserPoliciesCommand, { PolicyNames: [] });
  signs(ListRolePoliciesCommand, { PolicyNames: [] });
  for (const command of [PutUserPolicyCommand, PutRolePolicyCommand, DeleteUserPolicyCommand]) signs(command);
  assumeRoleAnswers();
});

describe('IamDenyWriter across the accounts of an organization', () => {
  const writer = () => new IamDenyWriter(iam, undefined, new MemberAccounts(sts, 'aws', REGION, now));
  const holds = [{ holder: 'suspend:e1' }];

  it("writes a member account principal's deny through that account's assumed enforcement role", async () => {
    const alice = { kind: 'user', name: 'alice', account: MEMBER } as const;

    await writer().write(alice, holds);

    expect(stsMock).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    expect(stsMock).toHaveReceivedCommandWith(AssumeRoleCommand, {
      RoleArn: `arn:aws:iam::${MEMBER}:role/BudgeteerMember-Enforcement`,
      RoleSessionName: 'budgeteer-enforcement',
    });
    expect(iamMock).toHaveReceivedCommandWith(PutUserPolicyCommand, {
      UserName: 'alice',
      PolicyName: 'BudgeteerDeny',
      PolicyDocument: JSON.stringify(denyPolicy(alice, holds)),
    });
    // Signed with the assumed role's credentials, not the function's own; the size check reads the member's
    // policies through the same role.
    expect(keysOf(PutUserPolicyCommand)).toEqual([`ASIA${MEMBER}-1`]);
    expect(keysOf(ListUserPoliciesCommand)).toEqual([`ASIA${MEMBER}-1`]);
  });

  it("writes a principal of the deployment's own account with the function's own client, assuming nothing", async () => {
    await writer().write({ kind: 'user', name: 'alice' }, holds);

    expect(keysOf(PutUserPolicyCommand)).toEqual([HOME_KEY]);
    expect(signedWith[0]?.client).toBe(iam);
    expect(stsMock).not.toHaveReceivedCommand(AssumeRoleCommand);
  });

  it('assumes each member role once and keeps its credentials until shortly before they expire', async () => {
    const deny = writer();
    const alice = { kind: 'user', name: 'alice', account: MEMBER } as const;
    const bob = { kind: 'user', name: 'bob', account: OTHER_MEMBER } as const;

    await deny.write(alice, holds);
    await deny.write(alice, []);
    await deny.write(bob, holds);
    expect(stsMock).toHaveReceivedCommandTimes(AssumeRoleCommand, 2);

    clock += 3_600_000 - RENEW_BEFORE_MS + 1;
    await deny.write(alice, holds);

    expect(stsMock).toHaveReceivedCommandTimes(AssumeRoleCommand, 3);
    expect(keysOf(DeleteUserPolicyCommand)).toEqual([`ASIA${MEMBER}-1`]);
    expect(keysOf(PutUserPolicyCommand)).toEqual([`ASIA${MEMBER}-1`, `ASIA${OTHER_MEMBER}-2`, `ASIA${MEMBER}-3`]);
  });

  it("looks up a role's id per account: the same role name in two accounts is two roles", async () => {
    iamMock.on(GetRoleCommand).callsFake(async (_input: unknown, getClient: () => IAMClient) => ({
      Role: { RoleId: getClient() === iam ? 'AROAHOME' : 'AROAMEMBER' },
    }));
    const deny = writer();
    const home = { kind: 'role', name: 'notebook' } as const;
    const member = { kind: 'role', name: 'notebook', account: MEMBER } as const;

    const patterns = [
      await deny.sessionPattern(home, 'notebook', 'maria'),
      await deny.sessionPattern(member, 'notebook', 'maria'),
      await deny.sessionPattern(member, 'notebook', 'li'),
    ];

    expect(patterns).toEqual(['AROAHOME:maria', 'AROAMEMBER:maria', 'AROAMEMBER:li']);
    expect(iamMock).toHaveReceivedCommandTimes(GetRoleCommand, 2);
  });

  it("scopes a member account's SSO session on its permission set to that account's role, not every account's", async () => {
    iamMock.on(GetRoleCommand).callsFake(async (_input: unknown, getClient: () => IAMClient) => ({
      Role: { RoleId: getClient() === iam ? 'AROAHOME' : 'AROAMEMBER' },
    }));
    const set = { kind: 'permission-set', name: 'Dev' } as const;
    const role = 'AWSReservedSSO_Dev_0123456789abcdef';

    expect(await writer().sessionPattern(set, role, 'maria', MEMBER)).toBe('AROAMEMBER:maria');
    // The deployment's own account keeps the pattern of a single account: any role id with the session.
    expect(await writer().sessionPattern(set, role, 'maria')).toBe('*:maria');
  });

  it('refuses a member account entity when the deployment is not an organization’s', async () => {
    await expect(new IamDenyWriter(iam).write({ kind: 'role', name: 'app', account: MEMBER }, holds)).rejects.toThrow(
      EnforcementError,
    );
    expect(iamMock).not.toHaveReceivedCommand(PutRolePolicyCommand);
  });
});

describe('deny records of member account entities', () => {
  const writer = { write: jest.fn(), sessionPattern: jest.fn() };
  const store = new DenyStore(documents, 'Budgets', writer);
  const app = { kind: 'role', name: 'app', account: MEMBER } as const;

  beforeEach(() => {
    writer.write.mockReset().mockResolvedValue(undefined);
    ddb.on(UpdateCommand).resolves({});
    ddb.on(GetCommand).resolves({ Item: { version: 1, 'hold:suspend:e1': {} } });
  });

  it('keys the record by account and records the account, so a resume rebuilds the entity where it is', async () => {
    await store.hold(app, { holder: 'suspend:e1' });

    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { principal: `DENY#${MEMBER}:role/app`, period: 'DENY' },
      UpdateExpression: 'SET #hold = :hold, #kind = :kind, #name = :name, #account = :account ADD version :one',
      ExpressionAttributeNames: expect.objectContaining({ '#account': 'entityAccount' }),
      ExpressionAttributeValues: expect.objectContaining({ ':account': MEMBER }),
    });
    expect(writer.write).toHaveBeenCalledWith(app, [{ holder: 'suspend:e1' }]);
    expect(entityOfRecord({ entityKind: 'role', entityName: 'app', entityAccount: MEMBER })).toEqual(app);
    expect(entityOfRecord({ entityKind: 'role', entityName: 'app' })).toEqual({ kind: 'role', name: 'app' });
  });

  it("writes no account on a record of the deployment's own account (a single account's records stay as they were)", async () => {
    await store.release({ kind: 'user', name: 'alice' }, 'suspend:e1');

    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { principal: 'DENY#user/alice', period: 'DENY' },
      UpdateExpression: 'SET #kind = :kind, #name = :name REMOVE #hold ADD version :one',
      ExpressionAttributeNames: { '#hold': 'hold:suspend:e1', '#kind': 'entityKind', '#name': 'entityName' },
    });
  });
});

describe('the organization stop by SCP', () => {
  const MANAGEMENT = '111111111111';
  const HOME = '123456789012';
  const ROOT = 'r-root1';
  const WORKLOADS = 'ou-root1-workloads';
  const PERIOD = '2026-11';
  const HOLDER = 'stop:org-1';
  const exceptions = { systemRolePatterns: ['BudgeteerStack-*', 'BudgeteerMember-*'], breakGlassPrincipals: [] };
  const content = JSON.stringify(organizationStopPolicy(exceptions));
  const audit = { append: jest.fn() };
  const organizations = new OrganizationsClient(REGION);
  const sns = new SNSClient(REGION);
  const sfn = new SFNClient(REGION);

  /** AWS Organizations as it answers: one root, the management and budget accounts in it, two members in an OU. */
  let policies: { Id: string; Name: string; Content: string }[];
  let attachments: Set<string>;
  /** The account's counter of the period, as DynamoDB keeps it. */
  let account: Record<string, unknown>;
  const accountKey = { principal: 'ACCOUNT', period: PERIOD };
  const children: Record<string, { ACCOUNT: string[]; ORGANIZATIONAL_UNIT: string[] }> = {
    [ROOT]: { ACCOUNT: [MANAGEMENT, HOME], ORGANIZATIONAL_UNIT: [WORKLOADS] },
    [WORKLOADS]: { ACCOUNT: [MEMBER, OTHER_MEMBER], ORGANIZATIONAL_UNIT: [] },
  };

  beforeEach(() => {
    orgMock.reset();
    snsMock.reset();
    audit.append.mockReset().mockResolvedValue({});
    snsMock.on(PublishCommand).resolves({});
    policies = [];
    attachments = new Set();
    account = { ...accountKey, spendUsd: 1000 };
    orgMock
      .on(ListPoliciesCommand)
      .callsFake(async () => ({ Policies: policies.map(({ Id, Name }) => ({ Id, Name })) }));
    orgMock.on(CreatePolicyCommand).callsFake(async ({ Name, Content }) => {
      if (policies.some((policy) => policy.Name === Name)) {
        throw new DuplicatePolicyException({ message: 'exists', $metadata: {} });
      }
      policies.push({ Id: 'p-stop0001', Name, Content });
      return { Policy: { PolicySummary: { Id: 'p-stop0001', Name } } };
    });
    orgMock.on(DescribePolicyCommand).callsFake(async ({ PolicyId }) => ({
      Policy: { Content: policies.find((policy) => policy.Id === PolicyId)?.Content },
    }));
    orgMock.on(UpdatePolicyCommand).callsFake(async ({ PolicyId, Content }) => {
      for (const policy of policies) if (policy.Id === PolicyId) policy.Content = Content;
      return {};
    });
    orgMock.on(ListTargetsForPolicyCommand).callsFake(async () => ({
      Targets: [...attachments].map((TargetId) => ({ TargetId })),
    }));
    orgMock.on(AttachPolicyCommand).callsFake(async ({ TargetId }) => {
      if (attachments.has(TargetId)) {
        throw new DuplicatePolicyAttachmentException({ message: 'attached', $metadata: {} });
      }
      attachments.add(TargetId);
      return {};
    });
    orgMock.on(DetachPolicyCommand).callsFake(async ({ TargetId }) => {
      if (!attachments.delete(TargetId)) throw new PolicyNotAttachedException({ message: 'no', $metadata: {} });
      return {};
    });
    orgMock.on(ListRootsCommand).resolves({ Roots: [{ Id: ROOT }] });
    orgMock.on(DescribeOrganizationCommand).resolves({ Organization: { MasterAccountId: MANAGEMENT } });
    orgMock.on(ListChildrenCommand).callsFake(async ({ ParentId, ChildType }) => ({
      Children: (children[ParentId as string]?.[ChildType as 'ACCOUNT'] ?? []).map((Id) => ({ Id, Type: ChildType })),
    }));
    ddb.on(GetCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    // The account's counter: the breaker and the organization stop's record, with their conditions.
    ddb.on(GetCommand, { Key: accountKey }).callsFake(async () => ({ Item: structuredClone(account) }));
    ddb.on(UpdateCommand, { Key: accountKey }).callsFake(async (input) => {
      const record = account.organizationStop as { holder?: string } | undefined;
      if (input.UpdateExpression === 'SET #o = :record') {
        if (record && record.holder !== input.ExpressionAttributeValues[':holder']) throw conditionFailed();
        account.organizationStop = input.ExpressionAttributeValues[':record'];
      } else if (input.UpdateExpression === 'REMOVE #o') {
        if (record?.holder !== input.ExpressionAttributeValues[':holder']) throw conditionFailed();
        delete account.organizationStop;
      } else if (input.UpdateExpression === 'SET #state = :stopped, #s = :s') {
        const stop = account.suspension as { holder?: string } | undefined;
        if (stop && stop.holder !== input.ExpressionAttributeValues[':holder']) throw conditionFailed();
        Object.assign(account, { state: 'stopped', suspension: input.ExpressionAttributeValues[':s'] });
      } else if (input.UpdateExpression === 'SET #state = :active REMOVE #s') {
        Object.assign(account, { state: 'active' });
        delete account.suspension;
      }
      return {};
    });
  });

  const stop = (targets: string[] = [], managementAccountId?: string) =>
    new OrganizationStop(organizations, new OrganizationStopRecords(documents, 'Budgets'), {
      targets,
      exceptions,
      ...(managementAccountId ? { managementAccountId } : {}),
    });
  const audited = jest.fn();
  const auditLog: ScpAudit = async (action, target, details) => {
    audited(action, target, details);
  };

  describe('OrganizationStop', () => {
    beforeEach(() => audited.mockReset());

    it('creates the SCP by name, attaches it to each configured target, and records exactly those', async () => {
      const record = await stop([WORKLOADS, MANAGEMENT]).begin(PERIOD, HOLDER, auditLog);

      expect(orgMock).toHaveReceivedCommandWith(CreatePolicyCommand, {
        Name: 'BudgeteerOrganizationStop',
        Type: 'SERVICE_CONTROL_POLICY',
        Content: content,
        // The tag the function's permissions to change, attach and detach it are conditioned on.
        Tags: [{ Key: 'budgeteer', Value: 'organization-stop' }],
      });
      expect(orgMock.commandCalls(AttachPolicyCommand).map((call) => call.args[0].input)).toEqual([
        { PolicyId: 'p-stop0001', TargetId: WORKLOADS },
        { PolicyId: 'p-stop0001', TargetId: MANAGEMENT },
      ]);
      expect(record).toEqual({
        holder: HOLDER,
        policyId: 'p-stop0001',
        targets: [WORKLOADS, MANAGEMENT],
        attached: [WORKLOADS, MANAGEMENT],
        // The management account is never covered, even when named as a target: SCPs do not apply to it.
        accounts: [MEMBER, OTHER_MEMBER],
      });
      expect(account.organizationStop).toEqual(record);
      expect(audited.mock.calls.map(([action, target]) => [action, target])).toEqual([
        ['scp.attached', WORKLOADS],
        ['scp.attached', MANAGEMENT],
      ]);
    });

    it('attaches to the root when no target is configured, covering every account but the management one', async () => {
      const record = await stop().begin(PERIOD, HOLDER, auditLog);

      expect(attachments).toEqual(new Set([ROOT]));
      expect(record?.accounts).toEqual([HOME, MEMBER, OTHER_MEMBER]);
      expect(orgMock).toHaveReceivedCommandTimes(DescribeOrganizationCommand, 1);
    });

    it('on a retry keeps its record, creates nothing, and ends attached once to each target', async () => {
      await stop([WORKLOADS]).begin(PERIOD, HOLDER, auditLog);
      const again = await stop([WORKLOADS]).begin(PERIOD, HOLDER, auditLog);

      expect(orgMock).toHaveReceivedCommandTimes(CreatePolicyCommand, 1);
      expect(again).toMatchObject({ targets: [WORKLOADS], attached: [WORKLOADS] });
      expect([...attachments]).toEqual([WORKLOADS]);
      expect(policies).toHaveLength(1);
    });

    it('brings an existing SCP of the same name up to date instead of creating another', async () => {
      policies.push({ Id: 'p-old00001', Name: 'BudgeteerOrganizationStop', Content: '{"old":true}' });

      const record = await stop([WORKLOADS]).begin(PERIOD, HOLDER, auditLog);

      expect(orgMock).not.toHaveReceivedCommand(CreatePolicyCommand);
      expect(orgMock).toHaveReceivedCommandWith(UpdatePolicyCommand, { PolicyId: 'p-old00001', Content: content });
      expect(record?.policyId).toBe('p-old00001');
    });

    it('leaves a target the SCP was attached to before the stop out of what it attaches and detaches', async () => {
      policies.push({ Id: 'p-stop0001', Name: 'BudgeteerOrganizationStop', Content: content });
      attachments.add(OTHER_MEMBER);

      const record = await stop([WORKLOADS, OTHER_MEMBER]).begin(PERIOD, HOLDER, auditLog);
      const detached = await stop([WORKLOADS, OTHER_MEMBER]).end(PERIOD, HOLDER, auditLog);

      expect(record).toMatchObject({ targets: [WORKLOADS], accounts: [MEMBER, OTHER_MEMBER] });
      expect(detached).toEqual([WORKLOADS]);
      expect([...attachments]).toEqual([OTHER_MEMBER]);
    });

    it('counts no account covered by an SCP it did not attach: whoever attached it may detach it mid-stop', async () => {
      policies.push({ Id: 'p-stop0001', Name: 'BudgeteerOrganizationStop', Content: content });
      attachments.add(WORKLOADS);

      const record = await stop([WORKLOADS]).begin(PERIOD, HOLDER, auditLog);

      expect(record).toMatchObject({ targets: [], attached: [], accounts: [] });
    });

    it('detaches exactly what it attached, audits each, forgets its record, and changes nothing when retried', async () => {
      await stop([WORKLOADS, MEMBER]).begin(PERIOD, HOLDER, auditLog);
      audited.mockReset();

      const detached = await stop([WORKLOADS, MEMBER]).end(PERIOD, HOLDER, auditLog);
      const retried = await stop([WORKLOADS, MEMBER]).end(PERIOD, HOLDER, auditLog);

      expect(detached).toEqual([WORKLOADS, MEMBER]);
      expect(orgMock.commandCalls(DetachPolicyCommand).map((call) => call.args[0].input.TargetId)).toEqual([
        WORKLOADS,
        MEMBER,
      ]);
      expect(attachments.size).toBe(0);
      expect(account.organizationStop).toBeUndefined();
      expect(retried).toEqual([]);
      expect(audited.mock.calls.map(([action, target]) => [action, target])).toEqual([
        ['scp.detached', WORKLOADS],
        ['scp.detached', MEMBER],
      ]);
    });

    it('counts a target already detached by an earlier attempt as detached (PolicyNotAttached is success)', async () => {
      await stop([WORKLOADS]).begin(PERIOD, HOLDER, auditLog);
      attachments.clear();

      await expect(stop([WORKLOADS]).end(PERIOD, HOLDER, auditLog)).resolves.toEqual([WORKLOADS]);
    });

    it('audits a target it cannot attach and leaves its accounts uncovered, so their principals are denied', async () => {
      orgMock
        .on(AttachPolicyCommand, { TargetId: WORKLOADS })
        .rejects(new ConstraintViolationException({ message: 'too many policies', $metadata: {} }));

      const record = await stop([WORKLOADS, MEMBER]).begin(PERIOD, HOLDER, auditLog);

      expect(record).toMatchObject({ attached: [MEMBER], accounts: [MEMBER] });
      expect(audited).toHaveBeenCalledWith(
        'enforcement.failed',
        WORKLOADS,
        expect.objectContaining({ step: 'scp.attach' }),
      );
    });

    it("does not touch the SCP while another stop's record is in force", async () => {
      account.organizationStop = { holder: 'stop:other', policyId: 'p-stop0001', targets: [ROOT] };

      await expect(stop([WORKLOADS]).begin(PERIOD, HOLDER, auditLog)).resolves.toBeUndefined();
      await expect(stop([WORKLOADS]).end(PERIOD, HOLDER, auditLog)).resolves.toEqual([]);
      expect(orgMock).not.toHaveReceivedCommand(AttachPolicyCommand);
      expect(orgMock).not.toHaveReceivedCommand(DetachPolicyCommand);
    });
  });

  describe('Enforcer', () => {
    const protection = {
      accountId: HOME,
      breakGlassArns: [],
      systemRolePatterns: ['BudgeteerStack-*'],
      organization: true,
    };
    const spent = (principal: string) => ({ principal, period: PERIOD, spendUsd: 5 });
    const enforcer = (organizationStop?: OrganizationStop) => {
      const writer = new IamDenyWriter(iam, undefined, new MemberAccounts(sts, 'aws', REGION, now));
      return new Enforcer(
        {
          budgetsTable: 'Budgets',
          criticalTopicArn: 'arn:aws:sns:us-east-1:123456789012:critical',
          protection,
          identityCenter: false,
          decisionHours: 24,
        },
        {
          documents,
          sns,
          audit: audit as unknown as AuditLog,
          denies: new DenyStore(documents, 'Budgets', writer),
          writer,
          waits: new PendingWaits(documents, sfn, 'Pending', () => new Date(clock)),
          now: () => new Date(clock),
          ...(organizationStop ? { organizationStop } : {}),
        },
      );
    };
    const stopInput = (principal = 'ACCOUNT') => ({
      principal,
      period: PERIOD,
      decisionId: 'stop|ACCOUNT|2026-11|g0',
      holder: HOLDER,
      reason: 'organization budget exhausted',
      executionArn: 'arn:aws:states:us-east-1:123456789012:execution:emergency-stop:org-1',
    });

    beforeEach(() => {
      ddb.on(ScanCommand).resolves({
        Items: [
          spent('user/home-alice'),
          spent(`${MEMBER}:user/alice`),
          spent(`${OTHER_MEMBER}:role/app`),
          spent(`${MANAGEMENT}:user/finance`),
        ],
      });
    });

    it('attaches the SCP and leaves the covered accounts’ principals to it: the management account’s are denied one by one', async () => {
      const { principals } = await enforcer(stop([WORKLOADS])).beginStop(stopInput());

      expect([...attachments]).toEqual([WORKLOADS]);
      expect(principals.map((p) => p.principal)).toEqual(['user/home-alice', `${MANAGEMENT}:user/finance`]);
      expect(audit.append).toHaveBeenCalledWith(
        expect.objectContaining({
          action: 'scp.attached',
          subject: 'ACCOUNT',
          details: expect.objectContaining({ target: WORKLOADS, policyId: 'p-stop0001' }),
        }),
        { once: 'stop|ACCOUNT|2026-11|g0:scp.attached:ou-root1-workloads' },
      );
    });

    it("denies a management account principal through the management account's enforcement role, never by the SCP", async () => {
      const management = enforcer(stop([ROOT]));
      const { principals } = await management.beginStop(stopInput());
      ddb.on(GetCommand, { Key: { principal: `DENY#${MANAGEMENT}:user/finance`, period: 'DENY' } }).resolves({
        Item: { version: 1, [`hold:${HOLDER}|${MANAGEMENT}:user/finance`]: {} },
      });

      const outcome = await management.apply(stopInput(`${MANAGEMENT}:user/finance`));

      expect(principals.map((p) => p.principal)).toEqual([`${MANAGEMENT}:user/finance`]);
      expect(outcome).toMatchObject({ outcome: 'applied', target: `user finance in ${MANAGEMENT}` });
      expect(stsMock).toHaveReceivedCommandWith(AssumeRoleCommand, {
        RoleArn: `arn:aws:iam::${MANAGEMENT}:role/BudgeteerMember-Enforcement`,
      });
      expect(keysOf(PutUserPolicyCommand)).toEqual([`ASIA${MANAGEMENT}-1`]);
    });

    it('skips, without a deny, a principal of a covered account first seen while the stop is on', async () => {
      const organization = enforcer(stop([WORKLOADS]));
      await organization.beginStop(stopInput());

      const outcome = await organization.apply(stopInput(`${MEMBER}:user/newcomer`));

      expect(outcome).toMatchObject({ outcome: 'skipped', why: expect.stringContaining(MEMBER) });
      expect(signedWith).toEqual([]);
      expect(stsMock).not.toHaveReceivedCommand(AssumeRoleCommand);
    });

    it('sends a stop message that names the SCP, the targets it is attached to, and what resuming detaches', () => {
      const message = stoppedMessage({
        decisionId: 'stop|ACCOUNT|2026-11|g0',
        principal: 'ACCOUNT',
        period: PERIOD,
        denied: 2,
        reason: 'organization budget exhausted',
        scp: { policyId: 'p-stop0001', attached: [WORKLOADS, MEMBER] },
      });

      expect(message.subject).toBe(`EMERGENCY STOP: all Bedrock use in the organization is stopped (${PERIOD})`);
      expect(message.body).toContain(`BudgeteerOrganizationStop is attached to ${WORKLOADS}, ${MEMBER}`);
      expect(message.body).toContain('SCPs never apply to the management account');
      expect(message.body).toContain(`Resuming detaches the policy from ${WORKLOADS}, ${MEMBER}`);
      expect(message.data).toMatchObject({ scpPolicyId: 'p-stop0001', scpTargets: `${WORKLOADS} ${MEMBER}` });
    });

    it('denies every principal one by one, audited and alerted, when AWS Organizations refuses the SCP', async () => {
      orgMock
        .on(ListPoliciesCommand)
        .rejects(new AccessDeniedException({ message: 'not a delegated admin', $metadata: {} }));

      const { principals } = await enforcer(stop([WORKLOADS])).beginStop(stopInput());

      expect(principals).toHaveLength(4);
      expect(audit.append).toHaveBeenCalledWith(
        expect.objectContaining({ action: 'enforcement.failed', details: expect.objectContaining({ step: 'scp' }) }),
        { once: 'stop|ACCOUNT|2026-11|g0:failed:scp' },
      );
      expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
    });

    it('detaches what a stop attached when its beginning failed: no wait is left that a resume could end', async () => {
      const organization = enforcer(stop([WORKLOADS]));
      await organization.beginStop(stopInput());
      expect([...attachments]).toEqual([WORKLOADS]);

      await organization.failed({ ...stopInput(), step: 'begin-stop', error: { Error: 'States.Timeout' } });

      expect([...attachments]).toEqual([]);
      expect(audit.append).toHaveBeenCalledWith(expect.objectContaining({ action: 'scp.detached' }), expect.anything());
    });

    it("attaches no SCP for a group's stop", async () => {
      await enforcer(stop([WORKLOADS])).beginStop({ ...stopInput('GROUP#ds'), reason: 'group:ds' });

      expect(orgMock).not.toHaveReceivedCommand(AttachPolicyCommand);
    });

    it('at the resume detaches the SCP, audits it, and lifts a member deny in its own account', async () => {
      const organization = enforcer(stop([WORKLOADS]));
      await organization.beginStop(stopInput());
      const denyKey = { principal: `DENY#${MANAGEMENT}:user/finance`, period: 'DENY' };
      const hold = `hold:${HOLDER}|${MANAGEMENT}:user/finance`;
      ddb.on(ScanCommand).resolves({
        Items: [
          {
            ...denyKey,
            entityKind: 'user',
            entityName: 'finance',
            entityAccount: MANAGEMENT,
            [hold]: { principal: `${MANAGEMENT}:user/finance` },
          },
        ],
      });
      ddb.on(GetCommand, { Key: denyKey }).resolves({ Item: { version: 2 } });
      ddb.on(UpdateCommand, { Key: denyKey }).resolves({});
      audit.append.mockClear();

      const lifted = await organization.endStop({ ...stopInput(), reason: 'period-end' });

      expect(lifted).toBe(1);
      expect(attachments.size).toBe(0);
      expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
        Key: denyKey,
        UpdateExpression: expect.stringContaining('REMOVE #hold'),
      });
      expect(keysOf(DeleteUserPolicyCommand)).toEqual([`ASIA${MANAGEMENT}-1`]);
      expect(audit.append.mock.calls.map(([entry]) => entry.action)).toEqual([
        'scp.detached',
        'deny.lifted',
        'emergency-stop.resumed',
      ]);
      const message = JSON.parse(String(snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message));
      expect(JSON.stringify(message)).toContain(`BudgeteerOrganizationStop was detached from ${WORKLOADS}`);
    });
  });
});
