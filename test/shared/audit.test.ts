import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  NumberValue,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  type AuditEntry,
  AuditEntryError,
  type AuditInput,
  canonicalJson,
  chainEntry,
  GENESIS_HASH,
  hashOf,
  prepareEntry,
  type StoredEntry,
} from '../../shared/audit/entry';
import { AuditLog, AuditWriteError, daysBetween } from '../../shared/audit/log';

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }), {
  unmarshallOptions: { wrapNumbers: true },
});
const ddb = mockClient(documents);
const now = new Date('2026-11-20T15:00:00.000Z');
const noPause = async () => {};
const log = new AuditLog(documents, 'Audit', { now: () => now, backoff: noPause, maxAttempts: 3 });

const ALICE_ARN = 'arn:aws:iam::111122223333:user/alice';
const input = (overrides: Partial<AuditInput> = {}): AuditInput => ({
  subject: 'user/alice',
  actor: 'system:evaluate',
  action: 'threshold.alerted',
  period: '2026-11',
  details: { threshold: 80, spendUsd: '40.000001', limitUsd: '50' },
  ...overrides,
});

type Item = Record<string, unknown>;

/** DynamoDB as the document client with wrapNumbers gives items back: numbers as NumberValue. */
function asRead(value: unknown): unknown {
  if (typeof value === 'number') return NumberValue.from(String(value));
  if (Array.isArray(value)) return value.map(asRead);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asRead(v)]));
  }
  return value;
}

/** A single-table stand-in for the base table (key subject + seq) that honours the put condition. */
function fakeTable() {
  const rows = new Map<string, Item>();
  const key = (subject: unknown, seq: unknown) => `${subject}\u0000${seq}`;
  const chain = (subject: unknown) =>
    [...rows.values()]
      .filter((row) => row.subject === subject)
      .sort((a, b) => String(a.seq).localeCompare(String(b.seq)));
  ddb.on(PutCommand).callsFake(({ Item, ConditionExpression }) => {
    const item = Item as Item;
    if (ConditionExpression && rows.has(key(item.subject, item.seq))) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
    rows.set(key(item.subject, item.seq), structuredClone(item));
    return {};
  });
  ddb.on(QueryCommand).callsFake((query: QueryCommandInput) => {
    let items = chain(query.ExpressionAttributeValues?.[':subject']);
    if (query.ScanIndexForward === false) items.reverse();
    if (query.Limit) items = items.slice(0, query.Limit);
    return { Items: items.map(asRead) };
  });
  ddb.on(ScanCommand).callsFake(() => ({ Items: [...rows.values()].map((row) => ({ subject: row.subject })) }));
  ddb.on(GetCommand).callsFake(({ Key }) => ({ Item: asRead(rows.get(key(Key?.subject, Key?.seq))) }));
  return {
    get: (subject: string, seq: number) => rows.get(key(subject, String(seq).padStart(12, '0'))) as Item,
    set: (item: Item) => rows.set(key(item.subject, item.seq), item),
    remove: (subject: string, seq: number) => rows.delete(key(subject, String(seq).padStart(12, '0'))),
  };
}

const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
const stored = (seq: number, previous?: StoredEntry) =>
  chainEntry(
    prepareEntry(input({ details: { n: seq } }), () => now),
    previous,
  );

beforeEach(() => ddb.reset());

describe('canonical hashing', () => {
  it('renders an entry as sorted-key JSON without whitespace, so any implementation can recompute the hash', () => {
    const entry: AuditEntry = {
      subject: 'user/alice',
      seq: '000000000001',
      id: '7f1c0d8e-0000-4000-8000-000000000001',
      at: '2026-11-20T15:00:00.000Z',
      day: '2026-11-20',
      actor: 'system:evaluate',
      action: 'threshold.alerted',
      period: '2026-11',
      details: { threshold: 80, spendUsd: '40.10', nested: { b: [true, null], a: 'x' } },
      prevHash: GENESIS_HASH,
    };
    const text =
      '{"action":"threshold.alerted","actor":"system:evaluate","at":"2026-11-20T15:00:00.000Z","day":"2026-11-20",' +
      '"details":{"nested":{"a":"x","b":[true,null]},"spendUsd":"40.10","threshold":80},' +
      '"id":"7f1c0d8e-0000-4000-8000-000000000001","period":"2026-11",' +
      `"prevHash":"${GENESIS_HASH}","seq":"000000000001","subject":"user/alice"}`;

    expect(canonicalJson(entry)).toBe(text);
    expect(hashOf(entry)).toBe(createHash('sha256').update(text).digest('hex'));
  });

  it('gives the same hash for an entry as written and as read back, numbers as NumberValue', () => {
    const entry = stored(1);
    expect(hashOf(asRead(entry) as Item)).toBe(entry.hash);
  });

  it('covers every attribute except the hash itself', () => {
    const entry = stored(1);
    expect(hashOf({ ...entry, hash: 'anything' })).toBe(entry.hash);
    for (const [field, value] of Object.entries({ actor: 'system:other', seq: '000000000002', extra: 'x' })) {
      expect(hashOf({ ...entry, [field]: value })).not.toBe(entry.hash);
    }
    expect(hashOf({ ...entry, details: { n: 2 } })).not.toBe(entry.hash);
  });
});

describe('entries', () => {
  it('refuses an action outside the closed vocabulary, before touching DynamoDB', async () => {
    const bad = input({ action: 'budget.raised' as never });

    await expect(log.append(bad)).rejects.toThrow(AuditEntryError);
    await expect(log.append(bad)).rejects.toThrow('unknown audit action "budget.raised"');
    expect(ddb.calls()).toHaveLength(0);
  });

  it('accepts a principal ARN or system:<function> as actor and nothing else', () => {
    expect(prepareEntry(input({ actor: ALICE_ARN })).actor).toBe(ALICE_ARN);
    expect(prepareEntry(input({ actor: 'arn:aws:sts::111122223333:assumed-role/Admin/maria' })).actor).toMatch(/sts/);
    expect(() => prepareEntry(input({ actor: 'alice' }))).toThrow(AuditEntryError);
    expect(() => prepareEntry(input({ actor: 'system:' }))).toThrow(AuditEntryError);
  });

  it('keeps money exact: fractional numbers are refused, decimal strings kept as written', () => {
    expect(() => prepareEntry(input({ details: { spendUsd: 0.1 } }))).toThrow(/decimal strings/);
    expect(() => prepareEntry(input({ details: { nested: [{ amountUsd: 12.5 }] } }))).toThrow(
      'details.nested[0].amountUsd',
    );
    expect(prepareEntry(input({ details: { spendUsd: '0.10' } })).details).toEqual({ spendUsd: '0.10' });
  });

  it('takes whole numbers read back from DynamoDB (effects delivered after a crash) as the numbers they were', () => {
    const details = { threshold: NumberValue.from('80'), tokens: { input: NumberValue.from('1000') } };

    expect(prepareEntry(input({ details: details as never })).details).toEqual({
      threshold: 80,
      tokens: { input: 1000 },
    });
    expect(() => prepareEntry(input({ details: { spendUsd: NumberValue.from('0.5') as never } }))).toThrow(
      /decimal strings/,
    );
  });

  it('stamps id, UTC time and day, and keeps the link ids', () => {
    const entry = prepareEntry(
      input({ executionArn: 'arn:aws:states:us-east-1:111122223333:execution:suspend:x', approvalId: 'ap-1' }),
      () => now,
    );
    expect(entry).toMatchObject({ at: '2026-11-20T15:00:00.000Z', day: '2026-11-20', approvalId: 'ap-1' });
    expect(entry.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(entry).not.toHaveProperty('requestId');
  });
});

describe('the hash chain', () => {
  async function appendThree() {
    const table = fakeTable();
    await log.append(input({ action: 'threshold.alerted' }));
    await log.append(input({ action: 'suspension.requested', details: { spendUsd: '50.01', limitUsd: '50' } }));
    await log.append(input({ action: 'deny.applied', details: { target: ALICE_ARN } }));
    return table;
  }

  it('links three entries and verifies them', async () => {
    const table = await appendThree();

    const [first, second, third] = [1, 2, 3].map((seq) => table.get('user/alice', seq));
    expect(first).toMatchObject({ seq: '000000000001', prevHash: GENESIS_HASH });
    expect(second?.prevHash).toBe(first?.hash);
    expect(third?.prevHash).toBe(second?.hash);
    await expect(log.verify('user/alice')).resolves.toEqual({
      ok: true,
      chains: 1,
      entries: 3,
      broken: [],
      heads: [{ subject: 'user/alice', seq: '000000000003', hash: third?.hash }],
    });
  });

  it('detects an altered detail at the entry that was altered', async () => {
    const table = await appendThree();
    const original = table.get('user/alice', 2);
    table.set({ ...original, details: { spendUsd: '5.01', limitUsd: '50' } });

    const report = await log.verify('user/alice');

    expect(report.ok).toBe(false);
    expect(report.broken).toEqual([
      expect.objectContaining({
        subject: 'user/alice',
        seq: '000000000002',
        problem: 'altered',
        expected: hashOf({ ...original, details: { spendUsd: '5.01', limitUsd: '50' } }),
        stored: original.hash,
      }),
    ]);
  });

  it('detects a deleted middle entry as the sequence number missing before the next one', async () => {
    const table = await appendThree();
    table.remove('user/alice', 2);

    const { broken } = await log.verify('user/alice');

    expect(broken).toEqual([
      expect.objectContaining({
        seq: '000000000003',
        problem: 'missing',
        expected: '000000000002',
        stored: '000000000003',
      }),
    ]);
  });

  it('detects reordered entries even when each one was re-hashed to look intact', async () => {
    const table = await appendThree();
    const second = table.get('user/alice', 2);
    const third = table.get('user/alice', 3);
    // Swap the two decisions, keeping the keys and giving each a hash that matches its new content.
    const reseal = (item: Item, seq: string) => ({ ...item, seq, hash: hashOf({ ...item, seq }) });
    table.set(reseal(third, '000000000002'));
    table.set(reseal(second, '000000000003'));

    const { broken } = await log.verify('user/alice');

    expect(broken).toEqual([
      expect.objectContaining({
        seq: '000000000002',
        problem: 'unlinked',
        expected: table.get('user/alice', 1).hash,
        // The entry now at seq 2 still names its old predecessor.
        stored: second.hash,
      }),
    ]);
  });

  it('verifies every subject found in the table when no subject is given, reporting each broken chain', async () => {
    const table = fakeTable();
    await log.append(input({ subject: 'user/alice' }));
    await log.append(input({ subject: 'role/app' }));
    await log.append(input({ subject: 'role/app' }));
    table.set({ ...table.get('role/app', 1), actor: 'system:someone-else' });

    const report = await log.verify();

    expect(report).toMatchObject({ ok: false, chains: 2, entries: 3 });
    expect(report.broken.map((link) => [link.subject, link.seq, link.problem])).toEqual([
      ['role/app', '000000000001', 'altered'],
    ]);
    expect(report.heads.map((head) => head.subject)).toEqual(['user/alice']);
  });
});

describe('appending', () => {
  const put = (index: number) => ddb.commandCalls(PutCommand)[index]?.args[0].input;

  it('reads the newest entry consistently and puts the next one on condition that it does not exist', async () => {
    const previous = stored(4);
    const head = { ...previous, seq: '000000000004' };
    ddb.on(QueryCommand).resolves({ Items: [asRead(head) as Item] });
    ddb.on(PutCommand).resolves({});

    const entry = await log.append(input());

    expect(ddb).toHaveReceivedCommandWith(QueryCommand, {
      TableName: 'Audit',
      KeyConditionExpression: '#subject = :subject',
      ExpressionAttributeValues: { ':subject': 'user/alice' },
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    });
    expect(put(0)).toEqual({
      TableName: 'Audit',
      Item: entry,
      ConditionExpression: 'attribute_not_exists(#seq)',
      ExpressionAttributeNames: { '#seq': 'seq' },
    });
    expect(entry).toMatchObject({ seq: '000000000005', prevHash: head.hash });
    expect(entry.hash).toBe(hashOf(entry));
  });

  it('retries a lost race after the winner, chaining onto the entry that won', async () => {
    const first = stored(1);
    const winner = chainEntry(
      prepareEntry(input({ actor: 'system:approve' }), () => now),
      first,
    );
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [first] })
      .resolves({ Items: [winner] });
    ddb.on(PutCommand).rejectsOnce(conditionFailed()).resolves({});
    ddb.on(GetCommand).resolves({ Item: winner });

    const entry = await log.append(input());

    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 2);
    expect(put(0)?.Item).toMatchObject({ seq: '000000000002', prevHash: first.hash });
    expect(ddb).toHaveReceivedNthSpecificCommandWith(2, PutCommand, {
      TableName: 'Audit',
      Item: { ...entry, seq: '000000000003', prevHash: winner.hash },
      ConditionExpression: 'attribute_not_exists(#seq)',
      ExpressionAttributeNames: { '#seq': 'seq' },
    });
    expect(put(1)?.Item?.id).toBe(put(0)?.Item?.id);
  });

  it('takes a put whose answer was lost (its own entry is in place) as written, not appending it twice', async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(PutCommand).rejects(conditionFailed());
    ddb.on(GetCommand).callsFake(() => ({ Item: ddb.commandCalls(PutCommand)[0]?.args[0].input.Item }));

    const entry = await log.append(input());

    expect(entry.seq).toBe('000000000001');
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 1);
  });

  it('surfaces an AuditWriteError carrying the cause when it keeps losing the race', async () => {
    ddb.on(QueryCommand).resolves({ Items: [stored(1)] });
    ddb.on(PutCommand).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({ Item: { ...stored(1), id: 'someone-else' } });

    const error = await log.append(input()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AuditWriteError);
    expect(error).toMatchObject({ name: 'AuditWriteError', message: expect.stringMatching(/3 times/) });
    expect((error as Error).cause).toBeInstanceOf(ConditionalCheckFailedException);
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 3);
  });

  it('surfaces any other failure at once as an AuditWriteError (the SDK has already retried it)', async () => {
    const denied = Object.assign(new Error('not authorized to perform dynamodb:PutItem'), {
      name: 'AccessDeniedException',
    });
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(PutCommand).rejects(denied);

    const error = await log.append(input()).catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'AuditWriteError', cause: denied });
    expect((error as Error).message).toMatch(/threshold.alerted for user\/alice: not authorized/);
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 1);
  });

  it('surfaces a failure to read the newest entry as an AuditWriteError', async () => {
    ddb.on(QueryCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    await expect(log.append(input())).rejects.toThrow(AuditWriteError);
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 0);
  });

  it('reads its table name from AUDIT_TABLE and fails without it', () => {
    expect(() => AuditLog.fromEnv(documents, {})).toThrow('missing environment variable AUDIT_TABLE');
    expect(AuditLog.fromEnv(documents, { AUDIT_TABLE: 'Audit' })).toBeInstanceOf(AuditLog);
  });
});

describe('query paths', () => {
  const collect = async (iterable: AsyncIterable<StoredEntry>) => {
    const out: StoredEntry[] = [];
    for await (const entry of iterable) out.push(entry);
    return out;
  };
  const since = new Date('2026-11-01T00:00:00.000Z');
  const until = new Date('2026-11-30T23:59:59.999Z');

  it('reads a principal over a time range from the byTime index, consistently, following every page', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [asRead(stored(1)) as Item], LastEvaluatedKey: { subject: 'user/alice', seq: '1' } })
      .resolves({ Items: [asRead(stored(2)) as Item] });

    const entries = await collect(log.query({ subject: 'user/alice', since, until }));

    expect(entries.map((e) => e.details)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(ddb).toHaveReceivedNthSpecificCommandWith(1, QueryCommand, {
      TableName: 'Audit',
      IndexName: 'byTime',
      KeyConditionExpression: '#subject = :subject AND #at BETWEEN :since AND :until',
      ExpressionAttributeNames: { '#subject': 'subject', '#at': 'at' },
      ExpressionAttributeValues: {
        ':subject': 'user/alice',
        ':since': '2026-11-01T00:00:00.000Z',
        ':until': '2026-11-30T23:59:59.999Z',
      },
      ConsistentRead: true,
    });
    expect(ddb).toHaveReceivedNthSpecificCommandWith(2, QueryCommand, {
      ExclusiveStartKey: { subject: 'user/alice', seq: '1' },
    });
  });

  it("reads one account's entries of an organization: its principals' and its budget's, the home account's unqualified", async () => {
    const about = (subject: string) => asRead({ ...stored(1), subject }) as Item;
    ddb.on(QueryCommand).resolves({
      Items: [
        '222233334444:user/bob',
        'GROUP#account-222233334444',
        '333344445555:user/bob',
        'user/alice',
        'ACCOUNT',
      ].map(about),
    });

    const member = await collect(log.query({ action: 'deny.applied', account: '222233334444', home: '111122223333' }));
    const home = await collect(log.query({ action: 'deny.applied', account: '111122223333', home: '111122223333' }));

    expect(member.map((e) => e.subject)).toEqual(['222233334444:user/bob', 'GROUP#account-222233334444']);
    expect(home.map((e) => e.subject)).toEqual(['user/alice']);
  });

  it('filters a principal by action when both are given', async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });

    await collect(log.query({ subject: 'user/alice', action: 'deny.lifted' }));

    expect(ddb).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'byTime',
      KeyConditionExpression: '#subject = :subject',
      FilterExpression: '#action = :action',
      ExpressionAttributeValues: { ':subject': 'user/alice', ':action': 'deny.lifted' },
    });
  });

  it('reads an action over a time range from the byAction index', async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });

    await collect(log.query({ action: 'override.approved', since }));

    expect(ddb).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'byAction',
      KeyConditionExpression: '#action = :action AND #at >= :since',
      ExpressionAttributeValues: { ':action': 'override.approved', ':since': '2026-11-01T00:00:00.000Z' },
    });
  });

  it('reads day by day from the byDay index, the last 7 days by default', async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });

    await collect(log.query());

    const days = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(days.map((q) => q.IndexName)).toEqual(Array(8).fill('byDay'));
    expect(days.map((q) => q.ExpressionAttributeValues?.[':day'])).toEqual([
      '2026-11-13',
      '2026-11-14',
      '2026-11-15',
      '2026-11-16',
      '2026-11-17',
      '2026-11-18',
      '2026-11-19',
      '2026-11-20',
    ]);
    expect(days[0]?.KeyConditionExpression).toBe('#day = :day AND #at BETWEEN :since AND :until');
  });

  it('refuses a range that ends before it starts', async () => {
    await expect(collect(log.query({ since: until, until: since }))).rejects.toThrow('since is after until');
  });

  it('lists the UTC days a range touches', () => {
    expect(daysBetween(new Date('2026-12-31T23:00:00Z'), new Date('2027-01-01T01:00:00Z'))).toEqual([
      '2026-12-31',
      '2027-01-01',
    ]);
    expect(daysBetween(new Date('2026-11-20T01:00:00Z'), new Date('2026-11-20T02:00:00Z'))).toEqual(['2026-11-20']);
  });
});
