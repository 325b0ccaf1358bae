import type { StoredEntry } from '../audit/entry';
import type { AuditLog } from '../audit/log';
import { checkGroupName, checkMember, GroupError, groupPrincipal, parseGroupTag, tagText } from '../groups/groups';
import type { GroupDefinition, GroupStore } from '../groups/store';
import { parseLimitUsd, toDecimalString } from '../money';
import { type PeriodKind, periodKey } from '../period';
import { AdminError, checkPeriodKind, grantStartOf, type PeriodSettings } from './set-limit';

/** `group set`: a group's limit and who is in it, as an admin asks for it (amounts and tag as text). */
export interface SetGroupRequest {
  readonly name: string;
  readonly limitUsd: string;
  readonly period?: PeriodKind;
  /** A prepaid (`total`) group's first day: YYYY-MM-DD or an ISO time (see grantStartOf). */
  readonly startsAt?: string;
  readonly members?: readonly string[];
  /** `key=value`: users and roles carrying it are members. */
  readonly tag?: string;
  readonly owners?: readonly string[];
  readonly actor: string;
  /** Where the request came from, audited with it. */
  readonly context?: Readonly<Record<string, string>>;
}

export interface SetGroupResult {
  readonly group: GroupDefinition;
  readonly previous?: GroupDefinition;
  readonly audit: StoredEntry;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** A group's definition as its audit entry keeps it: money as a decimal string. */
const audited = (group: GroupDefinition) => ({
  limitUsd: toDecimalString(group.limitUsd),
  members: [...group.members],
  tag: group.tag ? tagText(group.tag) : null,
  owners: [...group.owners],
  periodKind: group.periodKind ?? null,
  startsAt: group.startsAt ?? null,
});

/**
 * The definition a request asks for, checked: a bad name, member, tag or amount is refused before anything. What
 * the request leaves out (members, tag, owners, period) is kept from the group as it is (`previous`), so raising a
 * group's limit is `group set <name> --limit <usd>`.
 */
export function groupOfRequest(
  request: SetGroupRequest,
  deployment: PeriodSettings,
  previous?: GroupDefinition,
  now: Date = new Date(),
): GroupDefinition {
  return refusing(() => {
    const name = checkGroupName(request.name);
    const members = request.members ? [...new Set(request.members.map(checkMember))] : [...(previous?.members ?? [])];
    const tag = request.tag === undefined ? previous?.tag : parseGroupTag(request.tag);
    if (members.length === 0 && !tag) {
      throw new GroupError(`group ${name} has no members: name some (--member user/alice, role/ds-*) or a --tag`);
    }
    const asked = request.period ?? previous?.periodKind;
    const periodKind = checkPeriodKind(asked, deployment, groupPrincipal(name));
    const startsAt = grantStartOf(request.startsAt, periodKind, previous, now);
    return {
      name,
      members,
      ...(tag ? { tag } : {}),
      owners: request.owners ? [...new Set(request.owners)] : [...(previous?.owners ?? [])],
      limitUsd: parseLimitUsd(request.limitUsd),
      // The deployment's own kind is not stored, as for a principal's limit.
      ...(periodKind === deployment.periodKind ? {} : { periodKind }),
      ...(startsAt ? { startsAt } : {}),
    };
  });
}

/** What a client can check of a request before sending it: the name, members, tag and amount are well formed. */
export function checkGroupRequest(request: Omit<SetGroupRequest, 'actor'>): void {
  refusing(() => {
    checkGroupName(request.name);
    for (const member of request.members ?? []) checkMember(member);
    if (request.tag !== undefined) parseGroupTag(request.tag);
    parseLimitUsd(request.limitUsd);
  });
}

/**
 * Sets a group, audited (`group.set`) before it is written, as a limit is: a group is never in force without its
 * entry. A group's new limit counts at once: the evaluator judges its counter again, and a stop that the new limit
 * no longer justifies ends, lifting its members.
 */
export async function setGroup(
  store: Pick<GroupStore, 'get' | 'put'>,
  log: AuditLog,
  deployment: PeriodSettings,
  request: SetGroupRequest,
  now: Date = new Date(),
): Promise<SetGroupResult> {
  const previous = await store.get(checkGroupNameOrRefuse(request.name));
  const group = groupOfRequest(request, deployment, previous, now);
  let audit: StoredEntry;
  try {
    audit = await log.append({
      subject: groupPrincipal(group.name),
      actor: request.actor,
      action: 'group.set',
      details: {
        ...audited(group),
        previousUsd: previous ? toDecimalString(previous.limitUsd) : null,
        ...request.context,
      },
      at: now,
    });
  } catch (cause) {
    throw new AdminError(
      `group ${group.name} was not set: its audit entry could not be written (${messageOf(cause)})`,
      500,
      {
        cause,
      },
    );
  }
  try {
    await store.put(group, request.actor, now);
  } catch (cause) {
    throw new AdminError(
      `group ${group.name} was not set (${messageOf(cause)}), but audit entry ${audit.seq} of ${groupPrincipal(group.name)} ` +
        'records the change: run the command again to apply it',
      500,
      { cause },
    );
  }
  return { group, ...(previous ? { previous } : {}), audit };
}

/**
 * Deletes a group, audited (`group.deleted`) with the definition it had; its counters stay as history. A group
 * whose stop is in force is not deleted: its members would stay denied with no group left to raise (409; raise its
 * limit, or resume the stop, first).
 */
export async function deleteGroup(
  store: Pick<GroupStore, 'get' | 'remove' | 'counterIn'>,
  log: AuditLog,
  deployment: PeriodSettings,
  request: { readonly name: string; readonly actor: string; readonly context?: Readonly<Record<string, string>> },
  now: Date = new Date(),
): Promise<{ deleted: boolean; audit?: StoredEntry }> {
  const { name, actor, context = {} } = request;
  const previous = await store.get(checkGroupNameOrRefuse(name));
  if (!previous) return { deleted: false };
  const period = periodKey(previous.periodKind ?? deployment.periodKind, now);
  if ((await store.counterIn(name, period)).state === 'stopped') {
    throw new AdminError(
      `group ${name} is stopped in ${period}: raise its limit (group set ${name} --limit <usd>) or resume its stop ` +
        'with the link in its message first, so its members are lifted',
      409,
    );
  }
  const audit = await log.append({
    subject: groupPrincipal(name),
    actor,
    action: 'group.deleted',
    details: { ...audited(previous), ...context },
    at: now,
  });
  return { deleted: await store.remove(name), audit };
}

/** What `group set` answers, as JSON: money as decimal strings. */
export interface SetGroupReply {
  readonly name: string;
  readonly limitUsd: string;
  readonly previousUsd: string | null;
  readonly periodKind: PeriodKind | null;
  /** A prepaid (`total`) group's first UTC day. */
  readonly startsAt: string | null;
  readonly members: readonly string[];
  readonly tag: string | null;
  readonly owners: readonly string[];
  readonly auditSeq: string;
}

export const groupReplyOf = (result: SetGroupResult): SetGroupReply => ({
  name: result.group.name,
  ...audited(result.group),
  previousUsd: result.previous ? toDecimalString(result.previous.limitUsd) : null,
  auditSeq: result.audit.seq,
});

/** A group name as the store keys it, or a 400 saying what a name may be. */
const checkGroupNameOrRefuse = (name: string): string => refusing(() => checkGroupName(name));

/** What `check` returns, a group that is not well formed (GroupError) refused as a bad request (400). */
function refusing<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof GroupError) throw new AdminError(error.message, 400);
    throw error;
  }
}
