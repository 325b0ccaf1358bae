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
  sessionPattern(entity: DenyEntity, roleName: string, sessionName: string): Promise<string>;
}

const isNoSuchEntity = (error: unknown) => (error as { name?: string } | undefined)?.name === 'NoSuchEntityException';

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
    await this.change(entity, 'SET #hold = :hold, #kind = :kind, #name = :name ADD version :one', hold.holder, {
      ':hold': {
        ...(hold.session === undefined ? {} : { session: hold.session }),
        ...(hold.resources === undefined ? {} : { resources: [...hold.resources] }),
      },
    });
    await this.converge(entity);
  }

  async release(entity: DenyEntity, holder: string): Promise<void> {
    await this.change(entity, 'SET #kind = :kind, #name = :name REMOVE #hold ADD version :one', holder, {});
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
        },
        ExpressionAttributeValues: { ...values, ':one': 1, ':kind': entity.kind, ':name': entity.name },
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
    throw new EnforcementError(`the deny on ${entity.kind} ${entity.name} kept changing; it will be retried`);
  }
}

/** Users and roles: the `BudgeteerDeny` inline policy itself. */
export class IamDenyWriter implements DenyWriter {
  private readonly roleIds = new Map<string, string>();

  constructor(
    private readonly iam: IAMClient,
    private readonly identityCenter?: IdentityCenterDenyWriter,
  ) {}

  async sessionPattern(entity: DenyEntity, roleName: string, sessionName: string): Promise<string> {
    // A permission set spans accounts, each with its own role id: match any role id with this session.
    if (entity.kind === 'permission-set') return `*:${sessionName}`;
    let roleId = this.roleIds.get(roleName);
    if (!roleId) {
      const { Role } = await this.iam.send(new GetRoleCommand({ RoleName: roleName }));
      if (!Role?.RoleId) throw new EnforcementError(`IAM returned no id for role ${roleName}`);
      roleId = Role.RoleId;
      this.roleIds.set(roleName, roleId);
    }
    return `${roleId}:${sessionName}`;
  }

  async write(entity: DenyEntity, holds: readonly DenyHold[]): Promise<void> {
    if (entity.kind === 'permission-set') {
      if (!this.identityCenter) throw new EnforcementError('IAM Identity Center is not configured');
      return this.identityCenter.write(entity, holds);
    }
    const document = denyPolicy(entity, holds);
    const UserName = entity.name;
    const RoleName = entity.name;
    const PolicyName = DENY_POLICY_NAME;
    const isUser = entity.kind === 'user';
    if (!document) {
      try {
        if (isUser) await this.iam.send(new DeleteUserPolicyCommand({ UserName, PolicyName }));
        else await this.iam.send(new DeleteRolePolicyCommand({ RoleName, PolicyName }));
      } catch (error) {
        if (!isNoSuchEntity(error)) throw error;
      }
      return;
    }
    checkSize(entity, document, await this.otherPoliciesSize(entity));
    const PolicyDocument = JSON.stringify(document);
    if (isUser) await this.iam.send(new PutUserPolicyCommand({ UserName, PolicyName, PolicyDocument }));
    else await this.iam.send(new PutRolePolicyCommand({ RoleName, PolicyName, PolicyDocument }));
  }

  /** IAM's quota is on all of an entity's inline policies together. */
  private async otherPoliciesSize(entity: DenyEntity): Promise<number> {
    const UserName = entity.name;
    const RoleName = entity.name;
    const isUser = entity.kind === 'user';
    const { PolicyNames = [] } = isUser
      ? await this.iam.send(new ListUserPoliciesCommand({ UserName }))
      : await this.iam.send(new ListRolePoliciesCommand({ RoleName }));
    let size = 0;
    for (const PolicyName of PolicyNames.filter((name) => name !== DENY_POLICY_NAME)) {
      const { PolicyDocument = '' } = isUser
        ? await this.iam.send(new GetUserPolicyCommand({ UserName, PolicyName }))
        : await this.iam.send(new GetRolePolicyCommand({ RoleName, PolicyName }));
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
