import { DeleteCommand, type DynamoDBDocumentClient, NumberValue, PutCommand } from '@aws-sdk/lib-dynamodb';
import { PERIOD_INDEX } from '../budgets';
import { decimalOf, KEYS } from '../budgets/items';
import { toDecimalString, type Usd } from '../money';
import { isPeriodKind, type PeriodKind } from '../period';
import { batchGetItems, queryItems } from '../scan';
import {
  GROUP_PREFIX,
  type GroupMembership,
  type GroupTag,
  groupNameOf,
  groupPrincipal,
  parseGroupTag,
  tagText,
} from './groups';

/** A group as stored: who is in it, its limit (like a principal's) and whom its alerts name. */
export interface GroupDefinition extends GroupMembership {
  readonly limitUsd: Usd;
  /** Absent: the deployment's own kind. */
  readonly periodKind?: PeriodKind;
  /** A prepaid (`total`) group's first UTC day, YYYY-MM-DD: its members' spend before it does not count. */
  readonly startsAt?: string;
  /** Who answers for the group's spend (named in its alerts): ARNs or addresses. */
  readonly owners: readonly string[];
  readonly setBy?: string;
  readonly setAt?: string;
}

type Item = Record<string, unknown>;
const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

/** A group's limit item as read (`GROUP#<name>` / `LIMIT`): the members, tag and owners beside the limit. */
export function groupDefinitionOf(item: Item): GroupDefinition {
  const tag: GroupTag | undefined = typeof item.tag === 'string' ? parseGroupTag(item.tag) : undefined;
  return {
    name: groupNameOf(String(item.principal)),
    members: strings(item.members),
    ...(tag ? { tag } : {}),
    owners: strings(item.owners),
    limitUsd: decimalOf(item.limitUsd),
    ...(isPeriodKind(item.periodKind) ? { periodKind: item.periodKind } : {}),
    ...(typeof item.startsAt === 'string' ? { startsAt: item.startsAt } : {}),
    ...(typeof item.setBy === 'string' ? { setBy: item.setBy } : {}),
    ...(typeof item.setAt === 'string' ? { setAt: item.setAt } : {}),
  };
}

/**
 * Groups in the Budgets table: each is the limit item of its principal `GROUP#<name>`, so the evaluator judges a
 * group's counters against it as it judges a principal's, and the period index lists them all in one Query
 * (`period = LIMIT`, principal beginning `GROUP#`) without a scan of the table.
 */
export class GroupStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Every group, sorted by name (the index is eventually consistent: a group set a moment ago may be missing). */
  async list(): Promise<GroupDefinition[]> {
    const keys: Item[] = [];
    for await (const item of queryItems(this.documents, {
      TableName: this.table,
      IndexName: PERIOD_INDEX,
      KeyConditionExpression: '#period = :limit AND begins_with(principal, :group)',
      ExpressionAttributeNames: { '#period': 'period' },
      ExpressionAttributeValues: { ':limit': KEYS.limitPeriod, ':group': GROUP_PREFIX },
    })) {
      keys.push({ principal: item.principal, period: item.period });
    }
    const groups = (await batchGetItems(this.documents, this.table, keys)).map(groupDefinitionOf);
    return groups.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async get(name: string): Promise<GroupDefinition | undefined> {
    const [item] = await batchGetItems(this.documents, this.table, [
      { principal: groupPrincipal(name), period: KEYS.limitPeriod },
    ]);
    return item ? groupDefinitionOf(item) : undefined;
  }

  /** Sets (creates or replaces) a group; the limit counts at once, as a principal's does. */
  async put(group: GroupDefinition, setBy: string, now: Date): Promise<void> {
    await this.documents.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          principal: groupPrincipal(group.name),
          period: KEYS.limitPeriod,
          limitUsd: NumberValue.from(toDecimalString(group.limitUsd)),
          ...(group.periodKind ? { periodKind: group.periodKind } : {}),
          ...(group.startsAt ? { startsAt: group.startsAt } : {}),
          members: [...group.members],
          ...(group.tag ? { tag: tagText(group.tag) } : {}),
          owners: [...group.owners],
          setBy,
          setAt: now.toISOString(),
        },
      }),
    );
  }

  /**
   * A group's counter in a period: its spend (nothing yet: $0) and its state (`stopped` while its stop is in force,
   * else `active`).
   */
  async counterIn(name: string, period: string): Promise<{ spend: Usd; state: string }> {
    const [item] = await batchGetItems(this.documents, this.table, [{ principal: groupPrincipal(name), period }]);
    return { spend: decimalOf(item?.spendUsd), state: typeof item?.state === 'string' ? item.state : 'active' };
  }

  /** Deletes a group; false when there was none. Its counters stay, as history. */
  async remove(name: string): Promise<boolean> {
    const { Attributes } = await this.documents.send(
      new DeleteCommand({
        TableName: this.table,
        Key: { principal: groupPrincipal(name), period: KEYS.limitPeriod },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return Attributes !== undefined;
  }
}

/** How long ingest counts by the groups it read before reading them again. */
export const GROUP_CACHE_TTL_MS = 60_000;

/**
 * The groups' memberships as ingest uses them: read once a minute per warm environment (a new or changed group
 * counts within a minute), and kept when a re-read fails (the last known membership is better than none).
 */
export class GroupDirectory {
  private cached: { at: number; groups: Promise<readonly GroupMembership[]> } | undefined;
  private readonly now: () => number;

  constructor(
    private readonly store: Pick<GroupStore, 'list'>,
    private readonly ttlMs = GROUP_CACHE_TTL_MS,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
  }

  async memberships(): Promise<readonly GroupMembership[]> {
    const cached = this.cached;
    if (cached && this.now() - cached.at < this.ttlMs) return cached.groups;
    const groups = this.store
      .list()
      .then((all) => all.map(({ name, members, tag }) => ({ name, members, ...(tag ? { tag } : {}) })));
    this.cached = { at: this.now(), groups };
    try {
      return await groups;
    } catch (error) {
      if (!cached) {
        this.cached = undefined;
        throw error;
      }
      this.cached = cached;
      return cached.groups;
    }
  }
}
