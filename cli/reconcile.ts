import type { Command } from 'commander';
import type { IdentityRules } from '../shared/identity';
import { MoneyError, parseLimitUsd, type Usd } from '../shared/money';
import { fetchDayBill, parsePrincipalGroup, savedCostAndUsage } from '../shared/reconcile/cost-explorer';
import { reconcileDay } from '../shared/reconcile/day';
import {
  type Bill,
  billFromCostExplorer,
  billFromFile,
  checkDay,
  drifted,
  ReconcileError,
  type Reconciliation,
} from '../shared/reconcile/reconcile';
import { CommandError } from './args';
import { deploymentOf } from './deployment';
import { readInput } from './documents';
import { alignedTable } from './format';
import { output, type Target, TargetError, type TargetOptions, targetOptions, withDocuments } from './target';

/**
 * The deployment's per-session role patterns (its PerSessionRoles output) and, for an organization's, its own
 * account, so the bill's ARNs are named as ingest named the calls; a stack from before that output has the default.
 */
export function identityRulesOf(target: Target): IdentityRules {
  // An organization's deployment keys other accounts' principals by account (its AccountId output is its own).
  const { OrganizationId: organization, AccountId: home } = target.outputs;
  const organizationRules = organization && home ? { homeAccount: home } : {};
  const raw = target.outputs.PerSessionRoles;
  if (raw === undefined) return { perSessionRoles: ['AWSReservedSSO_*'], ...organizationRules };
  const patterns = JSON.parse(raw) as unknown;
  if (!Array.isArray(patterns) || !patterns.every((p) => typeof p === 'string')) {
    throw new TargetError('the stack output PerSessionRoles is not a JSON list of role name patterns');
  }
  return { perSessionRoles: patterns, ...organizationRules };
}

/** A principal's line, then one indented line per model (`-` where the bill names no model to meet it with). */
export function formatReconciliation(reconciliation: Reconciliation, tolerance: Usd): string {
  const over = new Set(drifted(reconciliation, tolerance).map((p) => p.principal));
  const rows = reconciliation.principals.flatMap((p) => [
    [p.principal, p.meteredUsd, p.billedUsd, p.differenceUsd, over.has(p.principal) ? 'drift' : ''],
    ...p.models.map((m) => [
      `  ${m.model ?? `(no model: billed as ${m.billedAs ?? 'nothing named'})`}`,
      m.meteredUsd ?? '-',
      m.billedUsd ?? '-',
      m.differenceUsd ?? '-',
      '',
    ]),
  ]);
  const unattributed = reconciliation.principals.filter((p) => !p.modelsAttributed).map((p) => p.principal);
  return (
    `${reconciliation.date}: metered against billed per principal and model (USD), tolerance ${tolerance.toFixed()}\n` +
    (rows.length === 0
      ? 'nothing metered or billed that day\n'
      : alignedTable(['principal / model', 'metered', 'billed', 'difference', ''], rows, [1, 2, 3])) +
    (unattributed.length === 0
      ? ''
      : `The bill names no model for some cost of ${unattributed.join(', ')}: their models are not met (-).\n`)
  );
}

type ReconcileOptions = TargetOptions & {
  date: string;
  from?: string;
  group?: string;
  tolerance: string;
  json?: boolean;
};

/**
 * The bill of `date` without a file: the local stack's saved Cost Explorer answer (local/cost-explorer), or
 * Cost Explorer itself with the caller's credentials (`ce:GetCostAndUsage`), grouped by `--group` or the
 * deployment's `reconcilePrincipalGroup` (its ReconcilePrincipalGroup output).
 */
export async function billOfDay(target: Target, date: string, group: string | undefined): Promise<Bill> {
  if (target.clientConfig.endpoint) return billFromCostExplorer(savedCostAndUsage(), date);
  const text = group ?? target.outputs.ReconcilePrincipalGroup;
  if (!text) {
    throw new CommandError(
      'give the bill with --from FILE (a CUR 2.0 CSV export or a saved Cost Explorer answer), or the Cost ' +
        'Explorer group that holds principal ARNs with --group TAG:<key> (or deploy with reconcilePrincipalGroup)',
    );
  }
  try {
    return billFromCostExplorer(await fetchDayBill(date, parsePrincipalGroup(text)), date);
  } catch (error) {
    if (error instanceof ReconcileError) throw new CommandError(`Cost Explorer: ${error.message}`);
    throw error;
  }
}

/** `reconcile --date D [--from FILE]`. */
export function registerReconcileCommand(program: Command): void {
  targetOptions(
    program
      .command('reconcile')
      .description(
        "compare each principal's metered spend for a UTC day with what AWS billed for it (CUR 2.0 CSV with IAM " +
          'principal data, or a saved Cost Explorer answer); exits 1 when a difference is above the tolerance',
      )
      .requiredOption('--date <day>', 'the UTC day, 2026-11-30')
      .option(
        '--from <file>',
        'a CUR 2.0 export in CSV (columns line_item_usage_start_date, line_item_product_code, ' +
          'line_item_iam_principal, line_item_unblended_cost; product_product_name or product_model name the ' +
          'model) or a GetCostAndUsage answer in JSON; without it, Cost Explorer is asked (locally, the saved answer)',
      )
      .option(
        '--group <group>',
        'without --from: the Cost Explorer group holding principal ARNs, TAG:<key>, DIMENSION:<key> or ' +
          "COST_CATEGORY:<key> (default: the deployment's reconcilePrincipalGroup)",
      )
      .option('--tolerance <usd>', 'how far metered may be from billed before it counts as drift', '0.01')
      .option(
        '--json',
        'print {"date", "principals": [{principal, principalArn, meteredUsd, billedUsd, differenceUsd, ' +
          'modelsAttributed, models: [{model, billedAs, meteredUsd, billedUsd, differenceUsd}]}]}',
      ),
  ).action(async (options: ReconcileOptions) => {
    let tolerance: Usd;
    try {
      tolerance = parseLimitUsd(options.tolerance);
    } catch (error) {
      if (error instanceof MoneyError) throw new CommandError(`--tolerance: ${error.message}`);
      throw error;
    }
    let bill: Bill | undefined;
    try {
      checkDay(options.date);
      if (options.from) bill = billFromFile(readInput(options.from), options.date);
    } catch (error) {
      if (error instanceof ReconcileError || error instanceof SyntaxError) {
        throw new CommandError(`${options.from ?? '--date'}: ${(error as Error).message}`);
      }
      throw error;
    }
    await withDocuments(options, async (documents, target) => {
      const deployment = deploymentOf(target);
      const keepsDaily = [deployment.periodKind, ...deployment.extraPeriodKinds].includes('daily');
      const result = await reconcileDay(
        documents,
        {
          usageTable: output(target, 'UsageTableName'),
          ...(keepsDaily ? { dailyCounters: { budgetsTable: output(target, 'BudgetsTableName') } } : {}),
        },
        options.date,
        bill ?? (await billOfDay(target, options.date, options.group)),
        identityRulesOf(target),
      );
      process.stdout.write(
        options.json ? `${JSON.stringify(result, null, 2)}\n` : formatReconciliation(result, tolerance),
      );
      if (drifted(result, tolerance).length > 0) process.exitCode = 1;
    });
  });
}
