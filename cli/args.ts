import { userInfo } from 'node:os';
import { InvalidArgumentError } from 'commander';
import { LOCAL_ACCOUNT_ID } from '../local/aws';
import { prepareEntry } from '../shared/audit/entry';
import { DEFAULT_PRINCIPAL } from '../shared/budgets';
import { ACCOUNT_PRINCIPAL } from '../shared/identity';
import { MoneyError, parseLimitUsd, type Usd } from '../shared/money';

/** The exit code of a command used wrongly (a bad argument, option or value), as commander's own errors too. */
export const USAGE_EXIT_CODE = 2;

/** Where the admin's identity comes from when --actor is not given. */
export const ACTOR_ENV = 'BUDGETEER_ACTOR';

/** A command that cannot do what was asked: main prints the message and exits 2. */
export class CommandError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CommandError';
  }
}

// IAM user, role and session names (see shared/identity.ts for how ids are made from ARNs).
const NAME = '[\\w+=,.@-]{1,64}';
const PRINCIPAL_ID = new RegExp(`^(?:(?:user|role|federated-user)/${NAME}|role/${NAME}/${NAME}|root)$`);

/** The Budgets key a command-line principal names: a principal id, or `default` / `account`. */
export function parsePrincipal(text: string): string {
  const word = text.toLowerCase();
  if (word === 'default') return DEFAULT_PRINCIPAL;
  if (word === 'account') return ACCOUNT_PRINCIPAL;
  if (PRINCIPAL_ID.test(text)) return text;
  throw new InvalidArgumentError(
    `${JSON.stringify(text)} is not a principal id: use user/<name>, role/<name>, role/<role>/<session> ` +
      '(per-session roles such as AWSReservedSSO_*), federated-user/<name>, root, default or account',
  );
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

/**
 * Who acts: `--actor`, else $BUDGETEER_ACTOR, else (on the local stack only, which has no real identities) a local
 * IAM user named after the OS user. In AWS the CLI does not look the caller up (it has no STS client), so the admin
 * states their ARN. It must be what the audit log accepts: a principal ARN (or `system:<name>`).
 */
export function resolveActor(
  options: { actor?: string; local?: boolean },
  env: Record<string, string | undefined> = process.env,
  osUser: () => string = () => userInfo().username,
): string {
  const actor =
    options.actor ??
    (env[ACTOR_ENV] || undefined) ??
    (options.local ? `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/${osUser().replace(/[^\w+=,.@-]/g, '-')}` : undefined);
  if (actor === undefined) {
    throw new CommandError(
      `who is setting this limit? Pass --actor <your principal ARN> or set ${ACTOR_ENV}, e.g. ` +
        '--actor "$(aws sts get-caller-identity --query Arn --output text)"',
    );
  }
  try {
    prepareEntry({ subject: DEFAULT_PRINCIPAL, actor, action: 'budget.limit-set' });
  } catch (cause) {
    throw new CommandError(
      `--actor / ${ACTOR_ENV} must be a principal ARN (arn:aws:iam::<account>:user/<name>, ` +
        `arn:aws:sts::<account>:assumed-role/<role>/<session>) or system:<name>, not ${JSON.stringify(actor)}`,
      { cause },
    );
  }
  return actor;
}
