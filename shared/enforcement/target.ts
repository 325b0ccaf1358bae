import { KEYS } from '../budgets/items';
import { qualifiedId, splitPrincipalId } from '../identity';
import { MEMBER_SYSTEM_ROLE } from './organization';
import type { DenyEntity } from './policy';

/** IAM Identity Center provisions `AWSReservedSSO_<permission set name>_<16 hex>` roles, which IAM refuses to edit. */
const SSO_ROLE = /^AWSReservedSSO_(.+)_[0-9a-f]{16}$/;

export interface ProtectionRules {
  readonly accountId?: string;
  /** Principal ARNs never denied (break glass), as configured. */
  readonly breakGlassArns: readonly string[];
  /** Role name patterns (`*` wildcard) of the stack's own roles: never denied. */
  readonly systemRolePatterns: readonly string[];
  /**
   * An organization deployment: a principal of another account (a qualified id, `222233334444:user/alice`) is
   * denied in that account, and the member stacks' roles (and the StackSet's) are the system's own there.
   */
  readonly organization?: boolean;
}

/**
 * Whether a role is the system's own: in the deployment's account by the stack's role name patterns, in a member
 * account of an organization by the member stack's exact role names (see MEMBER_SYSTEM_ROLE).
 */
function isSystemRole(name: string, member: boolean, protection: ProtectionRules): boolean {
  return member
    ? MEMBER_SYSTEM_ROLE.test(name)
    : protection.systemRolePatterns.some((pattern) => glob(pattern).test(name));
}

/** What a suspension acts on, resolved from a principal's ARN. */
export type EnforcementTarget =
  | {
      readonly status: 'deny';
      readonly entity: DenyEntity;
      /**
       * For a per-session principal: the role session to scope the deny to (`aws:userid` = `<role id>:<session>`),
       * and the member account the role is in, where it is not the deployment's own.
       */
      readonly session?: { readonly roleName: string; readonly sessionName: string; readonly account?: string };
    }
  | { readonly status: 'protected'; readonly reason: string }
  | { readonly status: 'unsupported'; readonly reason: string };

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

/**
 * Which IAM entity to deny for a principal, or why none may be denied. Root, the stack's own roles and the
 * break-glass list are protected whoever asks; the check is on the authenticated ARN, never on a display name.
 * @param identityCenter whether the deny for `AWSReservedSSO_*` roles goes on their permission set (IAM refuses
 *   PutRolePolicy on those roles in a real account)
 */
export function enforcementTarget(
  principal: { readonly id: string; readonly arn?: string },
  protection: ProtectionRules,
  identityCenter: boolean,
): EnforcementTarget {
  const { id, arn } = principal;
  const { account: named, local } = splitPrincipalId(id);
  if (local === 'root' || (arn !== undefined && /^arn:aws[a-z-]*:iam::\d{12}:root$/.test(arn))) {
    return { status: 'protected', reason: 'the account root is never suspended' };
  }
  if (arn !== undefined && protection.breakGlassArns.includes(arn)) {
    return { status: 'protected', reason: 'it is a break-glass principal' };
  }
  // The account the entity is in: the authenticated ARN's, else the id's, else the deployment's own. Break glass
  // is matched there only: a role of the same name in another account is another role.
  const account = ACCOUNT_OF_ARN.exec(arn ?? '')?.[1] ?? named ?? protection.accountId;
  // A qualified id names another account: its deny goes through that account's enforcement role. An unqualified id
  // (every id of a single account) is the deployment's own account, as before.
  const elsewhere = named !== undefined && named !== protection.accountId ? { account: named } : {};
  const breakGlass = (type: 'user' | 'role', name: string) =>
    account !== undefined && protection.breakGlassArns.some((glass) => entityNameOf(glass, type, account) === name);
  const [type, name, sessionName, ...rest] = local.split('/');
  if (type === 'user' && name && sessionName === undefined) {
    if (breakGlass('user', name)) return { status: 'protected', reason: 'it is a break-glass principal' };
    return { status: 'deny', entity: { kind: 'user', name, ...elsewhere } };
  }
  if (type === 'role' && name && rest.length === 0) {
    if (isSystemRole(name, elsewhere.account !== undefined, protection)) {
      return { status: 'protected', reason: 'it is one of the budget system’s own roles' };
    }
    if (breakGlass('role', name)) return { status: 'protected', reason: 'its role is a break-glass principal' };
    const sso = SSO_ROLE.exec(name);
    // A permission set belongs to the organization's Identity Center, not to an account.
    const entity: DenyEntity =
      sso?.[1] && identityCenter ? { kind: 'permission-set', name: sso[1] } : { kind: 'role', name, ...elsewhere };
    return sessionName
      ? { status: 'deny', entity, session: { roleName: name, sessionName, ...elsewhere } }
      : { status: 'deny', entity };
  }
  if (type === 'federated-user') {
    return {
      status: 'unsupported',
      reason: 'a federated user has no IAM entity of its own: deny the IAM user that issues its tokens',
    };
  }
  return { status: 'unsupported', reason: `cannot tell which IAM entity ${id} is` };
}

const ACCOUNT_OF_ARN = /^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):/;

/** The user or role name a break-glass ARN names in `account` (possibly with a path), if it names one of that type. */
function entityNameOf(arn: string, type: 'user' | 'role', account: string): string | undefined {
  const match = /^arn:aws[a-z-]*:iam::(\d{12}):(user|role)\/(?:.*\/)?([^/]+)$/.exec(arn);
  return match && match[1] === account && match[2] === type ? match[3] : undefined;
}

/**
 * The key of an entity's deny record: one record (and one policy) per IAM user, role or permission set, and per
 * account: `DENY#user/alice` in the deployment's own account, `DENY#222233334444:user/alice` in a member account.
 */
export const entityKey = (entity: DenyEntity) => {
  const local = `${entity.kind}/${entity.name}`;
  return `${KEYS.denyPrefix}${entity.account ? qualifiedId(entity.account, local) : local}`;
};
