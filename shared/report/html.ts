import type Big from 'big.js';
import { escapeHtml as esc } from '../html';
import { formatUsd, percentOf, usd, ZERO } from '../money';
import type { PrincipalChart, PrincipalRow, ReportMarker, SpendReport } from './report';

/**
 * The spend report as one self-contained HTML page: inline SVG charts, one inline style sheet, no script, no
 * external asset. Under every chart a table holds the same numbers, so the page reads without the pictures (screen
 * readers, print, a mail client that strips SVG).
 */
export function renderReport(report: SpendReport): string {
  const title = `Bedrock spend, ${report.period}`;
  const window = timeWindow(report);
  const sections = [
    accountSection(report, window),
    chartsSection(report, window),
    topSection(report),
    modelSection(report),
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${esc(title)}</h1>
<p class="meta">${esc(day(report.start))} to ${esc(day(lastDay(report.end)))} (UTC) · generated ${esc(
    report.generatedAt.replace('T', ' ').slice(0, 16),
  )} UTC · alerts at ${report.thresholds.map((t) => `${t}%`).join(', ')}</p>
</header>
<main>
${sections.join('\n')}
</main>
</body>
</html>
`;
}

const STYLE = `
:root{--ink:#1d2733;--muted:#5b6775;--line:#d5dbe2;--bg:#fff;--spend:#1f5fbf;--limit:#b3261e;--warn:#b26a00;--ok:#1e7a3c}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
header,main{max-width:760px;margin:0 auto;padding:0 16px}
header{padding-top:20px}
h1{font-size:1.5rem;margin:0 0 4px}
h2{font-size:1.2rem;margin:28px 0 6px}
h3{font-size:1.05rem;margin:22px 0 4px;overflow-wrap:anywhere}
.meta,.note{color:var(--muted);font-size:.9rem;margin:0 0 8px}
section{border-top:1px solid var(--line);padding-bottom:8px}
svg{display:block;width:100%;height:auto;margin:6px 0;overflow:hidden}
svg text{font:13px system-ui,sans-serif;fill:var(--muted)}
.grid{stroke:var(--line);stroke-width:1}
.spend{fill:none;stroke:var(--spend);stroke-width:2.5}
.threshold{stroke:var(--warn);stroke-width:1;stroke-dasharray:4 3}
.limit{stroke:var(--limit);stroke-width:1.5;stroke-dasharray:6 3}
.bar{fill:var(--spend)}
.bar.over{fill:var(--limit)}
.m-alert{fill:var(--warn)}
.m-deny{fill:var(--limit)}
.m-lift{fill:var(--ok)}
.m-other{fill:var(--spend)}
.table{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:6px 0 4px}
caption{text-align:left;color:var(--muted);font-size:.85rem;padding:2px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);white-space:nowrap}
td.wrap{white-space:normal;overflow-wrap:anywhere;min-width:7em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
details summary{cursor:pointer;color:var(--muted);font-size:.9rem}
@media (max-width:600px){svg text{font-size:20px}body{font-size:14px}th,td{padding:4px 5px}}
`;

const WIDTH = 640;
const HEIGHT = 240;
const PAD = { left: 70, right: 56, top: 14, bottom: 30 };

function accountSection(report: SpendReport, window: TimeWindow): string {
  const account = report.account;
  return `<section aria-labelledby="account">
<h2 id="account">Account</h2>
${standing(account)}
${lineChart(report, account, window)}
${windowNote(window, report)}
${eventsTable(account)}
${dailyTable(account)}
</section>`;
}

function chartsSection(report: SpendReport, window: TimeWindow): string {
  const heading = report.charts.length === 1 ? 'Principal' : 'Top principals over the period';
  const none = report.charts.length === 0 ? '<p class="note">No principal spent in this period.</p>' : '';
  return `<section aria-labelledby="principals">
<h2 id="principals">${heading}</h2>
${none}${report.charts.map((chart) => principalChart(report, chart, window)).join('\n')}
</section>`;
}

function principalChart(report: SpendReport, chart: PrincipalChart, window: TimeWindow): string {
  return `<article>
<h3>${esc(chart.principal)}</h3>
${standing(chart)}
${lineChart(report, chart, window)}
${eventsTable(chart)}
${dailyTable(chart)}
</article>`;
}

/** How a row's use of its limit reads: a percent, a zero limit, or none of the period's kind. */
const usedText = (row: PrincipalRow, long = false): string => {
  if (row.percent !== null) return long ? `${row.percent}% of the limit` : `${row.percent}%`;
  if (row.limitUsd === null) return long ? "no limit of this period's kind" : 'no limit';
  return long ? 'a zero limit: no spend allowed' : 'zero limit';
};

function standing(row: PrincipalChart): string {
  const share = usedText(row, true);
  const limit = row.limitUsd === null ? '' : ` of ${esc(dollars(row.limitUsd))}`;
  const recorded =
    row.recordedUsd === undefined
      ? ''
      : `<p class="note">The chart adds up the calls on record: ${esc(dollars(row.recordedUsd))}; the counter holds ${esc(
          dollars(row.spendUsd),
        )} (records kept past their retention are gone, or were counted before this report's records).</p>`;
  return `<p>Spent <strong>${esc(dollars(row.spendUsd))}</strong>${limit} (${esc(share)}) · ${row.requests} call(s) · ${esc(
    row.state,
  )}</p>${recorded}`;
}

/**
 * The time the line charts span, the same for all of them: the period, or, when all activity of the period fits in
 * a twentieth of it (a replay of minutes, say), that activity with a margin, said in a note.
 */
interface TimeWindow {
  readonly from: number;
  readonly to: number;
  readonly zoomed: boolean;
}

function timeWindow(report: SpendReport): TimeWindow {
  const start = Date.parse(report.start);
  const end = Date.parse(report.end);
  const times = [
    ...report.account.series.slice(1).map((point) => Date.parse(point.at)),
    ...[report.account, ...report.charts].flatMap((chart) => chart.markers.map((marker) => Date.parse(marker.at))),
  ];
  if (times.length === 0) return { from: start, to: end, zoomed: false };
  const first = Math.min(...times);
  const last = Math.max(...times);
  if (last - first >= (end - start) / 20) return { from: start, to: end, zoomed: false };
  const margin = Math.max(60_000, (last - first) * 0.08);
  return { from: Math.max(start, first - margin), to: Math.min(end, last + margin), zoomed: true };
}

/** Cumulative spend as a step line over the window, the alert thresholds and the limit as lines, events as dots. */
function lineChart(report: SpendReport, chart: PrincipalChart, window: TimeWindow): string {
  const { from, to } = window;
  const limit = usd(chart.limitUsd ?? '0');
  const last = usd(chart.series.at(-1)?.cumulativeUsd ?? '0');
  const top = niceCeiling(maxOf([limit, last, usd(chart.spendUsd)]).times(1.08));
  const x = (at: string) => {
    const t = Math.min(to, Math.max(from, Date.parse(at)));
    return PAD.left + ((t - from) / (to - from)) * (WIDTH - PAD.left - PAD.right);
  };
  const y = (amount: Big) => HEIGHT - PAD.bottom - Number(amount.div(top)) * (HEIGHT - PAD.top - PAD.bottom);
  const steps: string[] = [];
  let previous = y(ZERO);
  for (const point of chart.series) {
    const px = x(point.at).toFixed(1);
    const py = y(usd(point.cumulativeUsd)).toFixed(1);
    steps.push(steps.length === 0 ? `M${px},${py}` : `L${px},${previous.toFixed(1)} L${px},${py}`);
    previous = Number(py);
  }
  const lastX = Math.min(x(report.generatedAt), x(new Date(to).toISOString()));
  if (steps.length > 0 && lastX > x(chart.series.at(-1)?.at ?? report.start)) {
    steps.push(`L${lastX.toFixed(1)},${previous.toFixed(1)}`);
  }
  let labelled = Number.NEGATIVE_INFINITY;
  const lines = limit.gt(0)
    ? [100, ...report.thresholds.filter((t) => t < 100).sort((a, b) => b - a)].map((t) => {
        const ly = y(limit.times(t).div(100));
        // Thresholds close together share one label: the highest.
        const label =
          ly - labelled >= 18
            ? `<text class="axis" x="${WIDTH - PAD.right + 4}" y="${(ly + 5).toFixed(1)}">${t}%</text>`
            : '';
        if (label) labelled = ly;
        return `<line class="${t === 100 ? 'limit' : 'threshold'}" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${ly.toFixed(
          1,
        )}" y2="${ly.toFixed(1)}"/>${label}`;
      })
    : [];
  const markers = chart.markers.map((marker, index) => {
    const mx = x(marker.at);
    const my = y(spendAt(chart, marker.at));
    return `<circle class="${markerClass(marker)}" cx="${mx.toFixed(1)}" cy="${my.toFixed(1)}" r="6"><title>${index + 1}. ${esc(
      marker.label,
    )}, ${esc(time(marker.at))}</title></circle>`;
  });
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const amount = top.times(f);
    const ty = y(amount).toFixed(1);
    return `<line class="grid" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${ty}" y2="${ty}"/><text class="axis" x="${
      PAD.left - 6
    }" y="${Number(ty) + 5}" text-anchor="end">${esc(shortDollars(amount))}</text>`;
  });
  const xTicks = timeTicks(from, to).map(({ at, label }) => {
    const tx = x(new Date(at).toISOString()).toFixed(1);
    return `<text class="axis" x="${tx}" y="${HEIGHT - 6}" text-anchor="middle">${esc(label)}</text>`;
  });
  const against = chart.limitUsd === null ? ', no limit of this kind' : ` of a ${dollars(chart.limitUsd)} limit`;
  const marked = chart.markers.length > 0 ? `, ${chart.markers.length} event(s) marked` : '';
  const label = `Cumulative spend of ${chart.principal} over ${report.period}: ${dollars(chart.spendUsd)}${against}${marked}. The same numbers are in the tables below.`;
  return `<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${esc(label)}">
${yTicks.join('')}${xTicks.join('')}${lines.join('')}<path class="spend" d="${steps.join(' ')}"/>${markers.join('')}
</svg>`;
}

/** A note under the first chart when the time axis shows the activity rather than the whole period. */
function windowNote(window: TimeWindow, report: SpendReport): string {
  if (!window.zoomed) return '';
  return `<p class="note">All activity of ${esc(report.period)} lies between ${esc(time(new Date(window.from).toISOString()))} and ${esc(
    time(new Date(window.to).toISOString()),
  )} UTC: the charts show that span, not the whole period.</p>`;
}

function eventsTable(chart: PrincipalChart): string {
  if (chart.markers.length === 0) return '';
  const rows = chart.markers.map(
    (marker, index) =>
      `<tr><td class="num">${index + 1}</td><td>${esc(time(marker.at))}</td><td class="wrap">${esc(marker.label)}</td><td class="num">${esc(
        dollars(spendAt(chart, marker.at)),
      )}</td></tr>`,
  );
  return `<div class="table"><table><caption>Events marked on the chart</caption>
<thead><tr><th class="num">#</th><th>when (UTC)</th><th>event</th><th class="num">spend then</th></tr></thead>
<tbody>${rows.join('')}</tbody></table></div>`;
}

/** The chart's line as numbers: spend per day and the running total, for the days with spend. */
function dailyTable(chart: PrincipalChart): string {
  const days = new Map<string, { spent: Big; total: Big }>();
  let previous = ZERO;
  for (const point of chart.series.slice(1)) {
    const total = usd(point.cumulativeUsd);
    const key = point.at.slice(0, 10);
    const entry = days.get(key) ?? { spent: ZERO, total };
    days.set(key, { spent: entry.spent.plus(total.minus(previous)), total });
    previous = total;
  }
  if (days.size === 0) return '<p class="note">No calls on record in this period.</p>';
  const rows = [...days].map(
    ([key, { spent, total }]) =>
      `<tr><td>${esc(key)}</td><td class="num">${esc(dollars(spent))}</td><td class="num">${esc(
        dollars(total),
      )}</td></tr>`,
  );
  return `<details><summary>Spend per day (${days.size} day(s))</summary><div class="table"><table><caption>Spend per day, UTC</caption>
<thead><tr><th>day</th><th class="num">spent</th><th class="num">running total</th></tr></thead>
<tbody>${rows.join('')}</tbody></table></div></details>`;
}

function topSection(report: SpendReport): string {
  if (report.principals.length === 0) return '';
  const rows = report.principals.slice(0, 20);
  const widest = maxOf([usd('100'), ...rows.map((row) => usd(row.percent ?? '0'))]);
  const chart = barChart(
    rows.map((row) => ({
      label: row.principal,
      // A spent zero limit shows full; no limit of the period's kind shows none.
      share: usd(row.percent ?? (row.limitUsd !== null && usd(row.spendUsd).gt(0) ? '100' : '0')).div(widest),
      value: usedText(row),
      over: row.percent === null ? row.limitUsd !== null && usd(row.spendUsd).gt(0) : usd(row.percent).gte(100),
    })),
    Number(usd('100').div(widest)),
    'Percent of its limit each principal has spent; the same numbers are in the table below.',
  );
  return `<section aria-labelledby="top">
<h2 id="top">Share of each limit</h2>
${chart}
${principalTable(report.principals)}
</section>`;
}

interface Bar {
  readonly label: string;
  /** The bar's length as a fraction of the longest possible. */
  readonly share: Big;
  readonly value: string;
  readonly over?: boolean;
}

/** Horizontal bars, each under its label (long principal names stay readable on a phone). */
function barChart(bars: readonly Bar[], mark: number | undefined, label: string): string {
  const row = 46;
  const span = WIDTH - 110;
  const height = bars.length * row + 8;
  const drawn = bars.map((bar, index) => {
    const top = 4 + index * row;
    const width = Math.max(1, Number(bar.share) * span);
    return `<text class="axis" x="0" y="${top + 16}">${esc(truncate(bar.label, 52))}</text><rect class="bar${
      bar.over ? ' over' : ''
    }" x="0" y="${top + 22}" width="${width.toFixed(1)}" height="16"/><text class="axis" x="${(width + 6).toFixed(1)}" y="${
      top + 36
    }">${esc(bar.value)}</text>`;
  });
  const line =
    mark === undefined
      ? ''
      : `<line class="limit" x1="${(mark * span).toFixed(1)}" x2="${(mark * span).toFixed(1)}" y1="0" y2="${height}"/>`;
  return `<svg viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${esc(label)}">${drawn.join('')}${line}</svg>`;
}

function principalTable(rows: readonly PrincipalRow[]): string {
  const body = rows.map(
    (row) =>
      `<tr><td class="wrap">${esc(row.principal)}</td><td class="num">${esc(dollars(row.spendUsd))}</td><td class="num">${esc(
        row.limitUsd === null ? '-' : dollars(row.limitUsd),
      )}</td><td class="num">${esc(usedText(row))}</td><td class="num">${
        row.requests
      }</td><td>${esc(row.state)}</td></tr>`,
  );
  return `<div class="table"><table><caption>Every principal that spent</caption>
<thead><tr><th>principal</th><th class="num">spend</th><th class="num">limit</th><th class="num">used</th><th class="num">calls</th><th>state</th></tr></thead>
<tbody>${body.join('')}</tbody></table></div>`;
}

function modelSection(report: SpendReport): string {
  if (report.byModel.length === 0) return '';
  const total = report.byModel.reduce((sum, model) => sum.plus(usd(model.spendUsd)), ZERO);
  const widest = usd(report.byModel[0]?.spendUsd ?? '0');
  const chart = barChart(
    report.byModel.map((model) => ({
      label: model.model,
      share: widest.gt(0) ? usd(model.spendUsd).div(widest) : ZERO,
      value: dollars(model.spendUsd),
    })),
    undefined,
    'Spend by model; the same numbers are in the table below.',
  );
  const rows = report.byModel.map(
    (model) =>
      `<tr><td class="wrap">${esc(model.model)}</td><td class="num">${esc(dollars(model.spendUsd))}</td><td class="num">${
        total.gt(0) ? `${percentOf(usd(model.spendUsd), total).toFixed(1)}%` : '-'
      }</td></tr>`,
  );
  return `<section aria-labelledby="models">
<h2 id="models">Spend by model</h2>
${chart}
<div class="table"><table><caption>Spend by model, calls on record</caption>
<thead><tr><th>model</th><th class="num">spend</th><th class="num">share</th></tr></thead>
<tbody>${rows.join('')}</tbody></table></div>
</section>`;
}

/** The cumulative spend at an instant: the last point at or before it. */
function spendAt(chart: PrincipalChart, at: string): Big {
  let spend = ZERO;
  for (const point of chart.series) {
    if (point.at > at) break;
    spend = usd(point.cumulativeUsd);
  }
  return spend;
}

function markerClass(marker: ReportMarker): string {
  if (marker.action === 'threshold.alerted' || marker.action === 'suspension.requested') return 'm-alert';
  if (marker.action === 'deny.applied' || marker.action === 'emergency-stop.started') return 'm-deny';
  if (marker.action === 'deny.lifted' || marker.action === 'emergency-stop.resumed') return 'm-lift';
  return 'm-other';
}

/** About five labelled instants on the time axis: days over a long span, times of day over a short one. */
function timeTicks(from: number, to: number): { at: number; label: string }[] {
  const span = to - from;
  const steps = [60_000, 300_000, 900_000, 3_600_000, 4 * 3_600_000, 86_400_000, 2 * 86_400_000, 7 * 86_400_000];
  const step = steps.find((candidate) => span / candidate <= 6) ?? 7 * 86_400_000;
  const ticks: { at: number; label: string }[] = [];
  for (let at = Math.ceil(from / step) * step; at <= to; at += step) {
    const iso = new Date(at).toISOString();
    ticks.push({ at, label: step >= 86_400_000 ? iso.slice(5, 10) : iso.slice(11, 16) });
  }
  return ticks;
}

/** A round amount at or above `amount`, so the axis reads 0, 25, 50, 75, 100 rather than 0, 27.3, ... */
function niceCeiling(amount: Big): Big {
  if (amount.lte(0)) return usd('1');
  const magnitude = usd('10').pow(Math.floor(Math.log10(Number(amount))));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    const candidate = magnitude.times(step);
    if (candidate.gte(amount)) return candidate;
  }
  return magnitude.times(10);
}

const maxOf = (amounts: Big[]): Big => amounts.reduce((max, amount) => (amount.gt(max) ? amount : max), ZERO);
const dollars = (amount: string | Big) => formatUsd(typeof amount === 'string' ? usd(amount) : amount, 2);
/** An axis label: whole dollars from $100, else as many places as it has, two at least ($0.375, $1.50). */
const shortDollars = (amount: Big) =>
  `$${amount.gte(100) ? amount.toFixed(0) : amount.toFixed(4).replace(/(\.\d\d\d*?)0+$/, '$1')}`;
const day = (iso: string) => iso.slice(0, 10);
const lastDay = (end: string) => new Date(Date.parse(end) - 1).toISOString();
const time = (iso: string) => iso.replace('T', ' ').slice(0, 16);
const truncate = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
