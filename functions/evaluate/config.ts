import {
  booleanFromEnv,
  ConfigError,
  jsonListFromEnv,
  periodKindFromEnv,
  positiveIntFromEnv,
  requireEnv,
} from '../../shared/config';
import type { EvaluatorConfig } from './evaluate';

function thresholdsFromEnv(): number[] {
  let values: unknown;
  try {
    values = JSON.parse(requireEnv('THRESHOLDS'));
  } catch (cause) {
    throw new ConfigError('THRESHOLDS must be a JSON array of whole percentages', { cause });
  }
  if (!Array.isArray(values) || values.some((t) => !Number.isInteger(t) || t <= 0 || t >= 100)) {
    throw new ConfigError('THRESHOLDS must be a JSON array of whole percentages between 1 and 99');
  }
  return [...(values as number[])].sort((a, b) => a - b);
}

/** The evaluator's settings, read and checked once at cold start: a missing one fails the init with its name. */
export function evaluatorConfigFromEnv(): EvaluatorConfig {
  return {
    budgetsTable: requireEnv('BUDGETS_TABLE'),
    thresholds: thresholdsFromEnv(),
    periodKind: periodKindFromEnv(),
    suspendStateMachineArn: requireEnv('SUSPEND_STATE_MACHINE_ARN'),
    emergencyStopStateMachineArn: requireEnv('EMERGENCY_STOP_STATE_MACHINE_ARN'),
    protection: {
      breakGlassArns: jsonListFromEnv('BREAK_GLASS_PRINCIPALS'),
      systemRolePatterns: jsonListFromEnv('SYSTEM_ROLE_PATTERNS'),
    },
    graceSeconds: Number(process.env.SUSPEND_GRACE_SECONDS ?? 0),
    requireConfirmation: booleanFromEnv('REQUIRE_CLOUDTRAIL_CONFIRMATION', false),
    confirmationWaitMinutes: positiveIntFromEnv('UNMETERED_DELAY_MINUTES', 15),
  };
}
