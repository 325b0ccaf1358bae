import type { Node } from 'constructs';
import * as z from 'zod';
import { limitUsdText } from '../shared/money';
import { PERIOD_KINDS, type PeriodKind, RESETTING_PERIOD_KINDS } from '../shared/period';
import type { SlackChannel, TeamsChannel } from './constructs/chat';

/** Deployment settings, from CDK context (`cdk deploy -c defaultBudgetUsd=50`); defaults live in cdk.json. */
export interface BudgeteerConfig {
  readonly defaultBudgetUsd: string;
  readonly accountBudgetUsd: string;
  readonly period: PeriodKind;
  /** Further period kinds a principal's limit may use (`budget set --period`); ingest keeps counters for each. */
  readonly extraPeriodKinds: readonly PeriodKind[];
  readonly thresholds: readonly number[];
  readonly breakGlassPrincipals: readonly string[];
  /** ARN patterns (`*` wildcard) of who may change budgets, lift, stop, resume and decide overrides. */
  readonly adminPrincipals: readonly string[];
  readonly perSessionRoles: readonly string[];
  readonly alertEmails: readonly string[];
  /** Who is e-mailed by the operations topic (every alarm of the stack): a list, or one address or several joined by commas. */
  readonly operationsEmails: readonly string[];
  /** Slack channels that show the alerts and critical topics (Amazon Q Developer in chat applications). */
  readonly slackChannels: readonly SlackChannel[];
  /** Microsoft Teams channels that show them, the same way. */
  readonly microsoftTeamsChannels: readonly TeamsChannel[];
  readonly enableInvocationLogging: boolean;
  readonly invocationLogGroupName: string;
  readonly tableCapacity: {
    readonly minRead: number;
    readonly maxRead: number;
    readonly minWrite: number;
    readonly maxWrite: number;
  };
  readonly usageRetentionDays: number;
  readonly logRetentionDays: number;
  /** What a call seen in CloudTrail but never in the invocation log is charged (its tokens are unknown). */
  readonly unmeteredCallUsd: string;
  /** How long a function prices with the price versions it read before reading them again (a change's delay). */
  readonly priceCacheSeconds: number;
  /** How long ingest counts by the groups it read before reading them again (a group change's delay). */
  readonly groupCacheSeconds: number;
  /** A principal's metered spend for a day may differ from AWS's bill by this much before it is alerted (USD). */
  readonly reconcileToleranceUsd: string;
  /**
   * How Cost Explorer groups Bedrock cost by IAM principal in this account (`TAG:<key>`, `DIMENSION:<key>` or
   * `COST_CATEGORY:<key>`, the values being principal ARNs): turns on the daily reconciliation with the bill.
   * Empty: off (IAM principal cost allocation must be enabled first; see the README).
   */
  readonly reconcilePrincipalGroup: string;
  /** The daily reconciliation compares the day this many days back: Cost Explorer's bill lags a day or two. */
  readonly reconcileDelayDays: number;
  /**
   * How long a call may wait for its invocation log before the coverage sweep charges it; with
   * `requireCloudTrailConfirmation`, also how long logged-only spend past a limit waits for its CloudTrail sighting.
   */
  readonly unmeteredDelayMinutes: number;
  /**
   * Only spend CloudTrail confirmed (a sighting of the same request by the same principal) may suspend a principal or
   * stop the account; spend only an invocation log reports waits for its sighting, and is escalated, not enforced,
   * if none comes within `unmeteredDelayMinutes`.
   */
  readonly requireCloudTrailConfirmation: boolean;
  /** Seconds between a principal reaching its budget and the deny (0: at once). */
  readonly suspendGraceSeconds: number;
  /** How long a pending decision (an approval link) stays valid, in hours. */
  readonly approvalLinkHours: number;
  /**
   * The IAM Identity Center instance whose permission sets provision the `AWSReservedSSO_*` roles: their denies go
   * on the permission set (run the stack in the management or delegated-admin account). Empty: on the role itself.
   */
  readonly identityCenterInstanceArn: string;
  /** A daily digest (yesterday's spend, crossings, suspensions, pending decisions, ...) on both topics. Opt-in. */
  readonly digest: boolean;
  /**
   * The AWS Organization this deployment meters (`o-...`): the stack becomes the central stack of a budget account
   * (a delegated administrator) and a member stack is synthesized beside it. Empty: a single account.
   */
  readonly organizationId: string;
  /** The organizational units (or root) whose accounts get the member stack by a service-managed StackSet. */
  readonly organizationalUnitIds: readonly string[];
  /**
   * Where the organization's stop attaches its SCP: roots (`r-…`), OUs (`ou-…`) or accounts (12 digits). Empty: the
   * `organizationalUnitIds`, else the organization's root.
   */
  readonly organizationStopTargets: readonly string[];
  /**
   * A role in the management account that the suspend function assumes for its AWS Organizations calls (the SCP).
   * Empty: it calls Organizations itself, as a delegated administrator for policy management.
   */
  readonly organizationManagementRoleArn: string;
  /** The management account, which no SCP applies to. Empty: learned from DescribeOrganization. */
  readonly managementAccountId: string;
}

export const DEFAULT_CONFIG: BudgeteerConfig = {
  defaultBudgetUsd: '50',
  accountBudgetUsd: '1000',
  period: 'monthly',
  extraPeriodKinds: [],
  thresholds: [80, 90, 95],
  breakGlassPrincipals: [],
  adminPrincipals: [],
  perSessionRoles: ['AWSReservedSSO_*'],
  alertEmails: [],
  operationsEmails: [],
  slackChannels: [],
  microsoftTeamsChannels: [],
  enableInvocationLogging: false,
  invocationLogGroupName: '/aws/bedrock/modelinvocations',
  tableCapacity: { minRead: 5, maxRead: 100, minWrite: 5, maxWrite: 200 },
  usageRetentionDays: 400,
  logRetentionDays: 90,
  unmeteredCallUsd: '0.50',
  priceCacheSeconds: 60,
  groupCacheSeconds: 60,
  reconcileToleranceUsd: '0.01',
  reconcilePrincipalGroup: '',
  reconcileDelayDays: 2,
  unmeteredDelayMinutes: 15,
  requireCloudTrailConfirmation: false,
  suspendGraceSeconds: 0,
  approvalLinkHours: 24,
  identityCenterInstanceArn: '',
  digest: false,
  organizationId: '',
  organizationalUnitIds: [],
  organizationStopTargets: [],
  organizationManagementRoleArn: '',
  managementAccountId: '',
};

/** Every period kind the deployment keeps counters for: its own first. */
export const periodKindsOf = (config: BudgeteerConfig): PeriodKind[] => [config.period, ...config.extraPeriodKinds];

export class ConfigValidationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid Budgeteer configuration (CDK context):\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigValidationError';
  }
}

/** The retention periods CloudWatch Logs accepts. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:.+$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const IDENTITY_CENTER_INSTANCE = /^arn:aws[a-z-]*:sso:::instance\/(sso)?ins-[a-zA-Z0-9-.]{16}$/;

/** A zod error message: what the setting must be, and what it was. */
const must =
  (what: string) =>
  (issue: { input?: unknown }): string =>
    `must be ${what} (got ${JSON.stringify(issue.input)})`;

const wholeNumber = (minimum: 0 | 1) =>
  z.int({ error: must(`a ${minimum === 0 ? 'non-negative' : 'positive'} whole number`) }).min(minimum, {
    error: must(`a ${minimum === 0 ? 'non-negative' : 'positive'} whole number`),
  });
/** A deployment's own kind resets: a prepaid (`total`) budget is one a principal or group opts into. */
const periodKind = z.enum(RESETTING_PERIOD_KINDS, { error: must('monthly, weekly or daily') });
const extraPeriodKind = z.enum(PERIOD_KINDS, { error: must('monthly, weekly, daily or total') });
const stringList = (pattern: RegExp, what: string) =>
  z.array(z.string().regex(pattern, { error: (issue) => `${JSON.stringify(issue.input)} is not ${what}` }), {
    error: must('a list of strings'),
  });
const capacity = wholeNumber(1);
/** A list given on the command line as one string, items joined by commas. */
const commaList = (value: unknown) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '')
    : value;
const UUID = /^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$/;
const chatConfigurationName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, { error: must('a name of letters, digits, - and _ (at most 128)') });

/**
 * Every setting with what it must be. Money is read by the one parser of amounts (shared/money), and as written:
 * a decimal string must not pass through a binary float on its way in, so a JSON number is refused.
 */
const configSchema = z.object({
  defaultBudgetUsd: limitUsdText,
  accountBudgetUsd: limitUsdText,
  period: periodKind,
  extraPeriodKinds: z.array(extraPeriodKind, { error: must('a list of monthly, weekly, daily, total') }),
  thresholds: z
    .array(z.int().min(1).max(99), { error: must('ascending whole percentages between 1 and 99') })
    .min(1)
    .refine((list) => list.every((t, i) => i === 0 || t > (list[i - 1] as number)), {
      error: must('ascending whole percentages between 1 and 99'),
    }),
  breakGlassPrincipals: stringList(PRINCIPAL_ARN, 'a principal ARN (arn:aws:iam::<account>:user/<name>, ...)'),
  adminPrincipals: stringList(
    /^arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*):.+$/,
    'a principal ARN pattern (arn:aws:iam::<account>:user/<name>, arn:aws:sts::<account>:assumed-role/<role>/*)',
  ),
  perSessionRoles: stringList(/^[\w+=,.@*-]+$/, 'an IAM role name pattern (* as a wildcard)'),
  alertEmails: stringList(EMAIL, 'an email address'),
  // `-c operationsEmails=ops@example.com` (or `a@example.com,b@example.com`) arrives as one string.
  operationsEmails: z.preprocess(commaList, stringList(EMAIL, 'an email address')),
  slackChannels: z.array(
    z.object({
      workspaceId: z.string().regex(/^[0-9A-Z]{1,255}$/, { error: must('a Slack workspace id (T0123ABCD)') }),
      channelId: z.string().regex(/^[A-Za-z0-9]{1,256}$/, { error: must('a Slack channel id (C0123ABCD)') }),
      name: chatConfigurationName.optional(),
    }),
    { error: must('a list of {workspaceId, channelId, name?}') },
  ),
  microsoftTeamsChannels: z.array(
    z.object({
      teamId: z.string().regex(UUID, { error: must('a Microsoft Teams team id (a UUID)') }),
      tenantId: z.string().regex(UUID, { error: must('a Microsoft Teams tenant id (a UUID)') }),
      channelId: z.string().regex(/^[\w\-=+/.,]*%3[aA][\w\-=+/.,]*%40[\w\-=+/.,]*$/, {
        error: must('a URL-encoded Microsoft Teams channel id (19%3a...%40thread.tacv2)'),
      }),
      name: chatConfigurationName.optional(),
    }),
    { error: must('a list of {teamId, tenantId, channelId, name?}') },
  ),
  enableInvocationLogging: z.boolean({ error: must('true or false') }),
  invocationLogGroupName: z.string().regex(/^[\w\-./#]{1,512}$/, { error: must('a CloudWatch Logs group name') }),
  tableCapacity: z
    .object(
      { minRead: capacity, maxRead: capacity, minWrite: capacity, maxWrite: capacity },
      { error: must('{minRead, maxRead, minWrite, maxWrite}') },
    )
    .refine((c) => c.minRead <= c.maxRead && c.minWrite <= c.maxWrite, {
      error: must('{minRead, maxRead, minWrite, maxWrite} with min <= max'),
    }),
  usageRetentionDays: wholeNumber(1),
  logRetentionDays: z
    .number({ error: must(`one of ${LOG_RETENTION_DAYS.join(', ')}`) })
    .refine((days) => LOG_RETENTION_DAYS.includes(days), { error: must(`one of ${LOG_RETENTION_DAYS.join(', ')}`) }),
  unmeteredCallUsd: limitUsdText,
  priceCacheSeconds: wholeNumber(1).max(3600, { error: must('at most 3600 seconds') }),
  groupCacheSeconds: wholeNumber(1).max(3600, { error: must('at most 3600 seconds') }),
  reconcileToleranceUsd: limitUsdText,
  reconcilePrincipalGroup: z
    .string({ error: must('TAG:<key>, DIMENSION:<key> or COST_CATEGORY:<key>, or empty') })
    .regex(/^((TAG|DIMENSION|COST_CATEGORY):.+)?$/, {
      error: must('TAG:<key>, DIMENSION:<key> or COST_CATEGORY:<key>, or empty'),
    }),
  reconcileDelayDays: wholeNumber(1).max(14, { error: must('at most 14 days') }),
  unmeteredDelayMinutes: wholeNumber(1),
  requireCloudTrailConfirmation: z.boolean({ error: must('true or false') }),
  suspendGraceSeconds: wholeNumber(0),
  approvalLinkHours: wholeNumber(1),
  identityCenterInstanceArn: z
    .string({ error: must('an IAM Identity Center instance ARN, or empty') })
    .refine((arn) => arn === '' || IDENTITY_CENTER_INSTANCE.test(arn), {
      error: must('an IAM Identity Center instance ARN, or empty'),
    }),
  digest: z.boolean({ error: must('true or false') }),
  organizationId: z
    .string({ error: must('an organization id (o-...), or empty') })
    .regex(/^(o-[a-z0-9]{10,32})?$/, { error: must('an organization id (o-...), or empty') }),
  // `-c organizationalUnitIds=ou-ab12-cdef3456,ou-...` arrives as one string.
  organizationalUnitIds: z.preprocess(
    commaList,
    stringList(
      /^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$/,
      'an organizational unit id (ou-...) or root id',
    ),
  ),
  organizationStopTargets: z.preprocess(
    commaList,
    stringList(
      /^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32}|\d{12})$/,
      'a root id (r-...), an organizational unit id (ou-...) or a 12-digit account id',
    ),
  ),
  organizationManagementRoleArn: z
    .string({ error: must('an IAM role ARN in the management account, or empty') })
    .regex(/^(arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+)?$/, {
      error: must('an IAM role ARN in the management account, or empty'),
    }),
  managementAccountId: z
    .string({ error: must('a 12-digit account id, or empty') })
    .regex(/^(\d{12})?$/, { error: must('a 12-digit account id, or empty') }),
});

/** Settings that only mean something in an organization deployment. */
const ORGANIZATION_ONLY = [
  'organizationalUnitIds',
  'organizationStopTargets',
  'organizationManagementRoleArn',
  'managementAccountId',
] as const;

const MONEY_KEYS = new Set<string>([
  'defaultBudgetUsd',
  'accountBudgetUsd',
  'unmeteredCallUsd',
  'reconcileToleranceUsd',
]);

/** Account ids are digits that must stay a string: `-c managementAccountId=012345678901` is no number. */
const ACCOUNT_ID_KEYS = new Set<string>(['organizationStopTargets', 'managementAccountId']);

/** `-c key=value` arrives as a string; cdk.json values arrive typed. Accept both (money stays as written). */
function decode(value: unknown, digitsAreText = false): unknown {
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  const number = !digitsAreText && /^-?\d+(\.\d+)?$/.test(trimmed);
  if (/^[[{]/.test(trimmed) || trimmed === 'true' || trimmed === 'false' || number) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return value;
    }
  }
  return value;
}

/** `key: message`, or `key.field: message` inside an object; list positions are left out (the value is named). */
const problemOf = (issue: z.core.$ZodIssue) =>
  `${issue.path.filter((part) => typeof part !== 'number').join('.')}: ${issue.message}`;

/** Reads and checks every setting, reporting all problems at once with the key that is wrong. */
export function readConfig(node: Node): BudgeteerConfig {
  const input = Object.fromEntries(
    (Object.keys(DEFAULT_CONFIG) as (keyof BudgeteerConfig)[]).map((key) => {
      const raw = node.tryGetContext(key);
      if (raw === undefined) return [key, DEFAULT_CONFIG[key]];
      return [key, MONEY_KEYS.has(key) ? raw : decode(raw, ACCOUNT_ID_KEYS.has(key))];
    }),
  );
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) throw new ConfigValidationError(parsed.error.issues.map(problemOf));
  const config = parsed.data;
  if (config.organizationId === '') {
    const set = ORGANIZATION_ONLY.filter((key) => config[key].length > 0);
    if (set.length > 0) {
      throw new ConfigValidationError(
        set.map((key) => `${key}: a setting of an organization deployment: set organizationId too`),
      );
    }
  }
  return {
    ...config,
    // The deployment's own kind is always kept; listing it again (or twice) adds nothing.
    extraPeriodKinds: [...new Set(config.extraPeriodKinds)].filter((kind) => kind !== config.period),
  };
}
