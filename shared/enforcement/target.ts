import { KEYS } from '../budgets/items';
import type { DenyEntity } from './policy';

/** IAM Identity Center provisions `AWSReservedSSO_<permission set name>_<16 hex>` roles, which IAM refuses to edit. */
const SSO_ROLE = /^AWSReservedSSO_(.+)_[0-9a-f]{16}$/;

export interface ProtectionRules {
  readonly accountId?: string;
  /** Principal ARNs never denied (break glass), as configured. */
  readonly breakGlassArns: readonly string[];
  /** Role name patterns (`*` wildcard) of the stack's own roles: never denied. */
  readonly systemRolePatterns: readonly string[];
}

/** What a suspension acts on, resolved from a principal's ARN. */
export type EnforcementTarget =
  | {
      readonly status: 'deny';
      readonly entity: DenyEntity;
      /** For a per-session principal: the role session to scope the deny to (`aws:userid` = `<role id>:<session>`). */
      readonly session?: { readonly roleName: string; readonly sessionName: string };
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
  if (id === 'root' || (arn !== undefined && /^arn:aws[a-z-]*:iam::\d{12}:root$/.test(arn))) {
    return { status: 'protected', reason: 'the account root is never suspended' };
  }
  if (arn !== undefined && protection.breakGlassArns.includes(arn)) {
    return { status: 'protected', reason: 'it is a break-glass principal' };
  }
  const [type, name, sessionName, ...rest] = id.split('/');
  if (type === 'user' && name && sessionName === undefined) {
    return { status: 'deny', entity: { kind: 'user', name } };
  }
  if (type === 'role' && name && rest.length === 0) {
    if (protection.systemRolePatterns.some((pattern) => glob(pattern).test(name))) {
      return { status: 'protected', reason: 'it is one of the budget system’s own roles' };
    }
    const account = ACCOUNT_OF_ARN.exec(arn ?? '')?.[1] ?? protection.accountId;
    if (account && protection.breakGlassArns.some((glass) => roleNameOf(glass, account) === name)) {
      return { status: 'protected', reason: 'its role is a break-glass principal' };
    }
    const sso = SSO_ROLE.exec(name);
    const entity: DenyEntity =
      sso?.[1] && identityCenter ? { kind: 'permission-set', name: sso[1] } : { kind: 'role', name };
    return sessionName
      ? { status: 'deny', entity, session: { roleName: name, sessionName } }
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

/** The role name a break-glass ARN names in `account` (a role ARN, possibly with a path), if it names a role. */
function roleNameOf(arn: string, account: string): string | undefined {
  const match = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(arn);
  return match && match[1] === account ? match[2] : undefined;
}

/** The key of an entity's deny record: one record (and one policy) per IAM user, role or permission set. */
export const entityKey = (entity: DenyEntity) => `${KEYS.denyPrefix}${entity.kind}/${entity.name}`;
