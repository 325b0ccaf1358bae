import type { Command } from 'commander';
import { type BudgetStore, DEFAULT_PRINCIPAL } from '../shared/budgets';
import { ACCOUNT_PRINCIPAL } from '../shared/identity';
import { toDecimalString, usd } from '../shared/money';
import type { PeriodKind } from '../shared/period';
import { budgetStoreFor, type Deployment, deploymentOf } from './deployment';
import { alignedTable, dollars, limitMeaning, periodNoun } from './format';
import { type TargetOptions, targetOptions, withDocuments } from './target';

export interface LimitList {
  readonly periodKind: PeriodKind;
  readonly configured: { readonly defaultUsd: string; readonly accountUsd: string };
  readonly limits: readonly { principal: string; limitUsd: string; setBy?: string; setAt?: string }[];
}

export async function listBudgetLimits(store: BudgetStore, deployment: Deployment): Promise<LimitList> {
  const limits = await store.listLimits();
  return {
    periodKind: deployment.periodKind,
    configured: {
      defaultUsd: toDecimalString(deployment.configuredDefault),
      accountUsd: toDecimalString(deployment.configuredAccount),
    },
    limits: limits.map((limit) => ({ ...limit, limitUsd: toDecimalString(limit.limitUsd) })),
  };
}

export function formatLimits(list: LimitList): string {
  const rows = list.limits.map((l) => [l.principal, limitMeaning(l.limitUsd), l.setBy ?? '', l.setAt ?? '']);
  const table =
    rows.length === 0
      ? 'no limits set: every principal has the default\n'
      : alignedTable(['principal', 'limit', 'set by', 'set at'], rows, [1]);
  const per = periodNoun(list.periodKind);
  return (
    `${table}configured: ${dollars(usd(list.configured.defaultUsd))} per principal per ${per} unless ` +
    `${DEFAULT_PRINCIPAL} or the principal has a limit; ${dollars(usd(list.configured.accountUsd))} for the ` +
    `account unless ${ACCOUNT_PRINCIPAL} has one\n`
  );
}

/** `budget list`. */
export function registerBudgetList(budget: Command): void {
  targetOptions(
    budget
      .command('list')
      .description('list the limits set (principals, DEFAULT, ACCOUNT) and the configured defaults')
      .option('--json', 'print one JSON document, amounts as decimal strings'),
  ).action(async (options: TargetOptions & { json?: boolean }) => {
    await withDocuments(options, async (documents, target) => {
      const deployment = deploymentOf(target);
      const list = await listBudgetLimits(budgetStoreFor(documents, deployment), deployment);
      process.stdout.write(options.json ? `${JSON.stringify(list, null, 2)}\n` : formatLimits(list));
    });
  });
}
