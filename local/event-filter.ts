/**
 * Lambda event filtering (FilterCriteria patterns, EventBridge pattern syntax) for the local event source
 * mappings: exact values, prefix, suffix, equals-ignore-case, exists, anything-but and numeric.
 */

export class FilterPatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterPatternError';
  }
}

/** A record passes when it matches any pattern; with no patterns, every record passes. */
export function passesFilters(patterns: readonly unknown[], record: unknown): boolean {
  return patterns.length === 0 || patterns.some((pattern) => matchesPattern(pattern, record));
}

export function matchesPattern(pattern: unknown, value: unknown): boolean {
  if (!isObject(pattern)) throw new FilterPatternError(`a pattern is an object: ${JSON.stringify(pattern)}`);
  const fields = isObject(value) ? value : {};
  return Object.entries(pattern).every(([key, expected]) => {
    const actual = fields[key];
    if (Array.isArray(expected)) return matchesField(expected, actual);
    if (isObject(expected)) return isObject(actual) && matchesPattern(expected, actual);
    throw new FilterPatternError(`pattern values are lists or objects: ${key}: ${JSON.stringify(expected)}`);
  });
}

function matchesField(rules: readonly unknown[], actual: unknown): boolean {
  if (actual === undefined) return rules.some((rule) => isObject(rule) && rule.exists === false);
  const values = Array.isArray(actual) ? actual : [actual];
  return rules.some((rule) => values.some((value) => matchesRule(rule, value)));
}

function matchesRule(rule: unknown, value: unknown): boolean {
  if (!isObject(rule)) return rule === value || (typeof rule === 'number' && Number(value) === rule);
  const [operator] = Object.keys(rule);
  const operand = operator === undefined ? undefined : rule[operator];
  switch (operator) {
    case 'exists':
      return operand === true;
    case 'prefix':
      return typeof value === 'string' && value.startsWith(String(operand));
    case 'suffix':
      return typeof value === 'string' && value.endsWith(String(operand));
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === String(operand).toLowerCase();
    case 'anything-but': {
      if (isObject(operand)) return !matchesRule(operand, value);
      const excluded = Array.isArray(operand) ? operand : [operand];
      return !excluded.some((item) => matchesRule(item, value));
    }
    case 'numeric':
      return matchesNumeric(Array.isArray(operand) ? operand : [], value);
    default:
      throw new FilterPatternError(`filter operator not supported locally: ${JSON.stringify(rule)}`);
  }
}

function matchesNumeric(conditions: readonly unknown[], value: unknown): boolean {
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  if (Number.isNaN(number)) return false;
  for (let i = 0; i + 1 < conditions.length; i += 2) {
    const bound = Number(conditions[i + 1]);
    const holds = {
      '=': number === bound,
      '<': number < bound,
      '<=': number <= bound,
      '>': number > bound,
      '>=': number >= bound,
    }[String(conditions[i])];
    if (holds !== true) return false;
  }
  return true;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
