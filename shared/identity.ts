/** Who pays for a call: derived only from the authenticated identity (CloudTrail `userIdentity`, invocation log
 * `identity.arn`), never from caller-written fields such as `requestMetadata`. */

export type PrincipalKind = 'user' | 'api-key' | 'role' | 'session' | 'root' | 'federated-user';

export interface Principal {
  /**
   * Stable, readable key: `user/alice`, `role/app`, `role/AWSReservedSSO_X_123/maria@example.com`, `root`; in an
   * organization deployment a principal of any account but the deployment's own is account-qualified:
   * `222233334444:user/alice` (see qualifiedId).
   */
  readonly id: string;
  readonly kind: PrincipalKind;
  /** The IAM entity enforcement acts on (user, role, or the assumed-role session). */
  readonly arn: string;
  readonly accountId: string;
  /** User or role name; for sessions, the role's name. */
  readonly name: string;
  readonly sessionName?: string;
}

export interface IdentityRules {
  /** Role name patterns (`*` wildcard) whose sessions each get their own budget. */
  readonly perSessionRoles: readonly string[];
  /**
   * Set in an organization deployment: the deployment's own account. Principals of every other account get
   * account-qualified ids. Absent in a single account, where ids are never qualified (one account, one namespace).
   */
  readonly homeAccount?: string;
}

/** `<12-digit account>:<id>`: a principal of another account of the organization. */
const QUALIFIED_ID = /^(\d{12}):(.+)$/;

/** The id of a principal of `account`, as an organization deployment keys it. */
export function qualifiedId(account: string, id: string): string {
  return `${account}:${id}`;
}

/**
 * A principal id split into the account it names (absent: the deployment's own account) and the id within that
 * account (`user/alice`, `role/app/session`, `root`).
 */
export function splitPrincipalId(id: string): { readonly account?: string; readonly local: string } {
  const match = QUALIFIED_ID.exec(id);
  return match ? { account: match[1] as string, local: match[2] as string } : { local: id };
}

/**
 * A principal id as ingest keys it: one qualified with the deployment's own account (`home`) names a principal that
 * ingest keys unqualified, so a limit or membership written so would never match: it is read without the account.
 */
export function localizedId(id: string, home: string | undefined): string {
  const { account, local } = splitPrincipalId(id);
  return account !== undefined && account === home ? local : id;
}

/** The account a principal id names, `home` when it is not qualified. */
export const accountOfId = (id: string, home: string): string => splitPrincipalId(id).account ?? home;

/** The account-wide total is tracked as one more principal. */
export const ACCOUNT_PRINCIPAL = 'ACCOUNT';

/** Long-term Bedrock API keys are IAM users with this name prefix. */
const API_KEY_USER = /^BedrockAPIKey-/;
const ARN = /^arn:(aws[a-z-]*):(iam|sts)::(\d{12}):(.+)$/;

export class IdentityError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IdentityError';
  }
}

/** Compiled once: ingest tests every assumed-role call against the per-session patterns. */
const compiledGlobs = new Map<string, RegExp>();

/** A name pattern with `*` for any run of characters, everything else literal. */
export function globToRegExp(pattern: string): RegExp {
  let compiled = compiledGlobs.get(pattern);
  if (!compiled) {
    const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
    compiled = new RegExp(`^${escaped}$`);
    // The patterns come from configuration, a handful per deployment: kept for the process's life, never evicted.
    if (compiledGlobs.size < 1000) compiledGlobs.set(pattern, compiled);
  }
  return compiled;
}
export function isPerSessionRole(roleName: string, rules: IdentityRules): boolean {
  return rules.perSessionRoles.some((pattern) => globToRegExp(pattern).test(roleName));
}

/**
 * @param roleArn the role's own ARN when the event carries it (CloudTrail `sessionIssuer.arn` keeps the role path,
 *   which an assumed-role ARN drops).
 */
export function principalFromArn(arn: string, rules: IdentityRules, roleArn?: string): Principal {
  const principal = localPrincipalFromArn(arn, rules, roleArn);
  const home = rules.homeAccount;
  return home === undefined || principal.accountId === home
    ? principal
    : { ...principal, id: qualifiedId(principal.accountId, principal.id) };
}

function localPrincipalFromArn(arn: string, rules: IdentityRules, roleArn?: string): Principal {
  const match = ARN.exec(arn);
  if (!match) throw new IdentityError(`not an IAM or STS principal ARN: ${JSON.stringify(arn)}`);
  const [, partition, service, accountId, resource] = match as unknown as [string, string, string, string, string];
  const parts = resource.split('/');
  const type = parts[0];

  if (service === 'iam' && resource === 'root') {
    return { id: 'root', kind: 'root', arn, accountId, name: 'root' };
  }
  if (service === 'iam' && type === 'user' && parts.length >= 2) {
    const name = parts[parts.length - 1] as string;
    const kind = API_KEY_USER.test(name) ? 'api-key' : 'user';
    return { id: `user/${name}`, kind, arn, accountId, name };
  }
  if (service === 'sts' && type === 'assumed-role' && parts.length === 3 && parts[1] && parts[2]) {
    const roleName = parts[1];
    const sessionName = parts[2];
    if (isPerSessionRole(roleName, rules)) {
      return { id: `role/${roleName}/${sessionName}`, kind: 'session', arn, accountId, name: roleName, sessionName };
    }
    const ownArn = roleArn ?? `arn:${partition}:iam::${accountId}:role/${roleName}`;
    return { id: `role/${roleName}`, kind: 'role', arn: ownArn, accountId, name: roleName };
  }
  if (service === 'sts' && type === 'federated-user' && parts.length === 2 && parts[1]) {
    return { id: `federated-user/${parts[1]}`, kind: 'federated-user', arn, accountId, name: parts[1] };
  }
  throw new IdentityError(`unsupported principal ARN: ${arn}`);
}
