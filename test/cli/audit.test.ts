import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { Command, CommanderError } from 'commander';
import {
  AUDIT_COLUMNS,
  csvField,
  csvLine,
  formatTable,
  parseTime,
  registerAuditCommands,
  runVerify,
  verifyOutcome,
  writeEntries,
} from '../../cli/audit';
import { AUDIT_ACTION_NAMES, chainEntry, hashOf, prepareEntry, type StoredEntry } from '../../shared/audit/entry';
import { AuditLog, type VerifyReport } from '../../shared/audit/log';

const now = new Date('2026-11-20T15:00:00.000Z');
const first = chainEntry(
  prepareEntry(
    {
      subject: 'user/alice',
      actor: 'arn:aws:iam::111122223333:user/admin',
      action: 'override.approved',
      period: '2026-11',
      details: { approver: 'admin@example.com', reason: 'launch week, "urgent", see\nticket 42', amountUsd: '25.50' },
      approvalId: 'ap-7',
    },
    () => now,
  ),
  undefined,
);
const second = chainEntry(
  prepareEntry({ subject: 'user/alice', actor: 'system:suspend', action: 'deny.lifted', details: {} }, () => now),
  first,
);

/** RFC 4180 reader, to prove what a spreadsheet would see. */
function readCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      record.push(field);
      field = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += char;
  }
  return records;
}

async function* from(entries: StoredEntry[]) {
  yield* entries;
}

async function render(format: 'table' | 'json' | 'csv', entries: StoredEntry[]) {
  let text = '';
  const count = await writeEntries(from(entries), format, (chunk) => {
    text += chunk;
  });
  return { text, count };
}

describe('CSV for spreadsheets', () => {
  it('quotes fields with a comma, quote, CR or LF and doubles quotes (RFC 4180)', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
  });

  it('defuses values a spreadsheet would run as formulas', () => {
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField('user/alice')).toBe('user/alice');
  });

  it('writes a header and one CRLF record per entry, details as one JSON column, read back intact', async () => {
    const { text, count } = await render('csv', [first, second]);

    expect(count).toBe(2);
    expect(text.endsWith('\r\n')).toBe(true);
    const [header, row, row2] = readCsv(text);
    expect(header).toEqual([...AUDIT_COLUMNS]);
    const record = Object.fromEntries(AUDIT_COLUMNS.map((column, i) => [column, row?.[i]]));
    expect(record).toMatchObject({
      at: '2026-11-20T15:00:00.000Z',
      action: 'override.approved',
      subject: 'user/alice',
      actor: 'arn:aws:iam::111122223333:user/admin',
      period: '2026-11',
      approvalId: 'ap-7',
      executionArn: '',
      seq: '000000000001',
      hash: first.hash,
    });
    expect(JSON.parse(record.details as string)).toEqual(first.details);
    expect(row2?.[AUDIT_COLUMNS.indexOf('prevHash')]).toBe(first.hash);
  });

  it('keeps one entry on one record even with newlines in its details', () => {
    expect(readCsv(csvLine(first))).toHaveLength(1);
  });
});

describe('output formats', () => {
  it('prints JSON lines with the columns in order', async () => {
    const { text } = await render('json', [first, second]);

    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const parsed = JSON.parse(lines[0] as string);
    expect(Object.keys(parsed)).toEqual(AUDIT_COLUMNS.filter((c) => c in first));
    expect(parsed).toEqual(first);
    expect(hashOf(parsed)).toBe(first.hash);
  });

  it('prints an aligned table for people, every value in full', async () => {
    const { text } = await render('table', [first, second]);

    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^at\s+action\s+subject\s+actor\s+period\s+details$/);
    expect(lines[1]).toContain('override.approved');
    expect(lines[1]).toContain('"amountUsd":"25.50"');
    expect(lines[2]?.indexOf('deny.lifted')).toBe(lines[1]?.indexOf('override.approved'));
    expect(formatTable([])).toBe('at  action  subject  actor  period  details\n');
  });

  it('says so when nothing matches', async () => {
    expect((await render('table', [])).text).toBe('no audit entries match\n');
    expect((await render('csv', [])).text).toBe(`${AUDIT_COLUMNS.join(',')}\r\n`);
  });
});

describe('time bounds', () => {
  it('reads a day as its start for --since and its end for --until', () => {
    expect(parseTime('2026-11-01', 'since').toISOString()).toBe('2026-11-01T00:00:00.000Z');
    expect(parseTime('2026-11-30', 'until').toISOString()).toBe('2026-11-30T23:59:59.999Z');
  });

  it('reads ISO times with a zone and ages', () => {
    expect(parseTime('2026-11-20T17:00:00+02:00', 'since').toISOString()).toBe('2026-11-20T15:00:00.000Z');
    expect(parseTime('7d', 'since', now).toISOString()).toBe('2026-11-13T15:00:00.000Z');
    expect(parseTime('12h', 'until', now).toISOString()).toBe('2026-11-20T03:00:00.000Z');
  });

  it('refuses a time without a zone, which would silently be local time', () => {
    expect(() => parseTime('2026-11-20T15:00:00', 'since')).toThrow(/ISO time with zone/);
    expect(() => parseTime('yesterday', 'until')).toThrow(/--until/);
  });
});

describe('audit verify', () => {
  const intact: VerifyReport = { ok: true, chains: 2, entries: 5, broken: [], heads: [] };

  it('exits 0 with a summary when every chain is intact', () => {
    expect(verifyOutcome(intact)).toEqual({ text: 'verified 5 entries in 2 chains: all intact\n', exitCode: 0 });
  });

  it('exits 1 and prints the first broken link with expected and stored hash', () => {
    const report: VerifyReport = {
      ...intact,
      ok: false,
      broken: [
        {
          subject: 'user/alice',
          seq: '000000000002',
          problem: 'altered',
          expected: 'aaa',
          stored: 'bbb',
          message: 'content does not match its hash (entry altered)',
        },
      ],
    };

    const { text, exitCode } = verifyOutcome(report);

    expect(exitCode).toBe(1);
    expect(text).toBe(
      [
        'BROKEN user/alice at seq 000000000002: content does not match its hash (entry altered)',
        '  expected hash aaa',
        '  stored   hash bbb',
        'verified 5 entries in 2 chains: 1 broken',
        '',
      ].join('\n'),
    );
  });

  it('says when a principal has no entries at all', () => {
    const empty = { ok: true, chains: 0, entries: 0, broken: [], heads: [] };
    expect(verifyOutcome(empty, { principal: 'user/bob' }).text).toBe('no audit entries for user/bob\n');
  });

  it('exits 1 on a tampered chain read through the audit module', async () => {
    const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
    const ddb = mockClient(documents);
    ddb.on(ScanCommand).resolves({ Items: [{ subject: 'user/alice' }] });
    ddb.on(QueryCommand).resolves({ Items: [first, { ...second, details: { reason: 'edited later' } }] });
    let text = '';

    const exitCode = await runVerify(new AuditLog(documents, 'Audit'), { heads: true }, (chunk) => {
      text += chunk;
    });

    expect(exitCode).toBe(1);
    expect(text).toMatch(/^BROKEN user\/alice at seq 000000000002/);
    expect(text).toContain(`stored   hash ${second.hash}`);
    ddb.restore();
  });
});

describe('command line', () => {
  const program = () => {
    const root = new Command('budgeteer').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    // Subcommands inherit both settings when created after them.
    registerAuditCommands(root);
    return root;
  };
  const parse = (...args: string[]) => program().parseAsync(['node', 'budgeteer', 'audit', ...args]);

  it('accepts only the closed vocabulary of actions and the three formats', async () => {
    await expect(parse('query', '--format', 'xml')).rejects.toThrow(CommanderError);
    await expect(parse('query', '--action', 'budget.raised')).rejects.toThrow(/Allowed choices/);
  });
});

describe('the README for auditors', () => {
  it('lists exactly the actions the code accepts', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const start = readme.indexOf('## For auditors');
    const next = readme.indexOf('\n## ', start + 1);
    const section = readme.slice(start, next === -1 ? undefined : next);
    const listed = [...section.matchAll(/^\| `([a-z.-]+)` +\|/gm)].map((match) => match[1]);

    expect(listed).toEqual(AUDIT_ACTION_NAMES);
  });
});
