import type { Node } from 'constructs';
import { isPeriodKind, type PeriodKind } from '../shared/period';

/** Deployment settings, from CDK context (`cdk deploy -c defaultBudgetUsd=50`); defaults live in cdk.json. */
export interface BudgeteerConfig {
  readonly defaultBudgetUsd: string;
  readonly accountBudgetUsd: string;
  readonly period: PeriodKind;
  /** Further period kinds a principal's limit may use (`budget set --period`); ingest keeps counters for each. */
  readonly extraPeriodKinds: readonly PeriodKind[];
  readonly thresholds: readonly number[];
  readonly breakGlassPrincipals: readonly string[];
  readonly perSessionRoles: readonly string[];
  readonly alertEmails: readonly string[];
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
  /** How long a call may wait for its invocation log before the coverage sweep charges it. */
  readonly unmeteredDelayMinutes: number;
  /** Seconds between a principal reaching its budget and the deny (0: at once). */
  readonly suspendGraceSeconds: number;
  /** How long a pending decision (an approval link) stays valid, in hours. */
  readonly approvalLinkHours: number;
  /**
   * The IAM Identity Center instance whose permission sets provision the `AWSReservedSSO_*` roles: their denies go
   * on the permission set (run the stack in the management or delegated-admin account). Empty: on the role itself.
   */
  readonly identityCenterInstanceArn: string;
}

export const DEFAULT_CONFIG: BudgeteerConfig = {
  defaultBudgetUsd: '50',
  accountBudgetUsd: '1000',
  period: 'monthly',
  extraPeriodKinds: [],
  thresholds: [80, 90, 95],
  breakGlassPrincipals: [],
  perSessionRoles: ['AWSReservedSSO_*'],
  alertEmails: [],
  enableInvocationLogging: false,
  invocationLogGroupName: '/aws/bedrock/modelinvocations',
  tableCapacity: { minRead: 5, maxRead: 100, minWrite: 5, maxWrite: 200 },
  usageRetentionDays: 400,
  logRetentionDays: 90,
  unmeteredCallUsd: '0.50',
  unmeteredDelayMinutes: 15,
  suspendGraceSeconds: 0,
  approvalLinkHours: 24,
  identityCenterInstanceArn: '',
};

/** Every period kind the deployment keeps counters for: its own first. */
export const periodKindsOf = (config: BudgeteerConfig): PeriodKind[] => [config.period, ...config.extraPeriodKinds];

export class ConfigValidationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid Budgeteer configuration (CDK context):\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigValidationError';
  }
}

const DECIMAL = /^\d+(\.\d+)?$/;
/** The retention periods CloudWatch Logs accepts. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:.+$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** `-c key=value` arrives as a string; cdk.json values arrive typed. Accept both. */
function decode(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  if (/^[[{]/.test(trimmed) || trimmed === 'true' || trimmed === 'false' || /^-?\d+(\.\d+)?$/.test(trimmed)) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return value;
    }
  }
  return value;
}

/** Reads and checks every setting, reporting all problems at once with the key that is wrong. */
export function readConfig(node: Node): BudgeteerConfig {
  const problems: string[] = [];
  const get = (key: keyof BudgeteerConfig) => {
    const raw = node.tryGetContext(key);
    return raw === undefined ? DEFAULT_CONFIG[key] : decode(raw);
  };
  const money = (key: 'defaultBudgetUsd' | 'accountBudgetUsd' | 'unmeteredCallUsd') => {
    // Read undecoded: a decimal string must not pass through a binary float on its way in.
    const value = node.tryGetContext(key) ?? DEFAULT_CONFIG[key];
    const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
    if (typeof text !== 'string' || !DECIMAL.test(text)) {
      problems.push(
        `${key} must be a non-negative decimal amount in USD, e.g. "50" or "12.50" (got ${JSON.stringify(value)})`,
      );
      return DEFAULT_CONFIG[key];
    }
    return text;
  };
  const stringList = (key: 'breakGlassPrincipals' | 'perSessionRoles' | 'alertEmails', pattern?: RegExp) => {
    const value = get(key);
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      problems.push(`${key} must be a list of strings (got ${JSON.stringify(value)})`);
      return DEFAULT_CONFIG[key];
    }
    for (const item of value)
      if (pattern && !pattern.test(item)) problems.push(`${key}: ${JSON.stringify(item)} is not valid`);
    return value as string[];
  };
  const logRetention = () => {
    const value = get('logRetentionDays');
    if (typeof value !== 'number' || !LOG_RETENTION_DAYS.includes(value)) {
      problems.push(`logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(', ')} (got ${JSON.stringify(value)})`);
      return DEFAULT_CONFIG.logRetentionDays;
    }
    return value;
  };
  const positiveInt = (
    key: 'usageRetentionDays' | 'unmeteredDelayMinutes' | 'suspendGraceSeconds' | 'approvalLinkHours',
    minimum = 1,
  ) => {
    const value = get(key);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
      problems.push(
        `${key} must be a ${minimum === 0 ? 'non-negative' : 'positive'} whole number (got ${JSON.stringify(value)})`,
      );
      return DEFAULT_CONFIG[key];
    }
    return value;
  };

  const identityCenter = () => {
    const value = get('identityCenterInstanceArn');
    if (value === '') return '';
    if (typeof value !== 'string' || !/^arn:aws[a-z-]*:sso:::instance\/(sso)?ins-[a-zA-Z0-9-.]{16}$/.test(value)) {
      problems.push(
        `identityCenterInstanceArn must be an IAM Identity Center instance ARN (got ${JSON.stringify(value)})`,
      );
      return '';
    }
    return value;
  };

  const period = get('period');
  if (!isPeriodKind(period)) problems.push(`period must be monthly, weekly or daily (got ${JSON.stringify(period)})`);

  const extra = get('extraPeriodKinds');
  const extraOk = Array.isArray(extra) && extra.every((kind) => isPeriodKind(kind));
  if (!extraOk) {
    problems.push(`extraPeriodKinds must be a list of monthly, weekly, daily (got ${JSON.stringify(extra)})`);
  }

  const thresholds = get('thresholds');
  const thresholdsOk =
    Array.isArray(thresholds) &&
    thresholds.length > 0 &&
    thresholds.every(
      (t, i) => Number.isInteger(t) && t > 0 && t < 100 && (i === 0 || t > (thresholds[i - 1] as number)),
    );
  if (!thresholdsOk) {
    problems.push(
      `thresholds must be ascending whole percentages between 1 and 99 (got ${JSON.stringify(thresholds)})`,
    );
  }

  const capacity = get('tableCapacity') as Record<string, unknown>;
  const capacityKeys = ['minRead', 'maxRead', 'minWrite', 'maxWrite'] as const;
  const capacityOk =
    typeof capacity === 'object' &&
    capacity !== null &&
    capacityKeys.every((k) => Number.isSafeInteger(capacity[k]) && (capacity[k] as number) >= 1) &&
    (capacity.minRead as number) <= (capacity.maxRead as number) &&
    (capacity.minWrite as number) <= (capacity.maxWrite as number);
  if (!capacityOk) {
    problems.push('tableCapacity must be {minRead, maxRead, minWrite, maxWrite}: whole numbers >= 1 with min <= max');
  }

  const logging = get('enableInvocationLogging');
  if (typeof logging !== 'boolean')
    problems.push(`enableInvocationLogging must be true or false (got ${JSON.stringify(logging)})`);
  const logGroup = get('invocationLogGroupName');
  if (typeof logGroup !== 'string' || !/^[\w\-./#]{1,512}$/.test(logGroup)) {
    problems.push(`invocationLogGroupName must be a CloudWatch Logs group name (got ${JSON.stringify(logGroup)})`);
  }

  const config: BudgeteerConfig = {
    defaultBudgetUsd: money('defaultBudgetUsd'),
    accountBudgetUsd: money('accountBudgetUsd'),
    period: isPeriodKind(period) ? period : DEFAULT_CONFIG.period,
    extraPeriodKinds: extraOk ? [...new Set(extra as PeriodKind[])].filter((kind) => kind !== period) : [],
    thresholds: thresholdsOk ? (thresholds as number[]) : DEFAULT_CONFIG.thresholds,
    breakGlassPrincipals: stringList('breakGlassPrincipals', PRINCIPAL_ARN),
    perSessionRoles: stringList('perSessionRoles', /^[\w+=,.@*-]+$/),
    alertEmails: stringList('alertEmails', EMAIL),
    enableInvocationLogging: logging === true,
    invocationLogGroupName: typeof logGroup === 'string' ? logGroup : DEFAULT_CONFIG.invocationLogGroupName,
    tableCapacity: capacityOk
      ? (capacity as unknown as BudgeteerConfig['tableCapacity'])
      : DEFAULT_CONFIG.tableCapacity,
    usageRetentionDays: positiveInt('usageRetentionDays'),
    logRetentionDays: logRetention(),
    unmeteredCallUsd: money('unmeteredCallUsd'),
    unmeteredDelayMinutes: positiveInt('unmeteredDelayMinutes'),
    suspendGraceSeconds: positiveInt('suspendGraceSeconds', 0),
    approvalLinkHours: positiveInt('approvalLinkHours'),
    identityCenterInstanceArn: identityCenter(),
  };
  if (problems.length > 0) throw new ConfigValidationError(problems);
  return config;
}
