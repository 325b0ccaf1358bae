import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Command } from 'commander';
import { AuditLog } from '../shared/audit/log';
import { periodEndOfKey, periodStartOfKey } from '../shared/period';
import { renderReport } from '../shared/report/html';
import { chargedCalls, markedEvents } from '../shared/report/read';
import { buildReport, type SpendReport } from '../shared/report/report';
import { CommandError, parsePrincipal } from './args';
import { budgetStoreFor, deploymentOf } from './deployment';
import { budgetStatus, UnknownPrincipalError } from './status';
import { output, type Target, type TargetOptions, targetOptions, withDocuments } from './target';

/**
 * The spend report of a period, from the deployment's own tables: each principal's standing (as `status`), the
 * calls charged in the period (the Usage table, for the line of spend over time and spend by model) and the audit
 * entries that mark the charts. Reading the calls scans the Usage table: meant for a person's report, not a loop.
 */
export async function spendReportOf(
  documents: DynamoDBDocumentClient,
  target: Target,
  options: { period?: string; principal?: string; top?: number } = {},
  now: Date = new Date(),
): Promise<SpendReport> {
  const deployment = deploymentOf(target);
  const store = budgetStoreFor(documents, deployment);
  const status = await budgetStatus(store, deployment, { ...(options.period ? { period: options.period } : {}) }, now);
  let rows = status.principals;
  if (options.principal !== undefined && !rows.some((row) => row.principal === options.principal)) {
    // Known without spend (a limit of its own), or unknown: `status` says which, in its words.
    const one = await budgetStatus(store, deployment, { period: status.period, principal: options.principal }, now);
    rows = [...rows, ...one.principals];
  }
  const start = periodStartOfKey(status.period);
  const end = periodEndOfKey(status.period);
  if (!start || !end) {
    throw new CommandError(
      `${status.period} is not a month, week or day: a report covers one (a prepaid TOTAL has no end; see status)`,
    );
  }
  const until = new Date(Math.min(end.getTime() - 1, now.getTime()));
  const [calls, events] = await Promise.all([
    chargedCalls(documents, output(target, 'UsageTableName'), start, end),
    until < start ? Promise.resolve([]) : markedEvents(new AuditLog(documents, deployment.auditTable), start, until),
  ]);
  return buildReport({
    period: status.period,
    start,
    end,
    now,
    thresholds: deployment.thresholds,
    rows,
    account: status.account,
    calls,
    events,
    ...(options.principal ? { principal: options.principal } : {}),
    ...(options.top ? { top: options.top } : {}),
  });
}

/** Writes the report's page, creating its folder; returns the absolute path. */
export function writeReport(file: string, report: SpendReport): string {
  const path = resolve(file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, renderReport(report));
  return path;
}

type ReportOptions = TargetOptions & {
  period?: string;
  principal?: string;
  html?: string;
  json?: boolean;
  top?: string;
};

/** `report`: one self-contained HTML page with charts of a period's spend. */
export function registerReportCommand(program: Command): void {
  targetOptions(
    program
      .command('report')
      .description(
        'write one self-contained HTML page (inline SVG, no external assets) with spend over the period per principal ' +
          'against its limit, the events that marked it, the share of each limit and spend by model',
      )
      .option('--html <file>', 'the page to write')
      .option('--json', 'print the report data as JSON (amounts as decimal strings)')
      .option('--period <key>', 'a past period, e.g. 2026-10 (default: the current one)')
      .option('--principal <id>', 'chart only this principal (the tables keep everyone)', parsePrincipal)
      .option('--top <n>', 'how many principals to chart, highest share of the limit first (default 6)'),
  ).action(async (options: ReportOptions) => {
    if (!options.html && !options.json) throw new CommandError('report needs --html <file> (or --json)');
    const top = options.top === undefined ? undefined : Number(options.top);
    if (top !== undefined && !(Number.isSafeInteger(top) && top >= 1 && top <= 100)) {
      throw new CommandError(`--top ${options.top} is not a whole number from 1 to 100`);
    }
    await withDocuments(options, async (documents, target) => {
      try {
        const report = await spendReportOf(documents, target, {
          ...(options.period ? { period: options.period } : {}),
          ...(options.principal ? { principal: options.principal } : {}),
          ...(top ? { top } : {}),
        });
        if (options.html) {
          const path = writeReport(options.html, report);
          process.stderr.write(`budgeteer: wrote the ${report.period} report to ${path}\n`);
        }
        if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } catch (error) {
        if (!(error instanceof UnknownPrincipalError)) throw error;
        process.stderr.write(`budgeteer: ${error.message}\n`);
        process.exitCode = 1;
      }
    });
  });
}
