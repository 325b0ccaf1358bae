import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { AUDIT_COLUMNS, runQuery, runVerify } from '../../cli/audit';
import { type AuditInput, hashOf, type StoredEntry } from '../../shared/audit/entry';
import { AuditLog, type AuditQuery } from '../../shared/audit/log';
import { documents, output, unique } from './support';

const table = output('AuditTableName');
const log = new AuditLog(documents, table);
// Tests share the local stack: subjects are unique to this file, and results are narrowed to them.
const tag = unique();
const alice = `user/alice-${tag}`;
const bob = `role/app-${tag}`;
const ours = (entry: StoredEntry) => entry.subject === alice || entry.subject === bob;
const at = (iso: string) => new Date(iso);
const ADMIN = 'arn:aws:iam::123456789012:user/admin';

async function collect(query: AuditQuery): Promise<StoredEntry[]> {
  const entries: StoredEntry[] = [];
  for await (const entry of log.query(query)) if (ours(entry)) entries.push(entry);
  return entries;
}

const decisions: AuditInput[] = [
  {
    subject: alice,
    actor: 'system:evaluate',
    action: 'threshold.alerted',
    period: '2031-03',
    details: { threshold: 80, spendUsd: '40.000001', limitUsd: '50' },
    at: at('2031-03-01T10:00:00.000Z'),
  },
  {
    subject: alice,
    actor: 'system:evaluate',
    action: 'suspension.requested',
    period: '2031-03',
    details: { spendUsd: '50.25', limitUsd: '50' },
    executionArn: `arn:aws:states:us-east-1:123456789012:execution:suspend:${tag}`,
    at: at('2031-03-02T09:30:00.000Z'),
  },
  {
    subject: bob,
    actor: ADMIN,
    action: 'override.approved',
    period: '2031-03',
    details: { approver: 'admin@example.com', reason: 'release week, "urgent", ticket 42', amountUsd: '25.50' },
    approvalId: `ap-${tag}`,
    at: at('2031-03-02T12:00:00.000Z'),
  },
  {
    subject: alice,
    actor: ADMIN,
    action: 'deny.lifted',
    period: '2031-03',
    details: { reason: 'admin' },
    at: at('2031-03-03T08:00:00.000Z'),
  },
  {
    subject: bob,
    actor: 'system:suspend',
    action: 'deny.lifted',
    period: '2031-03',
    details: { reason: 'approval' },
    approvalId: `ap-${tag}`,
    at: at('2031-03-03T08:00:01.000Z'),
  },
];

beforeAll(async () => {
  for (const decision of decisions) await log.append(decision);
});

describe('audit log on the local stack', () => {
  it('writes each decision as the next link of its subject chain', async () => {
    const report = await log.verify(alice);

    expect(report).toMatchObject({ ok: true, chains: 1, entries: 3, broken: [] });
    expect(report.heads).toEqual([{ subject: alice, seq: '000000000003', hash: expect.any(String) }]);
  });

  it('lets concurrent writers extend one chain without forking it', async () => {
    const subject = `user/busy-${tag}`;
    let lostRaces = 0;
    const racing = new AuditLog(documents, table, {
      backoff: async () => {
        lostRaces++;
      },
    });
    const writes = Array.from({ length: 8 }, (_, i) =>
      racing.append({ subject, actor: 'system:evaluate', action: 'threshold.alerted', details: { writer: i } }),
    );

    const entries = await Promise.all(writes);

    expect(entries.map((e) => e.seq).sort()).toEqual(
      Array.from({ length: 8 }, (_, i) => String(i + 1).padStart(12, '0')),
    );
    expect(lostRaces).toBeGreaterThan(0);
    await expect(log.verify(subject)).resolves.toMatchObject({ ok: true, entries: 8 });
  });

  it('answers "what happened to this principal" over a time range (table + byTime index)', async () => {
    const entries = await collect({
      subject: alice,
      since: at('2031-03-02T00:00:00Z'),
      until: at('2031-03-31T00:00:00Z'),
    });

    expect(entries.map((e) => [e.action, e.seq])).toEqual([
      ['suspension.requested', '000000000002'],
      ['deny.lifted', '000000000003'],
    ]);
    expect(entries[0]).toMatchObject({
      details: { spendUsd: '50.25', limitUsd: '50' },
      executionArn: expect.any(String),
    });
  });

  it('answers "who was given an exception" by action over a time range (byAction index)', async () => {
    const entries = await collect({ action: 'override.approved', since: at('2031-03-01T00:00:00Z') });

    expect(entries).toEqual([
      expect.objectContaining({
        subject: bob,
        actor: ADMIN,
        approvalId: `ap-${tag}`,
        details: { approver: 'admin@example.com', reason: 'release week, "urgent", ticket 42', amountUsd: '25.50' },
      }),
    ]);
  });

  it('answers "what happened that day" day by day (byDay index), in time order', async () => {
    const entries = await collect({ since: at('2031-03-02T00:00:00Z'), until: at('2031-03-03T23:59:59.999Z') });

    expect(entries.map((e) => [e.day, e.action, e.subject])).toEqual([
      ['2031-03-02', 'suspension.requested', alice],
      ['2031-03-02', 'override.approved', bob],
      ['2031-03-03', 'deny.lifted', alice],
      ['2031-03-03', 'deny.lifted', bob],
    ]);
  });

  it('reads whole numbers back as numbers and every entry still matches its hash', async () => {
    const [first] = await collect({ subject: alice, until: at('2031-03-01T23:59:59Z') });

    expect(first?.details).toEqual({ threshold: 80, spendUsd: '40.000001', limitUsd: '50' });
    expect(hashOf(first as StoredEntry)).toBe(first?.hash);
  });

  it('prints CSV a spreadsheet reads back intact', async () => {
    let csv = '';
    await runQuery(log, { subject: bob }, 'csv', (chunk) => {
      csv += chunk;
    });

    const lines = csv.split('\r\n');
    expect(lines[0]).toBe(AUDIT_COLUMNS.join(','));
    expect(lines).toHaveLength(4); // header, two entries, and the empty remainder after the last CRLF
    const reason = '""reason"":""release week, \\""urgent\\"", ticket 42""';
    expect(lines[1]).toContain(reason);
    expect(lines[1]).toMatch(new RegExp(`^2031-03-02T12:00:00.000Z,2031-03-02,override.approved,${bob},`));
  });

  it('finds an entry overwritten behind its back and exits 1 on it', async () => {
    const [, second] = await collect({ subject: bob });
    const tampered = { ...(second as StoredEntry), details: { reason: 'period-end' } };
    await documents.send(new PutCommand({ TableName: table, Item: tampered }));
    let text = '';

    const exitCode = await runVerify(log, { principal: bob }, (chunk) => {
      text += chunk;
    });

    expect(exitCode).toBe(1);
    expect(text).toContain(`BROKEN ${bob} at seq 000000000002: content does not match its hash (entry altered)`);
    expect(text).toContain(`stored   hash ${second?.hash}`);
    const all = await log.verify();
    expect(all.broken).toContainEqual(
      expect.objectContaining({ subject: bob, seq: '000000000002', problem: 'altered' }),
    );
    expect(all.heads).toContainEqual(expect.objectContaining({ subject: alice }));
  });
});
