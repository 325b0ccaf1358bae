/** What CloudFormation's intrinsic functions need from the stack being deployed. */
export interface IntrinsicContext {
  /** `Ref` to a resource or parameter (pseudo parameters are handled here). */
  ref(name: string): unknown;
  getAtt(logicalId: string, attribute: string): unknown;
  condition(name: string): boolean;
  findInMap(map: string, topKey: string, secondKey: string): unknown;
  readonly pseudo: Readonly<Record<string, unknown>>;
}

/** `Ref: AWS::NoValue`: the enclosing property is left out. */
export const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

export class IntrinsicError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IntrinsicError';
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The single `Ref`/`Fn::*` key of an intrinsic function call, if `value` is one. */
function intrinsicName(value: Json): string | undefined {
  const keys = Object.keys(value);
  const [key] = keys;
  return keys.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::')) ? key : undefined;
}

/** Resolves every intrinsic function in `value`; `NO_VALUE` results drop their property or list element. */
export function resolveValue(value: unknown, ctx: IntrinsicContext): unknown {
  if (Array.isArray(value)) {
    return value.map((item) => resolveValue(item, ctx)).filter((item) => item !== NO_VALUE);
  }
  if (!isObject(value)) return value;
  const fn = intrinsicName(value);
  if (fn) return callIntrinsic(fn, value[fn], ctx);
  const resolved: Json = {};
  for (const [key, item] of Object.entries(value)) {
    const result = resolveValue(item, ctx);
    if (result !== NO_VALUE) resolved[key] = result;
  }
  return resolved;
}

/** Resolves `value` and insists on a string, as names, ARNs and environment variables must be. */
export function resolveString(value: unknown, ctx: IntrinsicContext, what: string): string {
  const resolved = resolveValue(value, ctx);
  if (typeof resolved === 'string') return resolved;
  if (typeof resolved === 'number' || typeof resolved === 'boolean') return String(resolved);
  throw new IntrinsicError(`${what} is not a string: ${JSON.stringify(resolved)}`);
}

function args(fn: string, value: unknown, count: number): unknown[] {
  if (!Array.isArray(value) || value.length !== count) {
    throw new IntrinsicError(`${fn} takes a list of ${count}: ${JSON.stringify(value)}`);
  }
  return value;
}

function list(fn: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new IntrinsicError(`${fn} needs a list: ${JSON.stringify(value)}`);
  return value;
}

function callIntrinsic(fn: string, arg: unknown, ctx: IntrinsicContext): unknown {
  switch (fn) {
    case 'Ref': {
      const name = resolveString(arg, ctx, 'Ref');
      if (name === 'AWS::NoValue') return NO_VALUE;
      if (Object.hasOwn(ctx.pseudo, name)) return ctx.pseudo[name];
      return ctx.ref(name);
    }
    case 'Fn::GetAtt': {
      const [logicalId, attribute] =
        typeof arg === 'string' ? splitOnce(arg, '.') : args(fn, arg, 2).map((part) => resolveString(part, ctx, fn));
      if (!logicalId || !attribute) throw new IntrinsicError(`Fn::GetAtt needs a resource and an attribute: ${arg}`);
      return ctx.getAtt(logicalId, attribute);
    }
    case 'Fn::Join': {
      const [delimiter, items] = args(fn, arg, 2);
      return list(fn, resolveValue(items, ctx))
        .map((item) => scalar(item, fn))
        .join(String(delimiter));
    }
    case 'Fn::Sub':
      return substitute(arg, ctx);
    case 'Fn::Select': {
      const [index, items] = args(fn, arg, 2);
      const chosen = list(fn, resolveValue(items, ctx))[Number(resolveValue(index, ctx))];
      if (chosen === undefined) throw new IntrinsicError(`Fn::Select index out of range: ${JSON.stringify(arg)}`);
      return chosen;
    }
    case 'Fn::Split': {
      const [delimiter, source] = args(fn, arg, 2);
      return resolveString(source, ctx, fn).split(String(delimiter));
    }
    case 'Fn::If': {
      const [condition, whenTrue, whenFalse] = args(fn, arg, 3);
      return resolveValue(ctx.condition(String(condition)) ? whenTrue : whenFalse, ctx);
    }
    case 'Fn::Equals':
    case 'Fn::And':
    case 'Fn::Or':
    case 'Fn::Not':
      return evaluateCondition({ [fn]: arg }, ctx);
    case 'Fn::Base64':
      return Buffer.from(resolveString(arg, ctx, fn), 'utf8').toString('base64');
    case 'Fn::GetAZs':
      return ['a', 'b', 'c'].map((zone) => `${ctx.pseudo['AWS::Region']}${zone}`);
    case 'Fn::FindInMap': {
      const [map, topKey, secondKey] = args(fn, arg, 3).map((part) => resolveString(part, ctx, fn));
      return ctx.findInMap(map ?? '', topKey ?? '', secondKey ?? '');
    }
    case 'Fn::ToJsonString':
      return JSON.stringify(resolveValue(arg, ctx));
    case 'Fn::Length':
      return list(fn, resolveValue(arg, ctx)).length;
    default:
      throw new IntrinsicError(`${fn} is not supported locally`);
  }
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
}

function scalar(value: unknown, fn: string): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new IntrinsicError(`${fn} can only join strings: ${JSON.stringify(value)}`);
}

/** `Fn::Sub`: `${Name}`, `${Resource.Attribute}`, variables from the second argument, `${!Literal}` escapes. */
function substitute(arg: unknown, ctx: IntrinsicContext): string {
  const [template, variables] = Array.isArray(arg) ? args('Fn::Sub', arg, 2) : [arg, {}];
  if (typeof template !== 'string') throw new IntrinsicError(`Fn::Sub needs a string: ${JSON.stringify(arg)}`);
  const vars = isObject(variables) ? variables : {};
  return template.replace(/\$\{([^}]*)\}/g, (_match, name: string) => {
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    if (Object.hasOwn(vars, name)) return scalar(resolveValue(vars[name], ctx), 'Fn::Sub');
    if (Object.hasOwn(ctx.pseudo, name)) return scalar(ctx.pseudo[name], 'Fn::Sub');
    const [logicalId, attribute] = splitOnce(name, '.');
    return scalar(attribute ? ctx.getAtt(logicalId, attribute) : ctx.ref(logicalId), 'Fn::Sub');
  });
}

/** Evaluates a condition expression from the template's `Conditions` or inside `Fn::If`. */
export function evaluateCondition(expression: unknown, ctx: IntrinsicContext): boolean {
  if (typeof expression === 'boolean') return expression;
  if (!isObject(expression)) throw new IntrinsicError(`not a condition: ${JSON.stringify(expression)}`);
  const [key] = Object.keys(expression);
  const arg = key === undefined ? undefined : expression[key];
  switch (key) {
    case 'Condition':
      return ctx.condition(String(arg));
    case 'Fn::Equals': {
      const [left, right] = args(key, arg, 2).map((side) => resolveValue(side, ctx));
      return JSON.stringify(left) === JSON.stringify(right);
    }
    case 'Fn::And':
      return list(key, arg).every((part) => evaluateCondition(part, ctx));
    case 'Fn::Or':
      return list(key, arg).some((part) => evaluateCondition(part, ctx));
    case 'Fn::Not':
      return !evaluateCondition(args(key, arg, 1)[0], ctx);
    default:
      throw new IntrinsicError(`not a condition: ${JSON.stringify(expression)}`);
  }
}

/** Logical ids `value` refers to through Ref, Fn::GetAtt and Fn::Sub; deploy order follows them. */
export function referencedNames(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) referencedNames(item, into);
    return into;
  }
  if (!isObject(value)) return into;
  const fn = intrinsicName(value);
  const arg = fn ? value[fn] : undefined;
  if (fn === 'Ref' && typeof arg === 'string') into.add(arg);
  else if (fn === 'Fn::GetAtt') {
    const target = typeof arg === 'string' ? splitOnce(arg, '.')[0] : Array.isArray(arg) ? arg[0] : undefined;
    if (typeof target === 'string') into.add(target);
  } else if (fn === 'Fn::Sub') {
    const [template, variables] = Array.isArray(arg) ? arg : [arg, {}];
    const local = isObject(variables) ? variables : {};
    if (typeof template === 'string') {
      for (const [, name] of template.matchAll(/\$\{([^}!][^}]*)\}/g)) {
        const target = splitOnce(name ?? '', '.')[0];
        if (!Object.hasOwn(local, target)) into.add(target);
      }
    }
    referencedNames(local, into);
    return into;
  }
  for (const item of Object.values(value)) referencedNames(item, into);
  return into;
}
