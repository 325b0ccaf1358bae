import { DEFAULT_PRINCIPAL } from '../shared/budgets';
import { shown } from '../shared/events/limits';
import { ACCOUNT_PRINCIPAL } from '../shared/identity';
import { MoneyError, parseLimitUsd, toDecimalString } from '../shared/money';
import { isPrincipalId, isPrincipalName } from './args';
import { InputFileError, parseJsonFile } from './json-file';

/**
 * A `--budgets` file: one JSON object of principal id (or the user, role or session name it ends with), `default`
 * or `account` to a limit in USD. Limits are read by the parser of `budget set` (shared/money's parseLimitUsd), so
 * the file takes exactly what the command takes: a JSON number is refused with a hint to quote it.
 */
export function parseBudgetsFile(text: string, file: string): Record<string, string> {
  const raw = parseJsonFile(text, file);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputFileError(
      `${file}: --budgets must be a JSON object of principal (or name) to USD limit, e.g. {"alice": "5"}`,
    );
  }
  return Object.fromEntries(
    Object.entries(raw).map(([key, value]) => {
      // A key is checked as `budget set` checks its principal: what no principal can be is refused before a run.
      if (!['default', 'account'].includes(key) && !isPrincipalId(key) && !isPrincipalName(key)) {
        throw new InputFileError(
          `${file}: ${shown(key)} is not a principal: use a principal id (user/<name>, role/<name>, ` +
            'role/<role>/<session>, federated-user/<name>, root), the IAM name it ends with, default or account',
        );
      }
      try {
        return [key, toDecimalString(parseLimitUsd(value))];
      } catch (error) {
        if (!(error instanceof MoneyError)) throw error;
        throw new InputFileError(`${file}: the limit for ${key}: ${error.message}`, { cause: error });
      }
    }),
  );
}

/**
 * The principal a budgets key (or a scenario action) names: a principal id, or the user, role or session name it
 * ends with. A principal id that no record of the scenario has is kept, as a deployment may budget a principal
 * before it spends, but a replay of a fixed file never sees it spend: that is most likely a typo, so `warn` says so.
 */
export function resolveBudgetKey(
  key: string,
  principals: readonly string[],
  warn: (message: string) => void = (message) => process.stderr.write(`budgeteer: warning: ${message}\n`),
): string {
  if (key === 'default') return DEFAULT_PRINCIPAL;
  if (key === 'account') return ACCOUNT_PRINCIPAL;
  if (key.includes('/') || key === 'root') {
    if (!principals.includes(key)) {
      warn(`${key} is no principal of the scenario: its limit is set, but nothing in this replay spends against it`);
    }
    return key;
  }
  const matches = principals.filter((p) => p.endsWith(`/${key}`));
  if (matches.length === 1) return matches[0] as string;
  if (matches.length === 0) throw new Error(`--budgets: no principal in the scenario is named ${key}`);
  throw new Error(`--budgets: ${key} is ambiguous (${matches.join(', ')}); use the full principal id`);
}
