import { DEFAULT_PRINCIPAL } from '../shared/budgets';
import { shown } from '../shared/events/limits';
import {
  accountGroupName,
  accountMember,
  checkGroupName,
  checkMember,
  GroupError,
  parseGroupTag,
} from '../shared/groups/groups';
import { ACCOUNT_PRINCIPAL } from '../shared/identity';
import { MoneyError, parseLimitUsd, toDecimalString } from '../shared/money';
import { RATE_ACTIONS, type RateAction } from '../shared/rate/rules';
import { isPrincipalId, isPrincipalName } from './args';
import { InputFileError, parseJsonFile } from './json-file';

/** One principal's budget as `budget set` takes it: a limit, and optionally a rate rule (the burn-rate guard). */
export interface BudgetEntry {
  readonly usd: string;
  readonly maxUsdPerHour?: string;
  readonly onRate?: RateAction;
  readonly onAnomaly?: RateAction;
}

const ENTRY_FIELDS = ['usd', 'maxUsdPerHour', 'onRate', 'onAnomaly'];

/** One group as `group set` takes it: a limit and who is in it (ids or patterns, an IAM tag), and its owners. */
export interface GroupEntry {
  readonly usd: string;
  readonly members: readonly string[];
  readonly tag?: string;
  readonly owners: readonly string[];
}

/** A budgets file: the principals' limits, and the groups under its `groups` key. */
export interface BudgetsFile {
  readonly limits: Record<string, BudgetEntry>;
  readonly groups: Record<string, GroupEntry>;
}

const GROUP_FIELDS = ['usd', 'members', 'tag', 'owners'];
const ACCOUNT_KEY = /^account:\d{12}$/;
const GROUPS_KEY = 'groups';

/**
 * A `--budgets` file: one JSON object of principal id (or the user, role or session name it ends with), `default`
 * or `account` to a limit in USD, or to an object holding the limit and a rate rule:
 * `{"BedrockAPIKey-leak1": {"usd": "1000", "maxUsdPerHour": "5", "onRate": "suspend"}}`. Amounts are read by the
 * parser of `budget set` (shared/money's parseLimitUsd), so the file takes exactly what the command takes: a JSON
 * number is refused with a hint to quote it.
 */
export function parseBudgetsFile(text: string, file: string): Record<string, BudgetEntry> {
  return parseBudgets(parseJsonFile(text, file), file).limits;
}

/**
 * A budgets file's content (or the bundled budgets): principals' limits, and under `groups` each group's limit and
 * members: `{"groups": {"data-science": {"usd": "10", "members": ["user/ds-*"], "tag": "team=data-science"}}}`.
 */
export function parseBudgets(raw: unknown, file: string): BudgetsFile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputFileError(
      `${file}: --budgets must be a JSON object of principal (or name) to USD limit, e.g. {"alice": "5"}`,
    );
  }
  const { [GROUPS_KEY]: groups, ...principals } = raw as Record<string, unknown>;
  // In an organization deployment both name the deployment's total: two limits for it would be one silently lost.
  if ('account' in principals && 'organization' in principals) {
    throw new InputFileError(`${file}: "account" and "organization" both name the deployment's total: keep one`);
  }
  const accounts = Object.entries(principals).filter(([key]) => ACCOUNT_KEY.test(key));
  const limits = Object.fromEntries(
    Object.entries(principals)
      .filter(([key]) => !ACCOUNT_KEY.test(key))
      .map(([key, value]) => {
        // A key is checked as `budget set` checks its principal: what no principal can be is refused before a run.
        if (!['default', 'account', 'organization'].includes(key) && !isPrincipalId(key) && !isPrincipalName(key)) {
          throw new InputFileError(
            `${file}: ${shown(key)} is not a principal: use a principal id (user/<name>, role/<name>, ` +
              'role/<role>/<session>, federated-user/<name>, root, or <account>:<id> in an organization), the IAM ' +
              'name it ends with, default, account, organization or account:<12-digit id>',
          );
        }
        // In an organization deployment the deployment's total is the organization's.
        return [key === 'organization' ? 'account' : key, budgetEntryOf(value, `${file}: the limit for ${key}`)];
      }),
  );
  // `"account:<id>": "50"` is that account's budget: the group of every principal of the account.
  const accountGroups = Object.fromEntries(
    accounts.map(([key, value]) => {
      const account = key.slice('account:'.length);
      const entry: GroupEntry = {
        usd: budgetEntryOf(value, `${file}: the limit for ${key}`).usd,
        members: [accountMember(account)],
        owners: [],
      };
      return [accountGroupName(account), entry];
    }),
  );
  const named = groupsOf(groups, file);
  const clash = Object.keys(accountGroups).find((name) => name in named);
  if (clash) {
    throw new InputFileError(
      `${file}: group ${shown(clash)} is the budget of ${clash.replace('account-', 'account:')}: name it once`,
    );
  }
  return { limits, groups: { ...named, ...accountGroups } };
}

/** The `groups` object of a budgets file: group name to its limit and members, each checked as `group set` does. */
function groupsOf(raw: unknown, file: string): Record<string, GroupEntry> {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputFileError(`${file}: "groups" is an object of group name to {"usd", "members", "tag", "owners"}`);
  }
  return Object.fromEntries(
    Object.entries(raw).map(([name, value]) => {
      const where = `${file}: group ${shown(name)}`;
      const entry = (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as Record<
        string,
        unknown
      >;
      const unknown = Object.keys(entry).filter((field) => !GROUP_FIELDS.includes(field));
      if (unknown.length > 0 || entry.usd === undefined) {
        throw new InputFileError(
          `${where}: an object holds "usd" and may hold "members", "tag" and "owners"` +
            (unknown.length > 0 ? `, not ${unknown.map(shown).join(', ')}` : ''),
        );
      }
      const list = (field: 'members' | 'owners') => {
        const items = entry[field] ?? [];
        if (!Array.isArray(items) || !items.every((item) => typeof item === 'string')) {
          throw new InputFileError(`${where}: ${field} is a list of strings`);
        }
        return items as string[];
      };
      try {
        checkGroupName(name);
        const members = list('members').map(checkMember);
        if (entry.tag !== undefined) parseGroupTag(entry.tag);
        if (members.length === 0 && entry.tag === undefined) throw new GroupError('it has no members nor a tag');
        return [
          name,
          {
            usd: budgetEntryOf(entry.usd, `${where}: the limit`).usd,
            members,
            ...(entry.tag === undefined ? {} : { tag: String(entry.tag) }),
            owners: list('owners'),
          },
        ];
      } catch (error) {
        if (!(error instanceof GroupError)) throw error;
        throw new InputFileError(`${where}: ${error.message}`, { cause: error });
      }
    }),
  );
}

/** A budgets file's value: a limit string, or an object of the limit (`usd`) and a rate rule. */
function budgetEntryOf(value: unknown, where: string): BudgetEntry {
  const amount = (text: unknown, what: string) => {
    try {
      return toDecimalString(parseLimitUsd(text));
    } catch (error) {
      if (!(error instanceof MoneyError)) throw error;
      throw new InputFileError(`${where}${what}: ${error.message}`, { cause: error });
    }
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { usd: amount(value, '') };
  const entry = value as Record<string, unknown>;
  const unknown = Object.keys(entry).filter((name) => !ENTRY_FIELDS.includes(name));
  if (unknown.length > 0 || entry.usd === undefined) {
    throw new InputFileError(
      `${where}: an object holds "usd" and may hold "maxUsdPerHour", "onRate" and "onAnomaly"` +
        (unknown.length > 0 ? `, not ${unknown.map(shown).join(', ')}` : ''),
    );
  }
  for (const field of ['onRate', 'onAnomaly'] as const) {
    if (entry[field] !== undefined && !(RATE_ACTIONS as readonly unknown[]).includes(entry[field])) {
      throw new InputFileError(`${where}: ${field} is ${RATE_ACTIONS.map((a) => `"${a}"`).join(' or ')}`);
    }
    if (entry[field] !== undefined && entry.maxUsdPerHour === undefined) {
      throw new InputFileError(`${where}: ${field} needs maxUsdPerHour: the guard judges principals with a rule`);
    }
  }
  return {
    usd: amount(entry.usd, ''),
    ...(entry.maxUsdPerHour === undefined ? {} : { maxUsdPerHour: amount(entry.maxUsdPerHour, ' (maxUsdPerHour)') }),
    ...(entry.onRate === undefined ? {} : { onRate: entry.onRate as RateAction }),
    ...(entry.onAnomaly === undefined ? {} : { onAnomaly: entry.onAnomaly as RateAction }),
  };
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
