import type { AuditAction } from '../audit/entry';
import { ACCOUNT_PRINCIPAL } from '../identity';
import { percentOf, toDecimalString, type Usd, usd, ZERO } from '../money';

/**
 * A spend report of one period: per principal, its spend over the period against its limit with the events that
 * mark it (alerts, suspensions, lifts, overrides), spend by model, and the top principals. Money stays exact
 * decimal text; the renderer only turns it into positions.
 */
export interface SpendReport {
  readonly period: string;
  /** The period's first instant and the first instant after it (ISO 8601). */
  readonly start: string;
  readonly end: string;
  readonly generatedAt: string;
  readonly thresholds: readonly number[];
  /** The principals charted: the one asked for, or the top spenders (`top`), highest share of the limit first. */
  readonly charts: readonly PrincipalChart[];
  readonly account: PrincipalChart;
  /** Every principal that spent, highest share of its limit first. */
  readonly principals: readonly PrincipalRow[];
  readonly byModel: readonly { readonly model: string; readonly spendUsd: string }[];
}

export interface PrincipalRow {
  readonly principal: string;
  readonly spendUsd: string;
  /** Null where there is no limit of the period's kind (the account budgeted monthly, in a weekly report). */
  readonly limitUsd: string | null;
  /** Percent of the limit spent (two places, rounded down); null for a zero limit or none. */
  readonly percent: string | null;
  readonly state: string;
  readonly requests: number;
}

export interface PrincipalChart extends PrincipalRow {
  /** Spend added up call by call, in time order; starts at the period's start with 0. */
  readonly series: readonly SeriesPoint[];
  readonly markers: readonly ReportMarker[];
  /**
   * What the calls on record add up to, when it differs from the counter (records past their retention, or
   * spend counted before the report's records): the chart shows the records, the table the counter.
   */
  readonly recordedUsd?: string;
}

export interface SeriesPoint {
  readonly at: string;
  readonly cumulativeUsd: string;
}

/** One charged call as the report reads it from the usage records. */
export interface ChargedCall {
  readonly at: string;
  readonly principal: string;
  readonly model: string;
  readonly costUsd: Usd;
}

/** An audited event that marks a principal's chart. */
export interface ReportMarker {
  readonly at: string;
  readonly action: AuditAction;
  readonly label: string;
}

export interface AuditedEvent {
  readonly at: string;
  readonly subject: string;
  readonly action: AuditAction;
  readonly details: Readonly<Record<string, unknown>>;
}

/** A principal's standing in the period, as `status` reports it. */
export interface StandingRow {
  readonly principal: string;
  readonly spendUsd: string;
  readonly limitUsd: string | null;
  readonly state?: string;
  readonly requests?: number;
}

/** What the report is built from: the period's status rows, its charged calls and its audit entries. */
export interface ReportInput {
  readonly period: string;
  readonly start: Date;
  readonly end: Date;
  readonly now: Date;
  readonly thresholds: readonly number[];
  readonly rows: readonly StandingRow[];
  readonly account: StandingRow;
  readonly calls: readonly ChargedCall[];
  readonly events: readonly AuditedEvent[];
  /** How many principals to chart when none is asked for. @default 6 */
  readonly top?: number;
  /** Chart this one principal only. */
  readonly principal?: string;
}

/** The audited actions that mark a chart, and how each reads on it. */
const MARKED: Partial<Record<AuditAction, (details: Readonly<Record<string, unknown>>) => string>> = {
  'threshold.alerted': (d) => `${String(d.threshold)}% alert`,
  'suspension.requested': () => 'limit reached',
  'deny.applied': () => 'suspended',
  'deny.lifted': (d) => `lifted (${String(d.reason ?? 'lift')})`,
  'override.approved': (d) => `override approved${d.decision ? `: ${String(d.decision)}` : ''}`,
  'override.denied': () => 'override refused',
  'budget.limit-set': (d) => `limit set to $${String(d.limitUsd)}`,
  'emergency-stop.started': () => 'emergency stop',
  'emergency-stop.resumed': () => 'stop resumed',
};

export const isMarked = (action: AuditAction): boolean => MARKED[action] !== undefined;

export function buildReport(input: ReportInput): SpendReport {
  const calls = [...input.calls]
    .filter((call) => call.at >= input.start.toISOString() && call.at < input.end.toISOString())
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const rowOf = (row: StandingRow): PrincipalRow => {
    const limit = row.limitUsd === null ? undefined : usd(row.limitUsd);
    return {
      principal: row.principal,
      spendUsd: toDecimalString(usd(row.spendUsd)),
      limitUsd: limit === undefined ? null : toDecimalString(limit),
      percent: limit?.gt(0) ? percentOf(usd(row.spendUsd), limit).toFixed(2) : null,
      state: row.state ?? 'active',
      requests: row.requests ?? 0,
    };
  };
  const principals = input.rows.map(rowOf).sort(byShareOfLimit);
  const chartOf = (row: PrincipalRow): PrincipalChart => {
    const own = row.principal === ACCOUNT_PRINCIPAL ? calls : calls.filter((c) => c.principal === row.principal);
    const series = seriesOf(own, input.start);
    const recorded = usd(series.at(-1)?.cumulativeUsd ?? '0');
    return {
      ...row,
      series,
      markers: input.events
        .filter((event) => event.subject === row.principal)
        .flatMap((event) => {
          const label = MARKED[event.action]?.(event.details);
          return label ? [{ at: event.at, action: event.action, label }] : [];
        })
        .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)),
      ...(recorded.eq(usd(row.spendUsd)) ? {} : { recordedUsd: toDecimalString(recorded) }),
    };
  };
  const charted =
    input.principal !== undefined
      ? principals.filter((row) => row.principal === input.principal)
      : principals.slice(0, input.top ?? 6);
  const models = new Map<string, Usd>();
  for (const call of calls) models.set(call.model, (models.get(call.model) ?? ZERO).plus(call.costUsd));
  return {
    period: input.period,
    start: input.start.toISOString(),
    end: input.end.toISOString(),
    generatedAt: input.now.toISOString(),
    thresholds: [...input.thresholds],
    charts: charted.map(chartOf),
    account: chartOf(rowOf(input.account)),
    principals,
    byModel: [...models]
      .sort(([a, x], [b, y]) => y.cmp(x) || (a < b ? -1 : 1))
      .map(([model, spend]) => ({ model, spendUsd: toDecimalString(spend) })),
  };
}

/** Highest share of the limit first (a zero limit that was spent against first of all), then by name. */
function byShareOfLimit(a: PrincipalRow, b: PrincipalRow): number {
  const share = (row: PrincipalRow) => {
    if (row.percent !== null) return Number(row.percent);
    return row.limitUsd !== null && usd(row.spendUsd).gt(0) ? Number.MAX_VALUE : -1;
  };
  return share(b) - share(a) || (a.principal < b.principal ? -1 : 1);
}

/** Cumulative spend call by call, from 0 at the period's start. */
function seriesOf(calls: readonly ChargedCall[], start: Date): SeriesPoint[] {
  let total = ZERO;
  const points: SeriesPoint[] = [{ at: start.toISOString(), cumulativeUsd: '0' }];
  for (const call of calls) {
    total = total.plus(call.costUsd);
    points.push({ at: call.at, cumulativeUsd: toDecimalString(total) });
  }
  return points;
}
