import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  IAMClient,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { type KinesisClient, PutRecordCommand } from '@aws-sdk/client-kinesis';
import {
  CreateAccountCommand,
  CreateOrganizationalUnitCommand,
  CreateOrganizationCommand,
  EnablePolicyTypeCommand,
  ListPoliciesCommand,
  ListRootsCommand,
  MoveAccountCommand,
  OrganizationsClient,
  type PolicyTargetSummary,
  paginateListTargetsForPolicy,
} from '@aws-sdk/client-organizations';
import type { LocalAws } from './aws';
import { type CloudFormationTemplateJson, type Deployment, deployTemplate } from './deploy';
import { matchesPattern } from './event-filter';
import { createPrincipals } from './iam';
import { localKinesisClient } from './kinesis';

/** The organization's management account: it owns the organization and its SCPs (which never apply to it). */
export const MANAGEMENT_ACCOUNT_ID = '111111111111';
/** The member accounts, both in the OU `workloads`. */
export const MEMBER_ACCOUNT_IDS = ['222222222222', '333333333333'] as const;
export const WORKLOADS_OU_NAME = 'workloads';
/** The management account's role the central suspend function assumes to create, attach and detach SCPs. */
export const ORGANIZATION_STOP_ROLE_NAME = 'BudgeteerOrganizationStop';
export const ORGANIZATION_STOP_ROLE_ARN = `arn:aws:iam::${MANAGEMENT_ACCOUNT_ID}:role/${ORGANIZATION_STOP_ROLE_NAME}`;
/** Asks the launcher's patched CreateAccount (local/moto_server.py, patch_fixed_account_ids) for this account id. */
const FIXED_ACCOUNT_ID_TAG = 'budgeteer:local-account-id';
/** The IAM user whose keys act in an account: moto selects the account of a request by its access key. */
const OPERATOR_USER = 'local-operator';

type ClientConfig = LocalAws['clientConfig'];

/** What exists before the central stack is synthesized: the organization's ids go into its context. */
export interface OrganizationLayout {
  readonly organizationId: string;
  readonly rootId: string;
  readonly workloadsOuId: string;
  readonly managementAccountId: string;
  /** The budget account: the local stack's own (moto's default account), a member outside `workloads`. */
  readonly budgetAccountId: string;
  readonly memberAccountIds: readonly string[];
  /** SDK client configuration acting in each account (its operator's keys). */
  readonly clientConfigs: Readonly<Record<string, ClientConfig>>;
}

/**
 * Creates the organization in moto, as its management account: all features, SCPs enabled, the budget account in
 * the root and the OU `workloads` holding the two member accounts. moto selects the account of every request by its
 * access key, so each account gets an operator user whose keys act there (the first requests of an account name it
 * with moto's `x-moto-account-id` header, which the local front passes on unchanged).
 */
export async function createLocalOrganization(local: LocalAws): Promise<OrganizationLayout> {
  const accounts = [MANAGEMENT_ACCOUNT_ID, local.accountId, ...MEMBER_ACCOUNT_IDS];
  const clientConfigs: Record<string, ClientConfig> = {};
  for (const account of accounts) clientConfigs[account] = await operatorConfig(local, account);
  const management = new OrganizationsClient(clientConfigs[MANAGEMENT_ACCOUNT_ID] as ClientConfig);
  try {
    const { Organization } = await management.send(new CreateOrganizationCommand({ FeatureSet: 'ALL' }));
    const { Roots = [] } = await management.send(new ListRootsCommand({}));
    const rootId = Roots[0]?.Id ?? '';
    await management.send(new EnablePolicyTypeCommand({ RootId: rootId, PolicyType: 'SERVICE_CONTROL_POLICY' }));
    const { OrganizationalUnit } = await management.send(
      new CreateOrganizationalUnitCommand({ ParentId: rootId, Name: WORKLOADS_OU_NAME }),
    );
    const workloadsOuId = OrganizationalUnit?.Id ?? '';
    const create = (account: string, name: string) =>
      management.send(
        new CreateAccountCommand({
          AccountName: name,
          Email: `${name}@example.com`,
          Tags: [{ Key: FIXED_ACCOUNT_ID_TAG, Value: account }],
        }),
      );
    await create(local.accountId, 'budget');
    for (const [index, account] of MEMBER_ACCOUNT_IDS.entries()) {
      await create(account, `workload-${index + 1}`);
      await management.send(
        new MoveAccountCommand({ AccountId: account, SourceParentId: rootId, DestinationParentId: workloadsOuId }),
      );
    }
    return {
      organizationId: Organization?.Id ?? '',
      rootId,
      workloadsOuId,
      managementAccountId: MANAGEMENT_ACCOUNT_ID,
      budgetAccountId: local.accountId,
      memberAccountIds: [...MEMBER_ACCOUNT_IDS],
      clientConfigs,
    };
  } finally {
    management.destroy();
  }
}

/** An operator user in `account` with an access key; the returned configuration acts in that account. */
async function operatorConfig(local: LocalAws, account: string): Promise<ClientConfig> {
  if (account === local.accountId) return local.clientConfig;
  const iam = new IAMClient(local.clientConfig);
  iam.middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-moto-account-id'] = account;
      return next(args);
    },
    { step: 'build', name: 'motoAccount' },
  );
  try {
    await iam.send(new CreateUserCommand({ UserName: OPERATOR_USER }));
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: OPERATOR_USER }));
    return {
      ...local.clientConfig,
      credentials: { accessKeyId: AccessKey?.AccessKeyId ?? '', secretAccessKey: AccessKey?.SecretAccessKey ?? '' },
    };
  } finally {
    iam.destroy();
  }
}

/** What the organization needs of the deployed central stack. */
export interface CentralStack {
  readonly template: CloudFormationTemplateJson;
  readonly deployment: Deployment;
  /** EventBridge PutEvents on the named bus of the central stack (LocalStack.putEvents). */
  putEvents(events: readonly unknown[], options: { readonly bus: string }): Promise<(string | undefined)[]>;
}

/**
 * Completes the organization once the central stack is deployed: the member template (the StackSet's, which the
 * local deployer skips) deployed with its IAM roles into each member account, as the StackSet would, and into the
 * management account, as the plain `cdk deploy` the README asks for there would (service-managed StackSets never
 * deploy to it); and the management account's role for SCPs, trusted by the central suspend function's role.
 */
export async function deployLocalOrganization(
  local: LocalAws,
  layout: OrganizationLayout,
  central: CentralStack,
  log: (line: string) => void = () => {},
): Promise<LocalOrganization> {
  const stackSet = Object.values(central.template.Resources ?? {}).find(
    (r) => r.Type === 'AWS::CloudFormation::StackSet',
  );
  const body = stackSet?.Properties?.TemplateBody;
  if (typeof body !== 'string') {
    throw new Error('the central template has no member StackSet: synthesize it with organizationalUnitIds');
  }
  const member = JSON.parse(body) as CloudFormationTemplateJson;
  const parameters = Object.fromEntries(
    Object.keys(member.Parameters ?? {}).map((name) => [name, centralOutput(central.deployment, name)]),
  );
  for (const account of [...layout.memberAccountIds, layout.managementAccountId]) {
    const byStackSet = account !== layout.managementAccountId;
    await deployTemplate(asAccount(local, account, layout), member, {
      handlers: {},
      parameters,
      stackName: byStackSet ? `StackSet-budgeteer-members-${account}` : 'BudgeteerMember',
      createIam: true,
      log: (line) => log(`${account} ${line}`),
    });
  }
  await createManagementRole(layout, parameters.SuspendRoleArn ?? '');
  return new LocalOrganization(local, layout, central, member);
}

/** The central stack's output of that name (CDK suffixes the ids of outputs made in a construct). */
function centralOutput(deployment: Deployment, name: string): string {
  const key = Object.keys(deployment.outputs).find(
    (k) => k === name || new RegExp(`^Organization${name}[0-9A-F]{8}$`).test(k),
  );
  const value = key === undefined ? undefined : deployment.outputs[key];
  if (value === undefined) throw new Error(`the central stack has no output ${name}`);
  return value;
}

/** The local AWS, acting in `account`: the deployer's resources land there. */
function asAccount(local: LocalAws, account: string, layout: OrganizationLayout): LocalAws {
  const clientConfig = layout.clientConfigs[account];
  if (!clientConfig) throw new Error(`account ${account} is not in the local organization`);
  return Object.assign(Object.create(local) as LocalAws, {
    accountId: account,
    clientConfig,
    credentials: clientConfig.credentials,
  });
}

async function createManagementRole(layout: OrganizationLayout, suspendRoleArn: string): Promise<void> {
  const iam = new IAMClient(layout.clientConfigs[layout.managementAccountId] as ClientConfig);
  try {
    await iam.send(
      new CreateRoleCommand({
        RoleName: ORGANIZATION_STOP_ROLE_NAME,
        Description: "Creates, attaches and detaches the organization stop's SCP, for the budget account",
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: suspendRoleArn },
              Action: 'sts:AssumeRole',
              Condition: {
                ArnEquals: { 'aws:PrincipalArn': suspendRoleArn },
                StringEquals: { 'aws:PrincipalOrgID': layout.organizationId },
              },
            },
          ],
        }),
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: ORGANIZATION_STOP_ROLE_NAME,
        PolicyName: 'ServiceControlPolicies',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: [
                'organizations:CreatePolicy',
                'organizations:UpdatePolicy',
                'organizations:DescribePolicy',
                'organizations:ListPolicies',
                'organizations:AttachPolicy',
                'organizations:DetachPolicy',
                'organizations:ListTargetsForPolicy',
                'organizations:ListRoots',
                'organizations:ListChildren',
                'organizations:DescribeOrganization',
                'organizations:TagResource',
                'organizations:ListTagsForResource',
              ],
              Resource: '*',
            },
          ],
        }),
      }),
    );
  } finally {
    iam.destroy();
  }
}

/** An SCP of the organization and where it is attached. */
export interface ScpAttachment {
  readonly policyId: string;
  readonly name: string;
  readonly targets: readonly { readonly targetId: string; readonly type: string; readonly name: string }[];
}

/**
 * The local organization, for scenarios and tests to drive: what each member account's own AWS does (its forwarding
 * rule, its invocation log subscription), its accounts' IAM, and the organization's SCPs.
 */
export class LocalOrganization {
  get organizationId(): string {
    return this.layout.organizationId;
  }
  get rootId(): string {
    return this.layout.rootId;
  }
  /** The OU `workloads`, holding the member accounts. */
  get workloadsOuId(): string {
    return this.layout.workloadsOuId;
  }
  get managementAccountId(): string {
    return this.layout.managementAccountId;
  }
  get budgetAccountId(): string {
    return this.layout.budgetAccountId;
  }
  get memberAccountIds(): readonly string[] {
    return this.layout.memberAccountIds;
  }
  /** The management account's role the central suspend function assumes for SCPs. */
  readonly managementRoleArn = ORGANIZATION_STOP_ROLE_ARN;
  private readonly kinesis: KinesisClient;

  constructor(
    local: LocalAws,
    private readonly layout: OrganizationLayout,
    private readonly central: CentralStack,
    private readonly member: CloudFormationTemplateJson,
  ) {
    this.kinesis = localKinesisClient(local.clientConfig);
  }

  /** SDK client configuration acting in `account` (any of the organization's four). */
  clientConfig(account: string): ClientConfig {
    const config = this.layout.clientConfigs[account];
    if (!config) throw new Error(`account ${account} is not in the local organization`);
    return config;
  }

  /** An IAM client of `account`; the caller destroys it. */
  iam(account: string): IAMClient {
    return new IAMClient(this.clientConfig(account));
  }

  /** Creates users and roles in `account` from principal ids (`user/alice`, `role/app`), as ./iam does locally. */
  createPrincipals(
    account: string,
    principals: readonly string[],
    tags?: Readonly<Record<string, Readonly<Record<string, string>>>>,
  ): Promise<number> {
    return createPrincipals({ clientConfig: this.clientConfig(account) }, principals, tags);
  }

  /**
   * What `account`'s forwarding rule does with a CloudTrail event of a Bedrock call: if it matches the member
   * stack's rule, EventBridge puts it on the central bus, keeping the account it happened in as `account`. Resolves
   * to the message id of the SQS message ingest will receive, or undefined when the rule does not match.
   */
  async forwardEvent(account: string, cloudTrailEvent: unknown): Promise<string | undefined> {
    this.requireMember(account);
    const rule = Object.values(this.member.Resources ?? {}).find((r) => r.Type === 'AWS::Events::Rule');
    if (!matchesPattern(rule?.Properties?.EventPattern, cloudTrailEvent)) return undefined;
    const bus = this.central.deployment.find('AWS::Events::EventBus').physicalId;
    const [messageId] = await this.central.putEvents([{ ...(cloudTrailEvent as object), account }], { bus });
    return messageId;
  }

  /**
   * What `account`'s invocation log subscription does with Bedrock invocation log records: CloudWatch Logs sends
   * those its filter pattern matches to the central Logs destination, which puts them on its Kinesis stream as one
   * record: the subscription payload (owner = the account, logGroup = the member's invocation log group), gzipped.
   */
  async deliverInvocationLogs(
    account: string,
    records: readonly unknown[],
    ids?: readonly string[],
  ): Promise<{ shardId: string; sequenceNumber: string } | undefined> {
    this.requireMember(account);
    const subscription = Object.values(this.member.Resources ?? {}).find(
      (r) => r.Type === 'AWS::Logs::SubscriptionFilter',
    )?.Properties as { LogGroupName: string; FilterPattern: string } | undefined;
    if (!subscription) throw new Error('the member template has no invocation log subscription');
    const matches = jsonFilter(subscription.FilterPattern);
    const logEvents = records.flatMap((record, index) => {
      const message = typeof record === 'string' ? record : JSON.stringify(record);
      if (!matches(message)) return [];
      const id = ids?.[index] ?? `${Date.now()}${String(index).padStart(6, '0')}`;
      return [{ id, timestamp: Date.now(), message }];
    });
    if (logEvents.length === 0) return undefined;
    const payload = {
      messageType: 'DATA_MESSAGE',
      owner: account,
      logGroup: subscription.LogGroupName,
      logStream: 'aws/bedrock/modelinvocations',
      subscriptionFilters: ['InvocationLogSubscription'],
      logEvents,
    };
    const destination = this.central.deployment.find('AWS::Logs::Destination');
    const put = await this.kinesis.send(
      new PutRecordCommand({
        StreamARN: destination.attributes.TargetArn,
        PartitionKey: randomUUID(),
        Data: gzipSync(JSON.stringify(payload)),
      }),
    );
    return { shardId: put.ShardId ?? '', sequenceNumber: put.SequenceNumber ?? '' };
  }

  /** Every SCP other than AWS's FullAWSAccess, with its targets, as the management account sees them. */
  async scpAttachments(): Promise<ScpAttachment[]> {
    const organizations = new OrganizationsClient(this.clientConfig(this.managementAccountId));
    try {
      const { Policies = [] } = await organizations.send(new ListPoliciesCommand({ Filter: 'SERVICE_CONTROL_POLICY' }));
      const attachments: ScpAttachment[] = [];
      for (const policy of Policies.filter((p) => !p.AwsManaged)) {
        const targets: PolicyTargetSummary[] = [];
        for await (const page of paginateListTargetsForPolicy({ client: organizations }, { PolicyId: policy.Id })) {
          targets.push(...(page.Targets ?? []));
        }
        attachments.push({
          policyId: policy.Id ?? '',
          name: policy.Name ?? '',
          targets: targets.map((t) => ({ targetId: t.TargetId ?? '', type: t.Type ?? '', name: t.Name ?? '' })),
        });
      }
      return attachments;
    } finally {
      organizations.destroy();
    }
  }

  /** Everything another process needs to act in the organization: ids, each account's client configuration, SCPs. */
  async describe() {
    return {
      organizationId: this.organizationId,
      rootId: this.rootId,
      workloadsOuId: this.workloadsOuId,
      managementAccountId: this.managementAccountId,
      budgetAccountId: this.budgetAccountId,
      memberAccountIds: this.memberAccountIds,
      managementRoleArn: this.managementRoleArn,
      clientConfigs: this.layout.clientConfigs,
      scps: await this.scpAttachments(),
    };
  }

  stop(): void {
    this.kinesis.destroy();
  }

  /**
   * Only accounts with the member stack forward anything (the members and the management account); the central
   * bus's and destination's policies admit the organization's accounts only, which these all are.
   */
  private requireMember(account: string): void {
    if (!this.layout.clientConfigs[account] || account === this.budgetAccountId) {
      throw new Error(`account ${account} has no member stack in the local organization`);
    }
  }
}

/**
 * A CloudWatch Logs JSON filter pattern of the one form the member stack uses, `{ $.field = "value" }`; any other
 * pattern is refused rather than misread.
 */
function jsonFilter(pattern: string): (message: string) => boolean {
  const parsed = /^\{\s*\$\.([A-Za-z0-9_]+)\s*=\s*"([^"]*)"\s*\}$/.exec(pattern.trim());
  if (!parsed) throw new Error(`the local Logs subscription does not evaluate the filter pattern ${pattern}`);
  const [, field = '', value] = parsed;
  return (message) => {
    try {
      return (JSON.parse(message) as Record<string, unknown>)[field] === value;
    } catch {
      return false;
    }
  };
}
