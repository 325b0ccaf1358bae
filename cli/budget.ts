import type { Command } from 'commander';
import { registerBudgetList } from './budget-list';
import { registerBudgetSet } from './budget-set';

/** `budget set` and `budget list`: the limits in the Budgets table. */
export function registerBudgetCommands(program: Command): void {
  const budget = program.command('budget').description('set and list budget limits (the Budgets table)');
  registerBudgetSet(budget);
  registerBudgetList(budget);
}
