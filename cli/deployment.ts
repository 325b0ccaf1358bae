import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BudgetStore } from '../shared/budgets';
import { type Usd, usd } from '../shared/money';
import { isPeriodKind, type PeriodKind } from '../shared/period';
import { output, type Target, TargetError } from './target';

/** The deployment's settings the admin commands need, from its stack outputs. */
export interface Deployment {
  readonly budgetsTable: string;
  readonly auditTable: string;
  readonly periodKind: PeriodKind;
  /** Further kinds a principal's limit may use; counters are kept for them too. */
  readonly extraPeriodKinds: readonly PeriodKind[];
  readonly thresholds: readonly number[];
  readonly configuredDefault: Usd;
  readonly configuredAccount: Usd;
  /** The account the stack is in (its unqualified principals'); absent for a stack without the AccountId output. */
  readonly accountId?: string;
}

export function deploymentOf(target: Target): Deployment {
  const periodKind = output(target, 'PeriodKind');
  if (!isPeriodKind(periodKind)) throw new TargetError(`the stack output PeriodKind is ${periodKind}`);
  let thresholds: unknown;
  try {
    thresholds = JSON.parse(output(target, 'Thresholds'));
  } catch (cause) {
    throw new TargetError('the stack output Thresholds is not JSON', { cause });
  }
  if (!Array.isArray(thresholds) || !thresholds.every((t) => Number.isSafeInteger(t))) {
    throw new TargetError('the stack output Thresholds is not a JSON array of whole percentages');
  }
  // Stacks deployed before extra period kinds existed have no such output: none then.
  const extra = JSON.parse(target.outputs.ExtraPeriodKinds ?? '[]') as unknown;
  if (!Array.isArray(extra) || !extra.every(isPeriodKind)) {
    throw new TargetError('the stack output ExtraPeriodKinds is not a JSON list of period kinds');
  }
  return {
    budgetsTable: output(target, 'BudgetsTableName'),
    auditTable: output(target, 'AuditTableName'),
    periodKind,
    extraPeriodKinds: extra,
    thresholds,
    configuredDefault: usd(output(target, 'DefaultBudgetUsd')),
    configuredAccount: usd(output(target, 'AccountBudgetUsd')),
    ...(target.outputs.AccountId ? { accountId: target.outputs.AccountId } : {}),
  };
}

export const budgetStoreFor = (documents: DynamoDBDocumentClient, deployment: Deployment) =>
  new BudgetStore(documents, deployment.budgetsTable, {
    configuredDefault: deployment.configuredDefault,
    configuredAccount: deployment.configuredAccount,
  });
