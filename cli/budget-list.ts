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
  readonly limits: readonly {
    principal: string;
    limitUsd: string;
    /** The burn-rate guard's rule stored with the limit (USD per rolling hour as a decimal string). */
    rate?: { maxUsdPerHour: string; onRate: string; onAnomaly?: string };
    setBy?: string;
    setAt?: string;
  }[];
}

export async function listBudgetLimits(store: BudgetStore, deployment: Deployment): Promise<LimitList> {
  const limits = await store.listLimits();
  return {
    periodKind: deployment.periodKind,
    configured: {
      defaultUsd: toDecimalString(deployment.configuredDefault),
      accountUsd: toDecimalString(deployment.configuredAccount),
    },
    limits: limits.map(({ rate, ...limit }) => ({
      ...limit,
      limitUsd: toDecimalString(limit.limitUsd),
      ...(rate ? { rate: { ...rate, maxUsdPerHour: toDecimalString(rate.maxUsdPerHour) } } : {}),
    })),
  };
}

export function formatLimits(list: LimitList): string {
  // The rate column only where some limit carries a rule (the burn-rate guard).
  const rated = list.limits.some((l) => l.rate);
  const rateOf = (rate: LimitList['limits'][number]['rate']) =>
    rate
      ? `${dollars(usd(rate.maxUsdPerHour))}/h ${rate.onRate}${rate.onAnomaly === 'suspend' ? ', anomaly suspend' : ''}`
      : '';
  const rows = list.limits.map((l) => [
    l.principal,
    limitMeaning(l.limitUsd),
    ...(rated ? [rateOf(l.rate)] : []),
    l.setBy ?? '',
    l.setAt ?? '',
  ]);
  const table =
    rows.length === 0
      ? 'no limits set: every principal has the default\n'
      : alignedTable(['principal', 'limit', ...(rated ? ['rate rule'] : []), 'set by', 'set at'], rows, [1]);
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
