import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { requireEnv } from '../config';
import { accountGroupName, groupPrincipal } from '../groups/groups';
import {
  AUDIT_INDEXES,
  type AuditAction,
  type AuditInput,
  type BrokenLink,
  ChainChecker,
  chainEntry,
  type DetailValue,
  formatSeq,
  prepareEntry,
  type StoredEntry,
} from './entry';

/** Subjects of the markers that make an append happen once per decision; they are not chains. */
export const ONCE_PREFIX = '#once#';
/** The variable that names the Audit table in a function's environment. */
export const AUDIT_TABLE_ENV = 'AUDIT_TABLE';
/** Appends that lose the race for the next sequence number to another writer are retried this often. */
export const DEFAULT_MAX_ATTEMPTS = 8;
/** Without --since, the by-day path looks this far back. */
export const DEFAULT_LOOKBACK_DAYS = 7;
const DAY_MS = 24 * 60 * 60 * 1000;

export class AuditWriteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditWriteError';
  }
}

export interface AuditLogOptions {
  /** Attempts at appending while other writers keep taking the next sequence number first. @default 8 */
  readonly maxAttempts?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Pause before a retry after a lost race. @default a few tens of milliseconds, jittered */
  readonly backoff?: (attempt: number) => Promise<void>;
}

/** Which entries to read. `subject` wins over `action` for the key; both together filter by action. */
export interface AuditQuery {
  readonly subject?: string;
  readonly action?: AuditAction;
  /**
   * Only entries about one account of an organization: its principals' (`<account>:…`) and its budget's
   * (`GROUP#account-<account>`).
   */
  readonly account?: string;
  /** Inclusive. With neither subject nor action: @default now minus 7 days */
  readonly since?: Date;
  /** Inclusive. With neither subject nor action: @default now */
  readonly until?: Date;
}

export interface ChainHead {
  readonly subject: string;
  readonly seq: string;
  readonly hash: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  /** Subjects whose chain was walked. */
  readonly chains: number;
  readonly entries: number;
  /** The first broken link of each broken chain, in subject order. */
  readonly broken: readonly BrokenLink[];
  /** The newest entry of each intact chain. */
  readonly heads: readonly ChainHead[];
}

type Item = Record<string, unknown>;

const isConditionalCheckFailed = (error: unknown) =>
  (error as { name?: unknown } | undefined)?.name === 'ConditionalCheckFailedException';

const writeError = (what: string, cause: unknown) =>
  new AuditWriteError(`cannot append ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });

const jitteredPause = (attempt: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.min(500, 10 * 2 ** attempt) * (0.5 + Math.random())));

/** Whole numbers come back from DynamoDB as NumberValue (wrapNumbers); hand them out as numbers again. */
function plain(value: unknown): DetailValue {
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    if (value.constructor?.name === 'NumberValue') {
      const digits = (value as { value: string }).value;
      const number = Number(digits);
      return Number.isSafeInteger(number) ? number : digits;
    }
    return Object.fromEntries(Object.entries(value).map(([key, member]) => [key, plain(member)]));
  }
  return value as DetailValue;
}

export const entryOf = (item: Item): StoredEntry => plain(item) as unknown as StoredEntry;

/**
 * The append-only audit log. Each subject's entries form a hash chain: an entry stores the hash of its
 * predecessor and its own. A writer reads the newest entry of the subject and puts the next sequence number
 * on condition that it does not exist yet, so two writers can never both extend the chain from the same entry;
 * the loser reads again and retries. Errors are never swallowed: what cannot be written is an AuditWriteError.
 */
export class AuditLog {
  private readonly now: () => Date;
  private readonly maxAttempts: number;
  private readonly backoff: (attempt: number) => Promise<void>;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
    options: AuditLogOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.backoff = options.backoff ?? jitteredPause;
  }

  /** For functions: the table named by AUDIT_TABLE; a missing variable fails the cold start with its name. */
  static fromEnv(
    client: DynamoDBDocumentClient,
    env: Record<string, string | undefined> = process.env,
    options?: AuditLogOptions,
  ): AuditLog {
    return new AuditLog(client, requireEnv(AUDIT_TABLE_ENV, env), options);
  }

  /**
   * Appends an entry to its subject's chain and returns it as stored. Invalid input throws AuditEntryError.
   * @param once a decision's key (its id and the effect): the entry is appended at most once under it, whatever
   *   retries and redeliveries follow. A marker item (`#once#<key>`) is written in the same transaction as the
   *   entry, so both land or neither; a later append under the same key returns undefined and writes nothing.
   */
  async append(input: AuditInput): Promise<StoredEntry>;
  async append(input: AuditInput, options: { once: string }): Promise<StoredEntry | undefined>;
  async append(input: AuditInput, options: { once?: string } = {}): Promise<StoredEntry | undefined> {
    const prepared = prepareEntry(input, this.now);
    const what = `${prepared.action} for ${prepared.subject}`;
    let lostRace: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await this.backoff(attempt);
      let entry: StoredEntry;
      try {
        entry = chainEntry(prepared, await this.newest(prepared.subject));
      } catch (error) {
        throw writeError(what, error);
      }
      try {
        if (options.once === undefined) await this.put(entry);
        else if (!(await this.putOnce(entry, options.once))) return undefined;
        return entry;
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw writeError(what, error);
        lostRace = error;
      }
      // A put that succeeded but whose answer was lost is retried by the SDK and then fails its condition on
      // the entry it wrote itself: that is a success, and appending again would record the decision twice.
      if (await this.holds(entry, what)) return entry;
    }
    throw new AuditWriteError(
      `cannot append ${what}: other writers took the next entry ${this.maxAttempts} times in a row`,
      { cause: lostRace },
    );
  }

  /**
   * Entries in time order, page after page. By subject (over the byTime index, consistent), else by action
   * (byAction index), else day by day (byDay index) from `since` to `until`.
   */
  async *query(query: AuditQuery = {}): AsyncGenerator<StoredEntry> {
    const { account } = query;
    if (account === undefined) return yield* this.queryAll(query);
    const own = [`${account}:`, groupPrincipal(accountGroupName(account))];
    for await (const entry of this.queryAll(query)) {
      if (own.some((prefix) => entry.subject.startsWith(prefix))) yield entry;
    }
  }

  private async *queryAll(query: AuditQuery): AsyncGenerator<StoredEntry> {
    if (query.subject !== undefined) {
      const range = timeRange(query);
      const action = query.action === undefined ? undefined : { '#action': 'action' };
      yield* this.entries({
        IndexName: AUDIT_INDEXES.byTime,
        KeyConditionExpression: `#subject = :subject${range.condition}`,
        ...(action ? { FilterExpression: '#action = :action' } : {}),
        ExpressionAttributeNames: { ...range.names, '#subject': 'subject', ...action },
        ExpressionAttributeValues: {
          ...range.values,
          ':subject': query.subject,
          ...(action ? { ':action': query.action } : {}),
        },
        ConsistentRead: true,
      });
      return;
    }
    if (query.action !== undefined) {
      const range = timeRange(query);
      yield* this.entries({
        IndexName: AUDIT_INDEXES.byAction,
        KeyConditionExpression: `#action = :action${range.condition}`,
        ExpressionAttributeNames: { ...range.names, '#action': 'action' },
        ExpressionAttributeValues: { ...range.values, ':action': query.action },
      });
      return;
    }
    const until = query.until ?? this.now();
    const since = query.since ?? new Date(until.getTime() - DEFAULT_LOOKBACK_DAYS * DAY_MS);
    const range = timeRange({ since, until });
    for (const day of daysBetween(since, until)) {
      yield* this.entries({
        IndexName: AUDIT_INDEXES.byDay,
        KeyConditionExpression: `#day = :day${range.condition}`,
        ExpressionAttributeNames: { ...range.names, '#day': 'day' },
        ExpressionAttributeValues: { ...range.values, ':day': day },
      });
    }
  }

  /** Recomputes the chain of one subject, or of every subject in the table, and reports each first broken link. */
  async verify(subject?: string): Promise<VerifyReport> {
    const subjects = subject === undefined ? await this.subjects() : [subject];
    const broken: BrokenLink[] = [];
    const heads: ChainHead[] = [];
    let chains = 0;
    let entries = 0;
    for (const name of subjects) {
      const checker = new ChainChecker(name);
      for await (const item of this.items({
        KeyConditionExpression: '#subject = :subject',
        ExpressionAttributeNames: { '#subject': 'subject' },
        ExpressionAttributeValues: { ':subject': name },
        ConsistentRead: true,
      })) {
        checker.check(item);
      }
      if (checker.entries === 0) continue;
      chains++;
      entries += checker.entries;
      const firstBroken = checker.firstBroken;
      if (firstBroken) broken.push(firstBroken);
      else if (checker.head) heads.push({ subject: name, ...checker.head });
    }
    return { ok: broken.length === 0, chains, entries, broken, heads };
  }

  private async newest(subject: string): Promise<{ seq: string; hash: string } | undefined> {
    const { Items } = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: '#subject = :subject',
        ExpressionAttributeNames: { '#subject': 'subject' },
        ExpressionAttributeValues: { ':subject': subject },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = Items?.[0];
    return item ? { seq: String(item.seq), hash: String(item.hash) } : undefined;
  }

  private async put(entry: StoredEntry): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.table,
        Item: entry,
        ConditionExpression: 'attribute_not_exists(#seq)',
        ExpressionAttributeNames: { '#seq': 'seq' },
      }),
    );
  }

  /**
   * The entry and its once-marker in one transaction. False: the marker exists, the entry was appended before.
   * A lost race for the sequence number surfaces as ConditionalCheckFailed, as from `put`.
   */
  private async putOnce(entry: StoredEntry, key: string): Promise<boolean> {
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                Item: entry,
                ConditionExpression: 'attribute_not_exists(#seq)',
                ExpressionAttributeNames: { '#seq': 'seq' },
              },
            },
            {
              Put: {
                TableName: this.table,
                Item: { subject: `${ONCE_PREFIX}${key}`, seq: formatSeq(0), entry: `${entry.subject} ${entry.seq}` },
                ConditionExpression: 'attribute_not_exists(#seq)',
                ExpressionAttributeNames: { '#seq': 'seq' },
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
      if (reasons?.[1]?.Code === 'ConditionalCheckFailed') return false;
      if (reasons?.[0]?.Code === 'ConditionalCheckFailed') {
        throw Object.assign(new Error('lost the race for the next entry'), { name: 'ConditionalCheckFailedException' });
      }
      throw error;
    }
  }

  /** Whether the table holds `entry` itself at its place (not another writer's entry). */
  private async holds(entry: StoredEntry, what: string): Promise<boolean> {
    try {
      const { Item } = await this.client.send(
        new GetCommand({
          TableName: this.table,
          Key: { subject: entry.subject, seq: entry.seq },
          ConsistentRead: true,
        }),
      );
      return Item?.id === entry.id;
    } catch (error) {
      throw writeError(what, error);
    }
  }

  private async *entries(input: Omit<QueryCommandInput, 'TableName'>): AsyncGenerator<StoredEntry> {
    for await (const item of this.items(input)) yield entryOf(item);
  }

  private async *items(input: Omit<QueryCommandInput, 'TableName'>): AsyncGenerator<Item> {
    let ExclusiveStartKey: Item | undefined;
    do {
      const page = await this.client.send(new QueryCommand({ ...input, TableName: this.table, ExclusiveStartKey }));
      for (const item of page.Items ?? []) yield item;
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }

  private async subjects(): Promise<string[]> {
    const subjects = new Set<string>();
    let ExclusiveStartKey: Item | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.table,
          ProjectionExpression: '#subject',
          ExpressionAttributeNames: { '#subject': 'subject' },
          ConsistentRead: true,
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        if (!String(item.subject).startsWith(ONCE_PREFIX)) subjects.add(String(item.subject));
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return [...subjects].sort();
  }
}

/** The sort-key condition on `at` for an inclusive [since, until], either end open. */
function timeRange({ since, until }: { since?: Date; until?: Date }): {
  condition: string;
  names: Record<string, string>;
  values: Record<string, string>;
} {
  if (since && until && since > until) throw new RangeError('since is after until');
  const values: Record<string, string> = {};
  if (since) values[':since'] = since.toISOString();
  if (until) values[':until'] = until.toISOString();
  const names: Record<string, string> = since || until ? { '#at': 'at' } : {};
  const condition =
    since && until
      ? ' AND #at BETWEEN :since AND :until'
      : since
        ? ' AND #at >= :since'
        : until
          ? ' AND #at <= :until'
          : '';
  return { condition, names, values };
}

/** Every UTC day (YYYY-MM-DD) that [since, until] touches, in order. */
export function daysBetween(since: Date, until: Date): string[] {
  const days: string[] = [];
  const last = until.toISOString().slice(0, 10);
  for (let day = new Date(since.toISOString().slice(0, 10)); ; day = new Date(day.getTime() + DAY_MS)) {
    const key = day.toISOString().slice(0, 10);
    if (key > last) break;
    days.push(key);
  }
  return days;
}
