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
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { MemberAccounts, RENEW_BEFORE_MS } from '../../functions/suspend/accounts';
import { DenyStore, EnforcementError, entityOfRecord, IamDenyWriter } from '../../functions/suspend/deny';
import { denyPolicy } from '../../shared/enforcement/policy';

const REGION = { region: 'us-east-1' };
const MEMBER = '222222222222';
const OTHER_MEMBER = '333333333333';

const iamMock = mockClient(IAMClient);
const stsMock = mockClient(STSClient);
const ddb = mockClient(DynamoDBDocumentClient);

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
