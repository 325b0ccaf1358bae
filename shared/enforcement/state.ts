/**
 * Enforcement state on a Budgets counter item. The names (states, attributes, the suspension and lift maps) belong to
 * shared/budgets/items.ts with every other kind of Budgets item; this module adds the deny holders' names.
 */
export {
  ACCOUNT_STATES,
  ENFORCEMENT_ATTRIBUTES,
  type Lift,
  PRINCIPAL_STATES,
  type Suspension,
} from '../budgets/items';

import type { ACCOUNT_STATES, PRINCIPAL_STATES } from '../budgets/items';

export type PrincipalState = (typeof PRINCIPAL_STATES)[number];
export type AccountState = (typeof ACCOUNT_STATES)[number];

/** Who holds a deny, by workflow: an execution name fits Step Functions' 80 characters. */
export const suspendHolder = (executionName: string) => `suspend:${executionName}`;
export const stopHolder = (executionName: string) => `stop:${executionName}`;
