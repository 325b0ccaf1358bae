import { gunzipSync } from 'node:zlib';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  ListUsersCommand,
  NoSuchEntityException,
} from '@aws-sdk/client-iam';
import {
  CreateAccountCommand,
  DescribeOrganizationCommand,
  ListAccountsCommand,
  ListAccountsForParentCommand,
  ListRootsCommand,
  ListTagsForResourceCommand,
  OrganizationsClient,
} from '@aws-sdk/client-organizations';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { KinesisStreamEvent, SQSEvent } from 'aws-lambda';
import { loadHandler } from '../../local/handlers';
import {
  type LocalOrganization,
  MANAGEMENT_ACCOUNT_ID,
  MEMBER_ACCOUNT_IDS,
  ORGANIZATION_STOP_ROLE_NAME,
} from '../../local/organization';
import { LocalStack } from '../../local/stack';
import { invocationLog } from '../fixtures';

jest.setTimeout(120_000);

const [ALPHA, BETA] = MEMBER_ACCOUNT_IDS;
const INGEST_ENTRY = 'functions/ingest/handler.ts';

/** A CloudTrail event of a Bedrock call, as a member account's EventBridge sees it. */
const cloudTrailEvent = (eventName: string) => ({
  version: '0',
  id: `local-org-${eventName}`,
  'detail-type': 'AWS API Call via CloudTrail',
  source: 'aws.bedrock',
  region: 'us-east-1',
  time: '2026-11-15T10:00:00Z',
  detail: { eventSource: 'bedrock.amazonaws.com', eventName, requestID: `req-${eventName}` },
});

describe('local organization (LocalStack with organization: true)', () => {
  let stack: LocalStack;
  let org: LocalOrganization;
  const log: string[] = [];
  /** What ingest was invoked with: the real handler runs, these are only recorded on the way. */
  const ingested: unknown[] = [];

  beforeAll(async () => {
    stack = await LocalStack.start({ organization: true, log: (line) => log.push(line) });
    if (!stack.organization) throw new Error('no organization');
    org = stack.organization;
    const ingest = Object.values(stack.deployment.functions).find((f) => f.entry === INGEST_ENTRY);
    if (!ingest) throw new Error('no ingest');
    const real = loadHandler(INGEST_ENTRY, ingest.environment, stack.local);
    stack.local.registerFunction(ingest.name, (event, context) => {
      ingested.push(event);
      return real(event, context);
    });
  });

  afterAll(() => stack?.stop());

  /** Client configuration acting as `roleArn`, assumed with the budget account's (the stack's) keys. */
  async function assumed(roleArn: string, session: string) {
    const sts = new STSClient(stack.local.clientConfig);
    try {
      const { Credentials: c } = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: session }));
      const credentials = {
        accessKeyId: c?.AccessKeyId ?? '',
        secretAccessKey: c?.SecretAccessKey ?? '',
        sessionToken: c?.SessionToken ?? '',
      };
      return { ...stack.local.clientConfig, credentials };
    } finally {
      sts.destroy();
    }
  }

  function organizations(account: string) {
    return new OrganizationsClient(org.clientConfig(account));
  }

  it('creates the organization in the management account, SCPs enabled, the members in the OU workloads', async () => {
    const client = organizations(MANAGEMENT_ACCOUNT_ID);
    try {
      const { Organization } = await client.send(new DescribeOrganizationCommand({}));
      expect(Organization).toMatchObject({ Id: org.organizationId, MasterAccountId: MANAGEMENT_ACCOUNT_ID });
      const { Accounts = [] } = await client.send(new ListAccountsCommand({}));
      expect(Accounts.map((a) => a.Id).sort()).toEqual([MANAGEMENT_ACCOUNT_ID, '123456789012', ALPHA, BETA].sort());
      const { Accounts: inWorkloads = [] } = await client.send(
        new ListAccountsForParentCommand({ ParentId: org.workloadsOuId }),
      );
      expect(inWorkloads.map((a) => a.Id).sort()).toEqual([ALPHA, BETA]);
      const { Roots = [] } = await client.send(new ListRootsCommand({}));
      expect(Roots[0]?.PolicyTypes).toEqual([{ Type: 'SERVICE_CONTROL_POLICY', Status: 'ENABLED' }]);
      // The launcher's CreateAccount patch gave the fixed id, and says so on the account.
      const { Tags } = await client.send(new ListTagsForResourceCommand({ ResourceId: ALPHA }));
      expect(Tags).toEqual([{ Key: 'budgeteer:local-account-id', Value: ALPHA }]);
    } finally {
      client.destroy();
    }
  });

  it("lets the budget account (the stack's own) see the organization it is a member of", async () => {
    const client = new OrganizationsClient(stack.local.clientConfig);
    try {
      const { Organization } = await client.send(new DescribeOrganizationCommand({}));
      expect(Organization?.Id).toBe(org.organizationId);
    } finally {
      client.destroy();
    }
  });

  it('synthesizes the central stack for the organization and the OU, and skips its StackSet saying so', () => {
    expect(log).toContainEqual(expect.stringMatching(/StackSet .* skipped/));
    expect(log).toContainEqual(expect.stringMatching(/Kinesis stream .*ON_DEMAND/));
    expect(log).toContainEqual(expect.stringMatching(/Logs destination .* -> arn:aws:kinesis:/));
    expect(log).toContainEqual(expect.stringMatching(/event source .*KinesisEventSource.*bisected on error/));
    const stackSet = Object.values(stack.deployment.resources).find((r) => r.type === 'AWS::CloudFormation::StackSet');
    expect(stackSet?.created).toBe(false);
  });

  it("deploys the member stack's enforcement role into each member account and the management account only", async () => {
    const suspendRole = Object.entries(stack.deployment.outputs).find(([name]) =>
      name.startsWith('OrganizationSuspendRoleArn'),
    )?.[1];
    expect(suspendRole).toMatch(/^arn:aws:iam::123456789012:role\//);
    for (const account of [ALPHA, BETA, MANAGEMENT_ACCOUNT_ID]) {
      const iam = org.iam(account);
      try {
        const { Role } = await iam.send(new GetRoleCommand({ RoleName: 'BudgeteerMember-Enforcement' }));
        expect(Role?.Arn).toBe(`arn:aws:iam::${account}:role/BudgeteerMember-Enforcement`);
        const trust = JSON.parse(decodeURIComponent(Role?.AssumeRolePolicyDocument ?? '{}'));
        expect(trust.Statement[0].Condition.StringEquals).toEqual({ 'aws:PrincipalOrgID': org.organizationId });
        expect(trust.Statement[0].Principal).toEqual({ AWS: suspendRole });
        const { PolicyNames = [] } = await iam.send(
          new ListRolePoliciesCommand({ RoleName: 'BudgeteerMember-Enforcement' }),
        );
        const { PolicyDocument } = await iam.send(
          new GetRolePolicyCommand({ RoleName: 'BudgeteerMember-Enforcement', PolicyName: PolicyNames[0] }),
        );
        expect(decodeURIComponent(PolicyDocument ?? '')).toContain(`arn:aws:iam::${account}:user/*`);
      } finally {
        iam.destroy();
      }
    }
    // Not in the budget account: the StackSet and the management account's plain deploy never put it there.
    const budget = org.iam('123456789012');
    try {
      await expect(budget.send(new GetRoleCommand({ RoleName: 'BudgeteerMember-Enforcement' }))).rejects.toThrow(
        NoSuchEntityException,
      );
    } finally {
      budget.destroy();
    }
  });

  it("creates the management account's SCP role, trusted by the central suspend function's role", async () => {
    const iam = org.iam(MANAGEMENT_ACCOUNT_ID);
    try {
      const { Role } = await iam.send(new GetRoleCommand({ RoleName: ORGANIZATION_STOP_ROLE_NAME }));
      expect(Role?.Arn).toBe(org.managementRoleArn);
      const trust = JSON.parse(decodeURIComponent(Role?.AssumeRolePolicyDocument ?? '{}'));
      expect(trust.Statement[0].Principal.AWS).toMatch(/^arn:aws:iam::123456789012:role\//);
      expect(await org.scpAttachments()).toEqual([]);
    } finally {
      iam.destroy();
    }
  });

  it("points the suspend function at the management account's role and reaches the organization through it", async () => {
    expect(stack.deployment.environment).toMatchObject({
      ORGANIZATION_MANAGEMENT_ROLE_ARN: org.managementRoleArn,
      MANAGEMENT_ACCOUNT_ID: MANAGEMENT_ACCOUNT_ID,
    });
    const organizations = new OrganizationsClient(await assumed(org.managementRoleArn, 'local-org-stop'));
    try {
      const { Roots = [] } = await organizations.send(new ListRootsCommand({}));
      expect(Roots.map((r) => r.Id)).toEqual([org.rootId]);
    } finally {
      organizations.destroy();
    }
  });

  it('keeps each account its own IAM: a user created in one member account is not in the other', async () => {
    await org.createPrincipals(ALPHA, ['user/local-org-alice']);
    const [alpha, beta] = [org.iam(ALPHA), org.iam(BETA)];
    try {
      await expect(
        alpha.send(new GetRoleCommand({ RoleName: 'BudgeteerMember-EventForwarding' })),
      ).resolves.toBeDefined();
      const { Users: inAlpha = [] } = await alpha.send(new ListUsersCommand({}));
      const { Users: inBeta = [] } = await beta.send(new ListUsersCommand({}));
      expect(inAlpha.map((u) => u.UserName)).toContain('local-org-alice');
      expect(inBeta.map((u) => u.UserName)).not.toContain('local-org-alice');
    } finally {
      alpha.destroy();
      beta.destroy();
    }
  });

  it("lets the budget account act in a member account through its enforcement role's AssumeRole keys", async () => {
    const iam = new IAMClient(
      await assumed(`arn:aws:iam::${ALPHA}:role/BudgeteerMember-Enforcement`, 'local-org-suspend'),
    );
    try {
      // moto maps the temporary key to the role's account: the user created there is seen, not the budget's IAM.
      const { Users = [] } = await iam.send(new ListUsersCommand({}));
      expect(Users.map((u) => u.UserName)).toContain('local-org-alice');
      expect(Users.map((u) => u.Arn)).toContain(`arn:aws:iam::${ALPHA}:user/local-org-alice`);
    } finally {
      iam.destroy();
    }
  });

  it("forwards a member's Bedrock CloudTrail event over the central bus to ingest, keeping the member's account", async () => {
    ingested.length = 0;
    expect(await org.forwardEvent(ALPHA, cloudTrailEvent('ListFoundationModels'))).toBeUndefined();
    const messageId = await org.forwardEvent(ALPHA, cloudTrailEvent('InvokeModel'));
    expect(messageId).toEqual(expect.any(String));
    await stack.settle();
    const records = ingested.flatMap((event) => (event as SQSEvent).Records ?? []);
    expect(records.map((r) => r.messageId)).toEqual([messageId]);
    expect(JSON.parse(records[0]?.body ?? '{}')).toMatchObject({
      account: ALPHA,
      detail: { eventName: 'InvokeModel' },
    });
    await expect(org.forwardEvent('123456789012', cloudTrailEvent('InvokeModel'))).rejects.toThrow(/no member stack/);
  });

  it("delivers a member's invocation logs through the Logs destination's Kinesis stream to ingest, as CloudWatch Logs would", async () => {
    ingested.length = 0;
    const log = (requestId: string) => ({ schemaType: 'ModelInvocationLog', requestId, accountId: BETA });
    const put = await org.deliverInvocationLogs(
      BETA,
      [log('local-org-1'), { other: true }, log('local-org-2')],
      ['e1', 'e2', 'e3'],
    );
    await stack.settle();
    const records = ingested.flatMap((event) => (event as KinesisStreamEvent).Records ?? []);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      eventSource: 'aws:kinesis',
      eventSourceARN: stack.deployment.find('AWS::Kinesis::Stream').arn,
      kinesis: { sequenceNumber: put?.sequenceNumber },
    });
    const payload = JSON.parse(gunzipSync(Buffer.from(records[0]?.kinesis.data ?? '', 'base64')).toString('utf8'));
    // The subscription's filter pattern passes the invocation log records only.
    expect(payload).toMatchObject({
      messageType: 'DATA_MESSAGE',
      owner: BETA,
      logGroup: '/aws/bedrock/modelinvocations',
      logEvents: [
        { id: 'e1', message: JSON.stringify(log('local-org-1')) },
        { id: 'e3', message: JSON.stringify(log('local-org-2')) },
      ],
    });
  });

  it("meters a member's invocation log delivered through the stream into that account's principal, once", async () => {
    const dynamo = new DynamoDBClient(stack.local.clientConfig);
    try {
      const arn = (account: string) => `arn:aws:iam::${account}:user/local-org-meter`;
      await org.deliverInvocationLogs(ALPHA, [invocationLog('local-org-meter-a', arn(ALPHA))]);
      await org.deliverInvocationLogs(BETA, [invocationLog('local-org-meter-b', arn(BETA))]);
      // The same delivery again (a Kinesis retry, a second subscription): still counted once.
      await org.deliverInvocationLogs(ALPHA, [invocationLog('local-org-meter-a', arn(ALPHA))]);
      await stack.settle();
      for (const account of [ALPHA, BETA]) {
        const { Item } = await dynamo.send(
          new GetItemCommand({
            TableName: stack.output('BudgetsTableName'),
            Key: { principal: { S: `${account}:user/local-org-meter` }, period: { S: '2026-11' } },
            ConsistentRead: true,
          }),
        );
        expect(Item?.requests?.N).toBe('1');
        expect(Number(Item?.spendUsd?.N)).toBeGreaterThan(0);
      }
    } finally {
      dynamo.destroy();
    }
  });

  it('serves the organization to other processes: its description, and a member delivery over the control server', async () => {
    const control = await stack.serveControl();
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`${control}${path}`, { method: 'POST', body: JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const described = await post('/organization', {});
    expect(described.body).toMatchObject({
      organizationId: org.organizationId,
      workloadsOuId: org.workloadsOuId,
      memberAccountIds: [ALPHA, BETA],
      scps: [],
    });
    expect(Object.keys(described.body.clientConfigs as object).sort()).toEqual(
      [MANAGEMENT_ACCOUNT_ID, '123456789012', ALPHA, BETA].sort(),
    );
    ingested.length = 0;
    const sent = await post('/organization/logs', {
      account: BETA,
      records: [invocationLog('local-org-control', `arn:aws:iam::${BETA}:user/local-org-meter`)],
    });
    expect(sent.status).toBe(200);
    await stack.settle();
    const records = ingested.flatMap((event) => (event as KinesisStreamEvent).Records ?? []);
    expect(records.map((r) => r.kinesis.sequenceNumber)).toEqual([
      (sent.body.put as { sequenceNumber: string }).sequenceNumber,
    ]);
    expect((await post('/organization/forward', { account: '123456789012', event: {} })).status).toBe(500);
  });

  // Last: it adds an account to the organization.
  it("takes a fixed account id only as 12 digits, and leaves CreateAccount's random id alone without the tag", async () => {
    const client = organizations(MANAGEMENT_ACCOUNT_ID);
    try {
      const create = (Tags?: { Key: string; Value: string }[]) =>
        client.send(new CreateAccountCommand({ AccountName: 'extra', Email: 'extra@example.com', Tags }));
      await expect(create([{ Key: 'budgeteer:local-account-id', Value: 'alpha' }])).rejects.toThrow(/12 digits/);
      await expect(create([{ Key: 'budgeteer:local-account-id', Value: ALPHA }])).rejects.toThrow(/already/);
      const { CreateAccountStatus } = await create();
      expect(CreateAccountStatus?.AccountId).toMatch(/^[0-9]{12}$/);
      expect([MANAGEMENT_ACCOUNT_ID, '123456789012', ALPHA, BETA]).not.toContain(CreateAccountStatus?.AccountId);
    } finally {
      client.destroy();
    }
  });
});
