import {
  DeleteRolePolicyCommand,
  DeleteUserPolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserPolicyCommand,
  type IAMClient,
  ListRolePoliciesCommand,
  ListUserPoliciesCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import {
  DeleteInlinePolicyFromPermissionSetCommand,
  DescribePermissionSetCommand,
  GetInlinePolicyForPermissionSetCommand,
  ListPermissionSetsCommand,
  ProvisionPermissionSetCommand,
  PutInlinePolicyToPermissionSetCommand,
  type SSOAdminClient,
} from '@aws-sdk/client-sso-admin';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ATTRIBUTE_PREFIXES, ATTRIBUTES, KEYS } from '../../shared/budgets/items';
import {
  checkSize,
  DENY_POLICY_NAME,
  type DenyEntity,
  type DenyHold,
  denyPolicy,
  mergeIntoInlinePolicy,
  policySize,
} from '../../shared/enforcement/policy';
import { entityKey } from '../../shared/enforcement/target';
import type { MemberAccounts } from './accounts';

/** The Budgets item that records who holds a deny on one entity; `version` rises with every change. */
export const DENY_PERIOD = KEYS.denyPeriod;
const HOLD_PREFIX = ATTRIBUTE_PREFIXES.hold;
/** Rounds of put-then-recheck before giving up (each round means another writer changed the holds meanwhile). */
const MAX_ROUNDS = 10;

export class EnforcementError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EnforcementError';
  }
}

/** Writes (or deletes) the deny policy of one entity in IAM or IAM Identity Center. */
export interface DenyWriter {
  write(entity: DenyEntity, holds: readonly DenyHold[]): Promise<void>;
  /** The `aws:userid` pattern of one session of a role. */
  /**
   * @param account where the session's role is, for a permission set's role in a member account of an
   *   organization: the pattern then names that account's role id alone.
   */
  sessionPattern(entity: DenyEntity, roleName: string, sessionName: string, account?: string): Promise<string>;
}

const isNoSuchEntity = (error: unknown) => (error as { name?: string } | undefined)?.name === 'NoSuchEntityException';

/** Sets the entity's kind, name and (in a member account) account on its deny record, to rebuild it from. */
const entitySet = (entity: DenyEntity) =>
  `#kind = :kind, #name = :name${entity.account === undefined ? '' : ', #account = :account'}`;

/** The entity a deny record is about, account included (an older record without one: the deployment's own). */
export function entityOfRecord(item: Record<string, unknown>): DenyEntity {
  const account = item[ATTRIBUTES.entityAccount];
  return {
    kind: item[ATTRIBUTES.entityKind],
    name: item[ATTRIBUTES.entityName],
    ...(typeof account === 'string' ? { account } : {}),
  } as DenyEntity;
}

/** How an entity is named in audit entries and messages: `user alice`, `role app in 222233334444`. */
export const describeEntity = (entity: DenyEntity) =>
  `${entity.kind === 'permission-set' ? 'permission set' : entity.kind} ${entity.name}${entity.account ? ` in ${entity.account}` : ''}`;

/**
 * Holds are recorded in DynamoDB (the source of truth); the policy in IAM is derived from them. Several workflows
 * may change one role's holds at once (two sessions suspended together, a stop and a lift): each records its
 * change, writes the policy for what it read, and reads again; if the holds changed meanwhile it writes again.
 * Whoever writes last has then seen the last change, so IAM ends at the document for the final holds without a lock.
 */
export class DenyStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly writer: DenyWriter,
  ) {}

  async hold(entity: DenyEntity, hold: DenyHold): Promise<void> {
    await this.change(entity, `SET #hold = :hold, ${entitySet(entity)} ADD version :one`, hold.holder, {
      ':hold': {
        ...(hold.session === undefined ? {} : { session: hold.session }),
        ...(hold.resources === undefined ? {} : { resources: [...hold.resources] }),
      },
    });
    await this.converge(entity);
  }

  async release(entity: DenyEntity, holder: string): Promise<void> {
    await this.change(entity, `SET ${entitySet(entity)} REMOVE #hold ADD version :one`, holder, {});
    await this.converge(entity);
  }

  async holds(entity: DenyEntity): Promise<{ holds: DenyHold[]; version: string }> {
    const { Item } = await this.documents.send(
      new GetCommand({
        TableName: this.table,
        Key: { principal: entityKey(entity), period: DENY_PERIOD },
        ConsistentRead: true,
      }),
    );
    const holds = Object.entries(Item ?? {})
      .filter(([key]) => key.startsWith(HOLD_PREFIX))
      .map(([key, value]) => {
        const { session, resources } = value as { session?: unknown; resources?: unknown };
        return {
          holder: key.slice(HOLD_PREFIX.length),
          ...(typeof session === 'string' ? { session } : {}),
          ...(Array.isArray(resources) ? { resources: resources.map(String) } : {}),
        };
      })
      .sort((a, b) => (a.holder < b.holder ? -1 : 1));
    return { holds, version: String((Item?.version as { value?: string } | undefined)?.value ?? Item?.version ?? 0) };
  }

  private async change(
    entity: DenyEntity,
    expression: string,
    holder: string,
    values: Record<string, unknown>,
  ): Promise<void> {
    await this.documents.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { principal: entityKey(entity), period: DENY_PERIOD },
        UpdateExpression: expression,
        ExpressionAttributeNames: {
          '#hold': `${HOLD_PREFIX}${holder}`,
          '#kind': ATTRIBUTES.entityKind,
          '#name': ATTRIBUTES.entityName,
          ...(entity.account === undefined ? {} : { '#account': ATTRIBUTES.entityAccount }),
        },
        ExpressionAttributeValues: {
          ...values,
          ':one': 1,
          ':kind': entity.kind,
          ':name': entity.name,
          ...(entity.account === undefined ? {} : { ':account': entity.account }),
        },
      }),
    );
  }

  private async converge(entity: DenyEntity): Promise<void> {
    let { holds, version } = await this.holds(entity);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      await this.writer.write(entity, holds);
      const again = await this.holds(entity);
      if (again.version === version) return;
      ({ holds, version } = again);
    }
    throw new EnforcementError(`the deny on ${describeEntity(entity)} kept changing; it will be retried`);
  }
}

/**
 * Users and roles: the `BudgeteerDeny` inline policy itself, in the deployment's own account through its own IAM
 * client, and in a member account of the organization through that account's enforcement role.
 */
export class IamDenyWriter implements DenyWriter {
  /** Role ids by account and role name (`<account>:<role>`; the deployment's own account is empty). */
  private readonly roleIds = new Map<string, string>();

  constructor(
    private readonly iam: IAMClient,
    private readonly identityCenter?: IdentityCenterDenyWriter,
    private readonly members?: MemberAccounts,
  ) {}

  /** The IAM client that can write the entity's policy: its account's enforcement role, or the function's own. */
  private iamOf(entity: DenyEntity): IAMClient {
    if (entity.account === undefined) return this.iam;
    if (!this.members) {
      throw new EnforcementError(
        `${describeEntity(entity)} is in another account, and this deployment is not an organization's`,
      );
    }
    return this.members.iam(entity.account);
  }

  async sessionPattern(entity: DenyEntity, roleName: string, sessionName: string, account?: string): Promise<string> {
    // A permission set spans accounts, each with its own role id: in the deployment's own account, any role id
    // with this session. A member account's session is scoped to that account's role (role ids are unique), so
    // its budget cuts the human off there alone, not in every account the permission set reaches.
    if (entity.kind === 'permission-set' && account === undefined) return `*:${sessionName}`;
    const where = entity.kind === 'permission-set' ? { ...entity, account } : entity;
    const key = `${where.account ?? ''}:${roleName}`;
    let roleId = this.roleIds.get(key);
    if (!roleId) {
      const { Role } = await this.iamOf(where).send(new GetRoleCommand({ RoleName: roleName }));
      if (!Role?.RoleId) throw new EnforcementError(`IAM returned no id for role ${roleName}`);
      roleId = Role.RoleId;
      this.roleIds.set(key, roleId);
    }
    return `${roleId}:${sessionName}`;
  }

  async write(entity: DenyEntity, holds: readonly DenyHold[]): Promise<void> {
    if (entity.kind === 'permission-set') {
      if (!this.identityCenter) throw new EnforcementError('IAM Identity Center is not configured');
      return this.identityCenter.write(entity, holds);
    }
    const iam = this.iamOf(entity);
    const document = denyPolicy(entity, holds);
    const UserName = entity.name;
    const RoleName = entity.name;
    const PolicyName = DENY_POLICY_NAME;
    const isUser = entity.kind === 'user';
    if (!document) {
      try {
        if (isUser) await iam.send(new DeleteUserPolicyCommand({ UserName, PolicyName }));
        else await iam.send(new DeleteRolePolicyCommand({ RoleName, PolicyName }));
      } catch (error) {
        if (!isNoSuchEntity(error)) throw error;
      }
      return;
    }
    checkSize(entity, document, await this.otherPoliciesSize(iam, entity));
    const PolicyDocument = JSON.stringify(document);
    if (isUser) await iam.send(new PutUserPolicyCommand({ UserName, PolicyName, PolicyDocument }));
    else await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName, PolicyDocument }));
  }

  /** IAM's quota is on all of an entity's inline policies together. */
  private async otherPoliciesSize(iam: IAMClient, entity: DenyEntity): Promise<number> {
    const UserName = entity.name;
    const RoleName = entity.name;
    const isUser = entity.kind === 'user';
    const { PolicyNames = [] } = isUser
      ? await iam.send(new ListUserPoliciesCommand({ UserName }))
      : await iam.send(new ListRolePoliciesCommand({ RoleName }));
    let size = 0;
    for (const PolicyName of PolicyNames.filter((name) => name !== DENY_POLICY_NAME)) {
      const { PolicyDocument = '' } = isUser
        ? await iam.send(new GetUserPolicyCommand({ UserName, PolicyName }))
        : await iam.send(new GetRolePolicyCommand({ RoleName, PolicyName }));
      size += policySize(JSON.parse(decodeURIComponent(PolicyDocument)));
    }
    return size;
  }
}

/**
 * `AWSReservedSSO_*` roles: IAM refuses to edit them (UnmodifiableEntity), so the deny goes into the inline
 * policy of the permission set that provisions them, merged beside the organization's own statements, and the
 * permission set is re-provisioned to every account it is assigned to.
 */
export class IdentityCenterDenyWriter {
  private readonly arns = new Map<string, string>();

  constructor(
    private readonly ssoAdmin: SSOAdminClient,
    private readonly instanceArn: string,
  ) {}

  async write(entity: DenyEntity, holds: readonly DenyHold[]): Promise<void> {
    const PermissionSetArn = await this.permissionSetArn(entity.name);
    const { InlinePolicy } = await this.ssoAdmin.send(
      new GetInlinePolicyForPermissionSetCommand({ InstanceArn: this.instanceArn, PermissionSetArn }),
    );
    const merged = mergeIntoInlinePolicy(InlinePolicy || undefined, entity, holds);
    if (merged === (InlinePolicy || undefined)) return;
    const InstanceArn = this.instanceArn;
    if (merged === undefined) {
      await this.ssoAdmin.send(new DeleteInlinePolicyFromPermissionSetCommand({ InstanceArn, PermissionSetArn }));
    } else {
      await this.ssoAdmin.send(
        new PutInlinePolicyToPermissionSetCommand({ InstanceArn, PermissionSetArn, InlinePolicy: merged }),
      );
    }
    await this.ssoAdmin.send(
      new ProvisionPermissionSetCommand({
        InstanceArn: this.instanceArn,
        PermissionSetArn,
        TargetType: 'ALL_PROVISIONED_ACCOUNTS',
      }),
    );
  }

  private async permissionSetArn(name: string): Promise<string> {
    const known = this.arns.get(name);
    if (known) return known;
    let NextToken: string | undefined;
    do {
      const page = await this.ssoAdmin.send(
        new ListPermissionSetsCommand({ InstanceArn: this.instanceArn, NextToken }),
      );
      for (const arn of page.PermissionSets ?? []) {
        const { PermissionSet } = await this.ssoAdmin.send(
          new DescribePermissionSetCommand({ InstanceArn: this.instanceArn, PermissionSetArn: arn }),
        );
        if (PermissionSet?.Name) this.arns.set(PermissionSet.Name, arn);
      }
      NextToken = page.NextToken;
    } while (NextToken && !this.arns.has(name));
    const arn = this.arns.get(name);
    if (!arn) throw new EnforcementError(`no permission set named ${name} in ${this.instanceArn}`);
    return arn;
  }
}
