import { InvalidArgumentError } from 'commander';
import { DEFAULT_PRINCIPAL } from '../shared/budgets';
import { ACCOUNT_PRINCIPAL } from '../shared/identity';
import { MoneyError, parseLimitUsd, type Usd } from '../shared/money';

/** The exit code of a command used wrongly (a bad argument, option or value), as commander's own errors too. */
export const USAGE_EXIT_CODE = 2;

/** A command that cannot do what was asked: main prints the message and exits 2. */
export class CommandError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CommandError';
  }
}

// IAM user, role and session names (see shared/identity.ts for how ids are made from ARNs).
const NAME = '[\\w+=,.@-]{1,64}';
// In an organization deployment, a principal of another account than the deployment's own is qualified by it.
const PRINCIPAL_ID = new RegExp(`^(?:\\d{12}:)?(?:(?:user|role|federated-user)/${NAME}|role/${NAME}/${NAME}|root)$`);
const ACCOUNT_BUDGET = /^account:(\d{12})$/;

/**
 * Whether `text` is a principal id as the system makes them from ARNs (`user/alice`, `role/app/session`, `root`;
 * `222233334444:user/alice` for another account of an organization).
 */
export const isPrincipalId = (text: string): boolean => PRINCIPAL_ID.test(text);
/** Whether `text` is an IAM user, role or session name, which a budgets file may name a principal by. */
export const isPrincipalName = (text: string): boolean => new RegExp(`^${NAME}$`).test(text);

/**
 * The Budgets key a command-line principal names: a principal id, or `default` / `account` (in an organization
 * deployment the deployment's total is the organization's, so `organization` names it too).
 */
export function parsePrincipal(text: string): string {
  const word = text.toLowerCase();
  if (word === 'default') return DEFAULT_PRINCIPAL;
  if (word === 'account' || word === 'organization') return ACCOUNT_PRINCIPAL;
  if (isPrincipalId(text)) return text;
  const account = ACCOUNT_BUDGET.exec(text)?.[1];
  if (account) {
    throw new InvalidArgumentError(
      `an account's budget is a group of the account: budgeteer group set account-${account} --member account:${account} --limit <usd>`,
    );
  }
  throw new InvalidArgumentError(
    `${JSON.stringify(text)} is not a principal id: use user/<name>, role/<name>, role/<role>/<session> ` +
      '(per-session roles such as AWSReservedSSO_*), federated-user/<name>, root (each as <account>:… for ' +
      'another account of an organization), default, account or organization',
  );
}

/** An AWS account id as typed on the command line (`--account`). */
export function parseAccountId(text: string): string {
  if (!/^\d{12}$/.test(text))
    throw new InvalidArgumentError(`${JSON.stringify(text)} is not an AWS account id (12 digits)`);
  return text;
}

/** A limit in USD as typed on the command line, by the one parser of limits (shared/money). */
export function parseLimitArgument(text: string): Usd {
  try {
    return parseLimitUsd(text);
  } catch (error) {
    if (error instanceof MoneyError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}
