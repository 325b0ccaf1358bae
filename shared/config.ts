import type { IdentityRules } from './identity';
import { isPeriodKind, type PeriodKind } from './period';

export class ConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export function requireEnv(name: string, env: Env = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(`missing environment variable ${name}`);
  return value;
}

export function periodKindFromEnv(env: Env = process.env): PeriodKind {
  const value = env.PERIOD ?? 'monthly';
  if (!isPeriodKind(value) || value === 'total')
    throw new ConfigError(`PERIOD must be monthly, weekly or daily, not ${value}`);
  return value;
}

export function jsonListFromEnv(name: string, env: Env = process.env, fallback: string[] = []): string[] {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (cause) {
    throw new ConfigError(`${name} must be a JSON array of strings`, { cause });
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new ConfigError(`${name} must be a JSON array of strings`);
  }
  return value;
}

export function positiveIntFromEnv(name: string, fallback: number, env: Env = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new ConfigError(`${name} must be a positive integer`);
  return value;
}

/** `true` or `false`; anything else fails the cold start rather than reading as one of them. */
export function booleanFromEnv(name: string, fallback: boolean, env: Env = process.env): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw !== 'true' && raw !== 'false') throw new ConfigError(`${name} must be true or false, not ${raw}`);
  return raw === 'true';
}

/** EXTRA_PERIOD_KINDS: a JSON list of further period kinds counters are kept for. */
export function extraPeriodKindsFromEnv(env: Env = process.env): PeriodKind[] {
  const kinds = jsonListFromEnv('EXTRA_PERIOD_KINDS', env);
  const wrong = kinds.filter((kind) => !isPeriodKind(kind));
  if (wrong.length > 0) throw new ConfigError(`EXTRA_PERIOD_KINDS has unknown period kinds: ${wrong.join(', ')}`);
  return kinds as PeriodKind[];
}

/**
 * Whose calls are whose: the per-session role patterns, and in an organization deployment (ORGANIZATION_ID set) the
 * deployment's own account (ACCOUNT_ID), so principals of every other account get account-qualified ids.
 */
export function identityRulesFromEnv(env: Env = process.env): IdentityRules {
  const perSessionRoles = jsonListFromEnv('PER_SESSION_ROLES', env, ['AWSReservedSSO_*']);
  if (!env.ORGANIZATION_ID) return { perSessionRoles };
  return { perSessionRoles, homeAccount: requireEnv('ACCOUNT_ID', env) };
}
