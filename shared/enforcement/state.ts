/**
 * Enforcement state on a Budgets counter item, in one place: the evaluator, the workflows' function, the CLI and the
 * local summary read and write these names and nothing else.
 */
export const PRINCIPAL_STATES = ['active', 'suspended'] as const;
export const ACCOUNT_STATES = ['active', 'stopped'] as const;
export type PrincipalState = (typeof PRINCIPAL_STATES)[number];
export type AccountState = (typeof ACCOUNT_STATES)[number];

/** Attribute names on a counter item. */
export const ENFORCEMENT_ATTRIBUTES = {
  state: 'state',
  /** The suspension in force (principal) or the stop in force (account): a `Suspension`. */
  suspension: 'suspension',
  /** The decisions' generation: a limit change or a lift starts a new one and re-arms the thresholds. */
  generation: 'generation',
  /** What started the current generation: `limit-changed`, `lift`, `resume`. */
  generationCause: 'generationCause',
  /** The limit the current generation is judged against. */
  generationLimitUsd: 'generationLimitUsd',
  /** Set by `lift`: allowed until the period ends, whatever the spend (a `Lift`). */
  lifted: 'lifted',
  /** The generation in which a lift or a raise asked the suspension (or stop) in force to end. */
  endWaitGeneration: 'endWaitGeneration',
  /** The holder of an emergency stop that denied this principal. */
  stopDenied: 'stopDenied',
} as const;

export interface Suspension {
  /** Names the deny's hold: `suspend:<execution name>` or `stop:<execution name>`. */
  readonly holder: string;
  readonly executionArn: string;
  readonly since: string;
  /** `budget`, `emergency-stop`, or the account's stop reason. */
  readonly reason: string;
  readonly generation: number;
  readonly decisionId: string;
  /** The pending decision that can end it (`budgeteer override <id>`), once the workflow waits. */
  readonly waitId?: string;
}

export interface Lift {
  readonly by: string;
  readonly at: string;
  readonly reason: string;
}

/** Who holds a deny, by workflow: an execution name fits Step Functions' 80 characters. */
export const suspendHolder = (executionName: string) => `suspend:${executionName}`;
export const stopHolder = (executionName: string) => `stop:${executionName}`;
