import { type Command, InvalidArgumentError, Option } from 'commander';
import { AUDIT_ACTION_NAMES, type AuditAction, canonicalJson, type StoredEntry } from '../shared/audit/entry';
import { AuditLog, type AuditQuery, type VerifyReport } from '../shared/audit/log';
import { parseAccountId } from './args';
import { output, type TargetOptions, targetOptions, withDocuments } from './target';

export const OUTPUT_FORMATS = ['table', 'json', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Columns of every output format, in order: when and what first, link ids and hashes last. */
export const AUDIT_COLUMNS = [
  'at',
  'day',
  'action',
  'subject',
  'actor',
  'period',
  'details',
  'executionArn',
  'requestId',
  'approvalId',
  'id',
  'seq',
  'hash',
  'prevHash',
] as const;
type Column = (typeof AUDIT_COLUMNS)[number];

const TABLE_COLUMNS: readonly Column[] = ['at', 'action', 'subject', 'actor', 'period', 'details'];
const CRLF = '\r\n';

function cell(entry: StoredEntry, column: Column): string {
  if (column === 'details') return canonicalJson(entry.details ?? {});
  const value = entry[column];
  return value === undefined ? '' : String(value);
}

/**
 * One CSV field per RFC 4180: quoted when it holds a comma, quote, CR or LF, quotes doubled. A field a spreadsheet
 * would run as a formula (leading =, +, -, @, tab or CR) gets a leading apostrophe, as OWASP advises.
 */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export const csvRecord = (fields: readonly string[]) => `${fields.map(csvField).join(',')}${CRLF}`;

export const csvHeader = () => csvRecord(AUDIT_COLUMNS);
export const csvLine = (entry: StoredEntry) => csvRecord(AUDIT_COLUMNS.map((column) => cell(entry, column)));

/** One JSON object per line with every stored attribute (so the hash can be recomputed), columns first. */
export function jsonLine(entry: StoredEntry): string {
  const ordered: Record<string, unknown> = {};
  for (const column of AUDIT_COLUMNS) if (entry[column] !== undefined) ordered[column] = entry[column];
  return `${JSON.stringify({ ...ordered, ...entry })}\n`;
}

/** Aligned columns for people; full values, nothing cut. */
export function formatTable(entries: readonly StoredEntry[]): string {
  const rows = [TABLE_COLUMNS.map(String), ...entries.map((entry) => TABLE_COLUMNS.map((c) => cell(entry, c)))];
  const widths = TABLE_COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const lines = rows.map((row) =>
    row
      .map((value, i) => (i === row.length - 1 ? value : value.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}

/** Writes entries as they arrive (csv, json) or all at once (table); returns how many there were. */
export async function writeEntries(
  entries: AsyncIterable<StoredEntry>,
  format: OutputFormat,
  write: (text: string) => void,
): Promise<number> {
  let count = 0;
  if (format === 'table') {
    const all: StoredEntry[] = [];
    for await (const entry of entries) all.push(entry);
    write(all.length === 0 ? 'no audit entries match\n' : formatTable(all));
    return all.length;
  }
  if (format === 'csv') write(csvHeader());
  for await (const entry of entries) {
    write(format === 'csv' ? csvLine(entry) : jsonLine(entry));
    count++;
  }
  return count;
}

/** What `audit verify` prints, and its exit code: 1 when any chain is broken. */
export function verifyOutcome(
  report: VerifyReport,
  options: { principal?: string; heads?: boolean } = {},
): { text: string; exitCode: 0 | 1 } {
  const lines: string[] = [];
  for (const link of report.broken) {
    lines.push(`BROKEN ${link.subject} at seq ${link.seq}: ${link.message}`);
    const label = link.problem === 'missing' ? 'seq' : 'hash';
    lines.push(`  expected ${label} ${link.expected}`, `  stored   ${label} ${link.stored}`);
  }
  if (options.heads) for (const head of report.heads) lines.push(`head ${head.subject} ${head.seq} ${head.hash}`);
  if (report.chains === 0) {
    lines.push(options.principal ? `no audit entries for ${options.principal}` : 'the audit log is empty');
  } else {
    const chains = `${report.chains} chain${report.chains === 1 ? '' : 's'}`;
    const verdict = report.ok ? 'all intact' : `${report.broken.length} broken`;
    lines.push(`verified ${report.entries} entries in ${chains}: ${verdict}`);
  }
  return { text: `${lines.join('\n')}\n`, exitCode: report.ok ? 0 : 1 };
}

const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;
const RELATIVE = /^(\d+)([dh])$/;

/**
 * A time bound: an ISO time with zone (`2026-11-20T15:00:00Z`), a UTC day (`2026-11-20`: its start for --since, its
 * end for --until), or an age (`30d`, `12h` ago).
 */
export function parseTime(text: string, bound: 'since' | 'until', now: Date = new Date()): Date {
  const relative = RELATIVE.exec(text);
  if (relative) {
    const hours = Number(relative[1]) * (relative[2] === 'd' ? 24 : 1);
    return new Date(now.getTime() - hours * 3_600_000);
  }
  const iso = ISO_DAY.test(text) ? `${text}T${bound === 'since' ? '00:00:00.000' : '23:59:59.999'}Z` : text;
  const time = new Date(iso);
  if ((!ISO_DAY.test(text) && !ISO_TIME.test(text)) || Number.isNaN(time.getTime())) {
    throw new InvalidArgumentError(
      `--${bound} must be a UTC day (2026-11-20), an ISO time with zone (2026-11-20T15:00:00Z) or an age (7d, 12h)`,
    );
  }
  return time;
}

/** Reads and checks entries through the same module the functions write with. */
export async function runQuery(
  log: AuditLog,
  query: AuditQuery,
  format: OutputFormat,
  write: (text: string) => void,
): Promise<number> {
  return writeEntries(log.query(query), format, write);
}

export async function runVerify(
  log: AuditLog,
  options: { principal?: string; heads?: boolean },
  write: (text: string) => void,
): Promise<0 | 1> {
  const { text, exitCode } = verifyOutcome(await log.verify(options.principal), options);
  write(text);
  return exitCode;
}

const withAuditLog = <T>(options: TargetOptions, use: (log: AuditLog) => Promise<T>): Promise<T> =>
  withDocuments(options, (documents, target) => use(new AuditLog(documents, output(target, 'AuditTableName'))));

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('query and verify the append-only audit log');
  const write = (text: string) => process.stdout.write(text);

  targetOptions(
    audit
      .command('query')
      .description(
        'list audit entries in time order: by principal (--principal), by action (--action), else day by day',
      )
      .option(
        '--principal <id>',
        'subject principal id, e.g. user/alice, role/app, 222233334444:user/bob, ACCOUNT, SYSTEM',
      )
      .option(
        '--account <id>',
        "only entries about one account of an organization: its principals' and its budget's",
        parseAccountId,
      )
      .addOption(new Option('--action <action>', 'one audited action').choices(AUDIT_ACTION_NAMES))
      .option(
        '--since <time>',
        'from (inclusive): 2026-11-01, 2026-11-01T08:00:00Z or 30d (default: 7d without filters)',
      )
      .option('--until <time>', 'to (inclusive): 2026-11-30, 2026-11-30T18:00:00Z or 1h (default: now)')
      .addOption(new Option('--format <format>', 'output format').choices(OUTPUT_FORMATS).default('table')),
  ).action(
    async (
      options: TargetOptions & {
        principal?: string;
        account?: string;
        action?: AuditAction;
        since?: string;
        until?: string;
        format: OutputFormat;
      },
    ) => {
      const now = new Date();
      const query: AuditQuery = {
        subject: options.principal,
        action: options.action,
        account: options.account,
        since: options.since === undefined ? undefined : parseTime(options.since, 'since', now),
        until: options.until === undefined ? undefined : parseTime(options.until, 'until', now),
      };
      await withAuditLog(options, (log) => runQuery(log, query, options.format, write));
    },
  );

  targetOptions(
    audit
      .command('verify')
      .description('recompute the hash chains and report the first broken link of each; exits 1 if any is broken')
      .option('--principal <id>', 'verify only this subject principal id')
      .option('--heads', 'also print the newest entry and hash of each intact chain, to keep outside AWS'),
  ).action(async (options: TargetOptions & { principal?: string; heads?: boolean }) => {
    process.exitCode = await withAuditLog(options, (log) => runVerify(log, options, write));
  });
}
