import { KEYS } from '../budgets/items';
import { globToRegExp, splitPrincipalId } from '../identity';

/**
 * Group budgets (teams, applications): a group has a limit per period like a principal, and its spend is the sum of
 * its members' spend, kept as a counter of its own (`GROUP#<name>`) in the same ingest transaction as theirs. A
 * principal is a member by an explicit id, a name pattern (`role/ds-*`), or an IAM tag on its user or role
 * (`team=data-science`); it may be in several groups, and each counts it.
 */

export class GroupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GroupError';
  }
}

/** A tag a member's IAM user or role carries. */
export interface GroupTag {
  readonly key: string;
  readonly value: string;
}

/** Who is in a group (its limit lives on its limit item like any principal's). */
export interface GroupMembership {
  readonly name: string;
  /**
   * Principal ids or patterns with `*` (`user/alice`, `role/ds-*`, `role/AWSReservedSSO_DS_*`), account-qualified
   * in an organization (`222233334444:role/ds-*`, `*:user/alice`), or a whole account (`account:222233334444`).
   */
  readonly members: readonly string[];
  readonly tag?: GroupTag;
}

/** The principal id of a group's counters and limit. */
export const GROUP_PREFIX = KEYS.groupPrefix;
export const groupPrincipal = (name: string) => `${GROUP_PREFIX}${name}`;
export const isGroupPrincipal = (principal: string) => principal.startsWith(GROUP_PREFIX);
export const groupNameOf = (principal: string) => principal.slice(GROUP_PREFIX.length);

/** A suspension's reason when a group's budget is exhausted: `group:<name>`. */
export const groupReason = (name: string) => `group:${name}`;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/**
 * A member is a principal id (`user/…`, `role/…`, `federated-user/…`) or pattern, or an application inference
 * profile (`profile/<profile id>`, or a pattern): the calls made through it count, whoever made them. `root` is never
 * a member.
 */
const MEMBER = /^(?:(?:\d{12}|\*):)?(user|role|federated-user|profile)\/[\w+=,.@*/-]{1,256}$/;
const PROFILE_MEMBER = 'profile/';
/** Every principal of one account of the organization: what an account's budget is a group of. */
const ACCOUNT_MEMBER = /^account:(\d{12})$/;

/** The group that holds an account's budget in an organization deployment, and its one member. */
export const accountGroupName = (account: string) => `account-${account}`;
export const accountMember = (account: string) => `account:${account}`;
/** IAM tag keys and values: letters, digits, spaces and `_ . : / = + - @`. */
const TAG_PART = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,256}$/u;

export function checkGroupName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new GroupError(
      `not a group name: ${JSON.stringify(name)} (letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit)`,
    );
  }
  return name;
}

export function checkMember(member: unknown): string {
  if (typeof member !== 'string' || !(MEMBER.test(member) || ACCOUNT_MEMBER.test(member)) || member.includes('//')) {
    throw new GroupError(
      `not a member: ${JSON.stringify(member)} (a principal id or pattern: user/alice, role/ds-*, role/<role>/<session>; in an organization 222233334444:user/alice or account:222233334444)`,
    );
  }
  return member;
}

/** `team=data-science` → `{key: 'team', value: 'data-science'}`. */
export function parseGroupTag(text: unknown): GroupTag {
  const at = typeof text === 'string' ? text.indexOf('=') : -1;
  const key = typeof text === 'string' ? text.slice(0, at) : '';
  const value = typeof text === 'string' ? text.slice(at + 1) : '';
  if (at <= 0 || !TAG_PART.test(key) || !TAG_PART.test(value)) {
    throw new GroupError(`not a tag: ${JSON.stringify(text)} (write it as key=value, e.g. team=data-science)`);
  }
  return { key, value };
}

export const tagText = (tag: GroupTag) => `${tag.key}=${tag.value}`;

/**
 * Whether a principal id is named by a member entry (an id, or a pattern whose `*` matches any run), or is of the
 * account an `account:<id>` entry names (an unqualified id is of `home`, the deployment's own account, if known).
 */
export function matchesMember(principal: string, member: string, home?: string): boolean {
  const account = ACCOUNT_MEMBER.exec(member)?.[1];
  if (account !== undefined) return (splitPrincipalId(principal).account ?? home) === account;
  return member.includes('*') ? globToRegExp(member).test(principal) : principal === member;
}

/**
 * The groups a principal is in, by name: a member entry naming its id, or its user's or role's tags carrying the
 * group's tag (`tags` undefined: not known, so tag membership is not counted). Sorted, so every reader agrees.
 */
export function groupsOf(
  principal: string,
  tags: ReadonlyMap<string, string> | undefined,
  groups: readonly GroupMembership[],
  home?: string,
): string[] {
  return groups
    .filter(
      (group) =>
        group.members.some((member) => matchesMember(principal, member, home)) ||
        (group.tag !== undefined && tags?.get(group.tag.key) === group.tag.value),
    )
    .map((group) => group.name)
    .sort();
}

/** Whether a membership key is an application inference profile's (`profile/<id>`), not a principal's. */
export const isProfileMember = (key: string): boolean => key.startsWith(PROFILE_MEMBER);

/** The membership key of the calls made through an application inference profile (by its ARN's id). */
export const profileMemberOf = (profileArn: string): string =>
  `${PROFILE_MEMBER}${profileArn.slice(profileArn.lastIndexOf('/') + 1)}`;

/**
 * What a group's stop denies its members: only the application inference profiles it names when every member is a
 * profile (ARN patterns over every Region of the account), else everything (undefined). A group of people and
 * profiles together is a budget on the people: all of Bedrock.
 */
export function profileScopeOf(members: readonly string[], accountId: string): string[] | undefined {
  if (members.length === 0 || !members.every((member) => member.startsWith(PROFILE_MEMBER))) return undefined;
  return members.map(
    (member) => `arn:aws:bedrock:*:${accountId}:application-inference-profile/${member.slice(PROFILE_MEMBER.length)}`,
  );
}

/**
 * Whether a principal counted in a group may still be taken as its member when the group stops: a group by names
 * and patterns alone says so from the principal's id (one taken out of it since is not denied); a group by tag or
 * of profiles cannot tell without IAM or the calls, so the count stands.
 */
export function stillMember(principal: string, group: { readonly members: readonly string[]; readonly tag?: unknown }) {
  if (group.tag !== undefined || group.members.some((member) => member.startsWith(PROFILE_MEMBER))) return true;
  // An unqualified id is the deployment's own account's, which is not known here: counted in a group that names an
  // account, it may have been counted as that account's, so the count stands.
  const unqualified = splitPrincipalId(principal).account === undefined;
  if (unqualified && group.members.some((member) => ACCOUNT_MEMBER.test(member))) return true;
  return group.members.some((member) => matchesMember(principal, member));
}

/** Whether any group's membership depends on IAM tags (then ingest reads its principals' tags). */
export const needsTags = (groups: readonly GroupMembership[]) => groups.some((group) => group.tag !== undefined);
