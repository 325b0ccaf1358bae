import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateUserCommand, GetUserPolicyCommand, IAMClient, NoSuchEntityException } from '@aws-sdk/client-iam';
import {
  CreateAccountCommand,
  CreateOrganizationalUnitCommand,
  CreateOrganizationCommand,
  DescribeCreateAccountStatusCommand,
  ListRootsCommand,
  ListTargetsForPolicyCommand,
  MoveAccountCommand,
  OrganizationsClient,
} from '@aws-sdk/client-organizations';
import { STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { assumedRoleCredentials, MemberAccounts } from '../../functions/suspend/accounts';
import { IamDenyWriter } from '../../functions/suspend/deny';
import { OrganizationStop, OrganizationStopRecords, type ScpAudit } from '../../functions/suspend/scp';
import { type LocalAws, startLocalAws } from '../../local/aws';
import { DENY_POLICY_NAME } from '../../shared/enforcement/policy';

jest.setTimeout(60_000);

const MANAGEMENT = '111111111111';
const MEMBER = '222222222222';
const MANAGEMENT_ROLE = `arn:aws:iam::${MANAGEMENT}:role/BudgeteerOrganizationStop`;

// What the central suspend function's cross-account paths rely on in moto 5.2.1: it selects the account of a request
// by its access key, and STS AssumeRole's keys belong to the assumed role's account.
describe('cross-account enforcement on the local AWS (moto)', () => {
  let local: LocalAws;
  let endpointOnly: { endpoint: string; region: string };
  let sts: STSClient;

  beforeAll(async () => {
    local = await startLocalAws();
    endpointOnly = { endpoint: local.endpoint, region: local.region };
    sts = new STSClient(local.clientConfig);
  });

  afterAll(() => local?.stop());

  it("writes a member principal's deny into the member account's IAM through its assumed enforcement role", async () => {
    const members = new MemberAccounts(sts, 'aws', endpointOnly);
    // alice exists in the member account only (created there through the same assumed role).
    await members.iam(MEMBER).send(new CreateUserCommand({ UserName: 'alice' }));
    const home = new IAMClient(local.clientConfig);

    await new IamDenyWriter(home, undefined, members).write({ kind: 'user', name: 'alice', account: MEMBER }, [
      { holder: 'suspend:local-1' },
    ]);

    const { PolicyDocument } = await members
      .iam(MEMBER)
      .send(new GetUserPolicyCommand({ UserName: 'alice', PolicyName: DENY_POLICY_NAME }));
    expect(JSON.parse(decodeURIComponent(PolicyDocument ?? '{}')).Statement[0].Sid).toBe('BudgeteerDenyAll');
    await expect(
      home.send(new GetUserPolicyCommand({ UserName: 'alice', PolicyName: DENY_POLICY_NAME })),
    ).rejects.toBeInstanceOf(NoSuchEntityException);
  });

  it('creates, attaches and detaches the SCP through the assumed management role', async () => {
    const management = new OrganizationsClient({
      ...endpointOnly,
      credentials: assumedRoleCredentials(sts, MANAGEMENT_ROLE),
    });
    const { Organization } = await management.send(new CreateOrganizationCommand({ FeatureSet: 'ALL' }));
    // The assumed role's keys act as the management account: the organization is its.
    expect(Organization?.MasterAccountId).toBe(MANAGEMENT);
    const { Roots = [] } = await management.send(new ListRootsCommand({}));
    const root = Roots[0]?.Id as string;
    const { OrganizationalUnit } = await management.send(
      new CreateOrganizationalUnitCommand({ ParentId: root, Name: 'workloads' }),
    );
    const workloads = OrganizationalUnit?.Id as string;
    const { CreateAccountStatus } = await management.send(
      new CreateAccountCommand({ AccountName: 'member', Email: 'member@example.com' }),
    );
    const { CreateAccountStatus: created } = await management.send(
      new DescribeCreateAccountStatusCommand({ CreateAccountRequestId: CreateAccountStatus?.Id }),
    );
    const member = created?.AccountId as string;
    await management.send(
      new MoveAccountCommand({ AccountId: member, SourceParentId: root, DestinationParentId: workloads }),
    );
    const dynamo = new DynamoDBClient(local.clientConfig);
    await dynamo.send(
      new CreateTableCommand({
        TableName: 'Budgets',
        KeySchema: [
          { AttributeName: 'principal', KeyType: 'HASH' },
          { AttributeName: 'period', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'principal', AttributeType: 'S' },
          { AttributeName: 'period', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const stop = new OrganizationStop(
      management,
      new OrganizationStopRecords(DynamoDBDocumentClient.from(dynamo), 'Budgets'),
      {
        targets: [workloads],
        exceptions: { systemRolePatterns: ['BudgeteerMember-*'], breakGlassPrincipals: [] },
      },
    );
    const audited: string[] = [];
    const audit: ScpAudit = async (action, target) => {
      audited.push(`${action} ${target}`);
    };

    const record = await stop.begin('2026-12', 'stop:local-org', audit);
    const attached = await management.send(new ListTargetsForPolicyCommand({ PolicyId: record?.policyId }));
    const detached = await stop.end('2026-12', 'stop:local-org', audit);
    const after = await management.send(new ListTargetsForPolicyCommand({ PolicyId: record?.policyId }));

    expect(record).toMatchObject({ targets: [workloads], attached: [workloads], accounts: [member] });
    expect(attached.Targets?.map((target) => target.TargetId)).toEqual([workloads]);
    expect(detached).toEqual([workloads]);
    expect(after.Targets).toEqual([]);
    expect(audited).toEqual([`scp.attached ${workloads}`, `scp.detached ${workloads}`]);
  });
});
