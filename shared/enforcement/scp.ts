import { DENIED_ACTIONS, policySize, SID_PREFIX } from './policy';

/**
 * The organization's stop: one service control policy that denies the same Bedrock inference actions as
 * `BudgeteerDeny` (bedrock-mantle's included) to every principal of the accounts it is attached to, except each
 * account's root user, the system's own roles and the break-glass principals. SCPs never apply to the management account: its principals are
 * stopped by the deny policy, never by this.
 */
export const SCP_NAME = 'BudgeteerOrganizationStop';
/**
 * The tag the stop's SCP is created with: the suspend function may update, attach and detach only a policy that
 * carries it, so it can neither rewrite nor move the organization's own SCPs (FullAWSAccess, guardrails).
 */
export const SCP_TAG = { key: 'budgeteer', value: 'organization-stop' } as const;
/** AWS Organizations refuses a service control policy longer than this (characters). */
export const SCP_MAX_CHARACTERS = 5120;

export interface ScpExceptions {
  /** Role name patterns (`*` wildcard) of the system's own roles, in every account: never stopped. */
  readonly systemRolePatterns: readonly string[];
  /** Principal ARNs never stopped (users and roles, as configured in `breakGlassPrincipals`). */
  readonly breakGlassPrincipals: readonly string[];
  /** The partition the organization is in. @default aws */
  readonly partition?: string;
}

export interface ScpStatement {
  readonly Sid: string;
  readonly Effect: 'Deny';
  readonly Action: readonly string[];
  readonly Resource: '*';
  readonly Condition: { readonly ArnNotLike: { readonly 'aws:PrincipalArn': readonly string[] } };
}

export interface ScpDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly [ScpStatement];
}

export class ScpSizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScpSizeError';
  }
}

/** The principals the stop never reaches, as `aws:PrincipalArn` patterns: sorted and without repeats. */
export function exemptPrincipals(exceptions: ScpExceptions): string[] {
  const partition = exceptions.partition ?? 'aws';
  const roles = exceptions.systemRolePatterns.map((pattern) => `arn:${partition}:iam::*:role/${pattern}`);
  // Every member account's root user: nothing may lock out an account's root, here as in a single account.
  const root = `arn:${partition}:iam::*:root`;
  return [...new Set([root, ...roles, ...exceptions.breakGlassPrincipals])].sort();
}

/**
 * The SCP document, refused (ScpSizeError) when AWS Organizations would refuse it. The same exceptions always give
 * the same document: attaching it again changes nothing.
 */
export function organizationStopPolicy(exceptions: ScpExceptions): ScpDocument {
  const document: ScpDocument = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: `${SID_PREFIX}OrganizationStop`,
        Effect: 'Deny',
        Action: [...DENIED_ACTIONS],
        Resource: '*',
        Condition: { ArnNotLike: { 'aws:PrincipalArn': exemptPrincipals(exceptions) } },
      },
    ],
  };
  const size = policySize(document);
  if (size > SCP_MAX_CHARACTERS) {
    throw new ScpSizeError(
      `the organization stop needs ${size} characters, over the SCP limit of ${SCP_MAX_CHARACTERS}: ` +
        'list fewer break-glass principals, or name them by pattern (a role path, a name prefix with *)',
    );
  }
  return document;
}
