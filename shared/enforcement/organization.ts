/**
 * What the central stack and the member stacks of an organization deployment agree on: the names of the member
 * stack's roles. The central suspend function assumes the enforcement role of a member account by its ARN, and
 * both the role's own policy and the organization's SCP exempt every role named with the member prefix.
 */
export const MEMBER_ROLE_PREFIX = 'BudgeteerMember-';
/** The role in each member account that puts and deletes `BudgeteerDeny` there, for the central suspend function. */
export const MEMBER_ENFORCEMENT_ROLE_NAME = `${MEMBER_ROLE_PREFIX}Enforcement`;
/** Where EventBridge forwards a member account's Bedrock CloudTrail events to the central bus from. */
export const MEMBER_FORWARDING_ROLE_NAME = `${MEMBER_ROLE_PREFIX}EventForwarding`;
/** The roles a service-managed StackSet deploys the member stack with (`stacksets-exec-<hash>`). */
export const STACKSET_EXECUTION_ROLE_PATTERN = 'stacksets-exec-*';

/** The enforcement role of a member account, as the central suspend function assumes it. */
export const memberEnforcementRoleArn = (partition: string, account: string): string =>
  `arn:${partition}:iam::${account}:role/${MEMBER_ENFORCEMENT_ROLE_NAME}`;

/**
 * The member stack's own roles in a member account, by their exact names (and the StackSet's execution role, whose
 * name AWS gives it: `stacksets-exec-` and 32 hex digits): never denied there. Exact, because a member account's
 * users may create roles: a prefix such as `BudgeteerMember-*` would let anyone name a role out of every stop.
 */
export const MEMBER_SYSTEM_ROLE = new RegExp(
  `^(?:${MEMBER_ENFORCEMENT_ROLE_NAME}|${MEMBER_FORWARDING_ROLE_NAME}|stacksets-exec-[0-9a-f]{32})$`,
);
/** What the organization stop's SCP exempts of the system's roles, in every account it covers: the member stack's. */
export const MEMBER_SYSTEM_ROLE_NAMES = [MEMBER_ENFORCEMENT_ROLE_NAME, MEMBER_FORWARDING_ROLE_NAME] as const;
