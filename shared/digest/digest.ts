import { KEYS } from '../budgets/items';
import type { Effects } from '../decisions/outbox';
import { ACCOUNT_PRINCIPAL } from '../identity';
import { formatUsd, percentOf, toDecimalString, type Usd } from '../money';
import type { AlertFact, AlertMessage, AlertValue } from '../notify';
import { daysBefore } from '../period';

/**
 * The daily digest: what an admin reads once a day instead of piecing it together from single alerts. This module
 * is pure: `gather.ts` reads the data, this one turns it into one message (the same for both topics) and the
 * effects its claim owes. Money stays exact decimal; only the text rounds it to cents.
 */

/** One line of spend: a principal's, a group's, or the account's. */
export interface SpendLine {
  readonly name: string;
  /** Charged on the digest's day (calls whose time falls on it). */
  readonly dayUsd: Usd;
  /** Spent so far in the period the day belongs to (the counter). */
  readonly periodUsd: Usd;
  /** The limit of the period's kind; absent where there is none (budgeted on another kind of period). */
  readonly limitUsd?: Usd;
  /** `active`, `suspended` (a principal) or `stopped` (the account). */
  readonly state: string;
}

/** A threshold crossed on the day, as the audit recorded it: a percent, or `limit` (spend reached the limit). */
export interface Crossing {
  readonly principal: string;
  readonly threshold: number | 'limit';
  readonly at: string;
}

export interface SuspensionInForce {
  readonly principal: string;
  readonly period: string;
  /** `suspended` (a principal) or `stopped` (the account). */
  readonly state: string;
  readonly since: string;
  readonly reason: string;
  /** The pending decision that can end it (`budgeteer override <id>`). */
  readonly waitId?: string;
}

/** A workflow waiting for an admin's decision (shared/decisions/pending.ts), not yet decided nor expired. */
export interface PendingDecision {
  readonly id: string;
  readonly kind: 'suspension' | 'emergency-stop';
  readonly principal: string;
  readonly period: string;
  readonly createdAt: string;
  readonly expiresAt: string;
}

/** A model missing from the price catalog, charged at the fallback price (its unknown-model marker). */
export interface UnknownModel {
  readonly model: string;
  readonly firstSeen?: string;
  readonly lastSeen?: string;
  /** Calls charged at the fallback since it was first seen. */
  readonly requests: number;
  /** Charged at the fallback on the digest's day. */
  readonly dayUsd: Usd;
}

/** The rejected-records queue as it stands: records ingest could not meter, kept for an operator. */
export interface RejectedRecords {
  /** Waiting in the queue. */
  readonly waiting: number;
  /** Received by someone and not yet deleted (being looked at). */
  readonly inFlight: number;
}

export interface DigestData {
  /** The day reported (YYYY-MM-DD, UTC): yesterday, when the digest runs. */
  readonly day: string;
  /** The period the day belongs to (the deployment's own kind). */
  readonly period: string;
  /** When the data was read: durations of suspensions and waits are counted to it. */
  readonly now: Date;
  /** Every principal that spent in the period (or on the day). */
  readonly principals: readonly SpendLine[];
  readonly account: SpendLine;
  /**
   * Group budgets' lines. Groups do not exist yet: `gather` leaves this out and the section is not shown. When they
   * do (counters like principals'), gather them the same way and they are listed under the principals.
   */
  readonly groups?: readonly SpendLine[];
  readonly crossings: readonly Crossing[];
  readonly suspensions: readonly SuspensionInForce[];
  readonly pending: readonly PendingDecision[];
  readonly unknownModels: readonly UnknownModel[];
  /** Undefined: the queue could not be read (the digest still goes out, saying so). */
  readonly rejected?: RejectedRecords;
}

export interface DigestOptions {
  /** How many principals (and groups) to list, most spent on the day first. @default 10 */
  readonly top?: number;
  /** At most this many lines per other section; the rest is counted. @default 50 */
  readonly listLimit?: number;
}

/** The Budgets item a day's digest is claimed on: a reserved principal no principal's id can be (see KEYS). */
export const digestKey = (day: string) => ({ principal: KEYS.digestPrincipal, period: day });

/** The decision id of a day's digest: the messages carry it, the audit entry is appended once under it. */
export const digestDecisionId = (day: string) => `digest|${day}`;

/** The subject of the digest's audit chain, and the actor that sends it. */
export const DIGEST_SUBJECT = KEYS.digestPrincipal;
export const DIGEST_ACTOR = 'system:digest';

/** The day before `at` (UTC), as YYYY-MM-DD: a digest that runs at 06:00 reports the whole of yesterday. */
export const dayBefore = (at: Date): string => daysBefore(at, 1);

/** A length of time as people say it: `2d 3h`, `5h 12m`, `14m`, `under a minute`. */
export function formatDuration(ms: number): string {
  const minutes = Math.floor(Math.max(0, ms) / 60_000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${rest}m`;
  return rest > 0 ? `${rest}m` : 'under a minute';
}

const since = (from: string, now: Date) => formatDuration(now.getTime() - Date.parse(from));
const minuteOf = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
const who = (principal: string) => (principal === ACCOUNT_PRINCIPAL ? 'the whole account' : principal);
const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;

/** Most spent on the day first, then most in the period, then by name: a day's movers lead. */
export function topLines(lines: readonly SpendLine[], top: number): SpendLine[] {
  return lines
    .filter((line) => line.dayUsd.gt(0) || line.periodUsd.gt(0))
    .sort((a, b) => b.dayUsd.cmp(a.dayUsd) || b.periodUsd.cmp(a.periodUsd) || (a.name < b.name ? -1 : 1))
    .slice(0, top);
}

function spendTable(lines: readonly SpendLine[], heading: string): string[] {
  const cells = lines.map((line) => [
    line.name === ACCOUNT_PRINCIPAL ? 'the whole account' : line.name,
    formatUsd(line.dayUsd),
    formatUsd(line.periodUsd),
    line.limitUsd === undefined ? '-' : formatUsd(line.limitUsd),
    line.limitUsd === undefined
      ? ''
      : line.limitUsd.eq(0)
        ? 'blocked'
        : `${percentOf(line.periodUsd, line.limitUsd).toFixed(2)}%`,
    line.state === 'active' ? '' : line.state,
  ]);
  const header = [heading, 'yesterday', 'period', 'limit', 'used', ''];
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((row) => row[column]?.length ?? 0)));
  const row = (values: readonly string[]) =>
    `  ${values
      .map((value, column) => (column === 0 ? value.padEnd(widths[0] ?? 0) : value.padStart(widths[column] ?? 0)))
      .join('  ')}`.trimEnd();
  return [row(header), ...cells.map(row)];
}

/** One list of the digest: its title, its lines (all of them), and what it says when there are none. */
interface Section {
  readonly title: string;
  readonly items: readonly string[];
  readonly none: string;
}

/** A section as the e-mail shows it: at most `limit` lines, the rest counted; `none` when empty. */
function sectionText({ title, items, none }: Section, limit: number): string[] {
  if (items.length === 0) return [`${title}: ${none}`];
  const shown = items.slice(0, limit).map((item) => `  ${item}`);
  const more = items.length - shown.length;
  return [`${title} (${items.length}):`, ...shown, ...(more > 0 ? [`  … and ${more} more`] : [])];
}

/** A section as chat shows it: one labelled fact, the same lines. */
function sectionFact({ title, items, none }: Section, limit: number): AlertFact {
  const more = items.length - Math.min(items.length, limit);
  return {
    label: items.length === 0 ? title : `${title} (${items.length})`,
    value:
      items.length === 0 ? none : [...items.slice(0, limit), ...(more > 0 ? [`… and ${more} more`] : [])].join('\n'),
  };
}

const money = (amount: Usd) => toDecimalString(amount);
const spendData = (line: SpendLine): AlertValue => ({
  name: line.name,
  dayUsd: money(line.dayUsd),
  periodUsd: money(line.periodUsd),
  limitUsd: line.limitUsd === undefined ? null : money(line.limitUsd),
  state: line.state,
});
const spendFact = (line: SpendLine) =>
  `${who(line.name)}: ${formatUsd(line.dayUsd)} yesterday, ${formatUsd(line.periodUsd)} this period` +
  (line.limitUsd === undefined
    ? ''
    : line.limitUsd.eq(0)
      ? ' (blocked)'
      : ` of ${formatUsd(line.limitUsd)} (${percentOf(line.periodUsd, line.limitUsd).toFixed(2)}%)`) +
  (line.state === 'active' ? '' : `, ${line.state}`);

/**
 * The digest of a day as one message: the e-mail's text (a spend table and one list per concern), the same lists as
 * chat facts, the figures as typed data for programs (money as exact decimal strings), and the attributes
 * subscribers filter on.
 */
export function composeDigest(data: DigestData, options: DigestOptions = {}): AlertMessage {
  const top = options.top ?? 10;
  const limit = options.listLimit ?? 50;
  const { now } = data;
  const shown = topLines(data.principals, top);
  const spenders = data.principals.filter((line) => line.dayUsd.gt(0) || line.periodUsd.gt(0)).length;
  const groups = data.groups === undefined ? undefined : topLines(data.groups, top);
  const crossings = [...data.crossings].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const suspensions = [...data.suspensions].sort((a, b) => (a.since < b.since ? -1 : 1));
  const pending = [...data.pending].sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
  const unknownModels = [...data.unknownModels].sort((a, b) => b.dayUsd.cmp(a.dayUsd) || (a.model < b.model ? -1 : 1));
  const sections: Section[] = [
    {
      title: 'Thresholds crossed yesterday',
      items: crossings.map(
        (c) =>
          `${who(c.principal)}: ${c.threshold === 'limit' ? 'reached its limit' : `${c.threshold}%`} at ${minuteOf(c.at)}`,
      ),
      none: 'none',
    },
    {
      title: 'Suspensions in force',
      items: suspensions.map(
        (s) =>
          `${who(s.principal)} (${s.period}): ${s.state} for ${since(s.since, now)}, since ${minuteOf(s.since)}` +
          ` (${s.reason})${s.waitId ? `; decide with \`budgeteer override ${s.waitId}\`` : ''}`,
      ),
      none: 'none',
    },
    {
      title: 'Decisions pending',
      items: pending.map(
        (p) =>
          `${p.id}: ${p.kind === 'suspension' ? 'suspension of' : 'emergency stop of'} ${who(p.principal)} (${p.period}),` +
          ` waiting ${since(p.createdAt, now)}, links expire in ${formatDuration(Date.parse(p.expiresAt) - now.getTime())}`,
      ),
      none: 'none',
    },
    {
      title: 'Unknown models, charged at the fallback price',
      items: unknownModels.map(
        (m) =>
          `${m.model}: ${formatUsd(m.dayUsd)} yesterday, ${plural(m.requests, 'call')} since ` +
          `${m.firstSeen ? minuteOf(m.firstSeen) : 'first seen'}; add it to the price catalog`,
      ),
      none: 'none',
    },
  ];
  const rejected =
    data.rejected === undefined
      ? 'the rejected-records queue could not be read.'
      : data.rejected.waiting + data.rejected.inFlight === 0
        ? 'none waiting in the rejected-records queue.'
        : `${plural(data.rejected.waiting, 'record')} waiting in the rejected-records queue` +
          `${data.rejected.inFlight > 0 ? `, ${data.rejected.inFlight} being read` : ''}; they are not metered until fixed and replayed.`;
  const more =
    spenders > shown.length
      ? `… and ${plural(spenders - shown.length, 'more principal')} (see \`budgeteer status\`)`
      : undefined;

  const heading = `Bedrock daily digest for ${data.day} (period ${data.period}), as of ${minuteOf(now.toISOString())}.`;
  const lines = [heading, '', ...spendTable([data.account, ...shown], 'Spend')];
  if (spenders === 0) lines.push('  No principal spent in this period yet.');
  else if (more) lines.push(`  ${more}`);
  if (groups !== undefined) {
    lines.push('', ...(groups.length > 0 ? spendTable(groups, 'Groups') : ['Groups: no group spent in this period.']));
  }
  for (const section of sections) lines.push('', ...sectionText(section, limit));
  lines.push('', `Rejected records: ${rejected}`);

  const summary = [
    `${formatUsd(data.account.dayUsd)} yesterday`,
    ...(data.crossings.length > 0 ? [plural(data.crossings.length, 'crossing')] : []),
    ...(data.suspensions.length > 0 ? [`${data.suspensions.length} suspended`] : []),
    ...(data.pending.length > 0 ? [`${data.pending.length} pending`] : []),
  ].join(', ');
  return {
    subject: `Bedrock daily digest ${data.day}: ${summary}`,
    body: lines.join('\n'),
    summary: heading,
    facts: [
      { label: 'Account', value: spendFact(data.account) },
      {
        label: 'Top principals',
        value:
          shown.length === 0 ? 'none spent this period' : [...shown.map(spendFact), ...(more ? [more] : [])].join('\n'),
      },
      ...(groups === undefined
        ? []
        : [
            {
              label: 'Groups',
              value: groups.length === 0 ? 'none spent this period' : groups.map(spendFact).join('\n'),
            },
          ]),
      ...sections.map((section) => sectionFact(section, limit)),
      { label: 'Rejected records', value: rejected },
    ],
    commands: ['npx budgeteer status', 'npx budgeteer report --html spend.html'],
    data: {
      account: spendData(data.account),
      principals: shown.map(spendData),
      morePrincipals: spenders - shown.length,
      ...(groups === undefined ? {} : { groups: groups.map(spendData) }),
      crossings: crossings.slice(0, limit).map((c) => ({ principal: c.principal, threshold: c.threshold, at: c.at })),
      suspensions: suspensions.slice(0, limit).map((s) => ({
        principal: s.principal,
        period: s.period,
        state: s.state,
        since: s.since,
        reason: s.reason,
        waitId: s.waitId ?? null,
      })),
      pending: pending.slice(0, limit).map((p) => ({ ...p })),
      unknownModels: unknownModels.slice(0, limit).map((m) => ({
        model: m.model,
        dayUsd: money(m.dayUsd),
        requests: m.requests,
        firstSeen: m.firstSeen ?? null,
        lastSeen: m.lastSeen ?? null,
      })),
      rejectedRecords: data.rejected === undefined ? null : { ...data.rejected },
    },
    attributes: {
      kind: 'digest',
      severity: 'info',
      day: data.day,
      period: data.period,
    },
  };
}

/**
 * What a day's digest claim owes: the message on both topics and one audit entry. Delivered by the outbox
 * (shared/decisions/outbox.ts) like every decision, so a crash after the claim is completed by the sweep.
 */
export function digestEffects(data: DigestData, options: DigestOptions = {}): Effects {
  const message = composeDigest(data, options);
  return {
    decisionId: digestDecisionId(data.day),
    messages: [
      { topic: 'alerts', message },
      { topic: 'critical', message },
    ],
    audit: {
      subject: DIGEST_SUBJECT,
      actor: DIGEST_ACTOR,
      action: 'digest.sent',
      period: data.period,
      at: data.now.toISOString(),
      details: {
        decisionId: digestDecisionId(data.day),
        day: data.day,
        period: data.period,
        accountDayUsd: toDecimalString(data.account.dayUsd),
        principals: data.principals.filter((line) => line.dayUsd.gt(0)).length,
        crossings: data.crossings.length,
        suspensions: data.suspensions.length,
        pending: data.pending.length,
        unknownModels: data.unknownModels.length,
        rejectedRecords: data.rejected === undefined ? null : data.rejected.waiting + data.rejected.inFlight,
      },
    },
  };
}
