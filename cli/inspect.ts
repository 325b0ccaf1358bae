import { type BedrockCall, parseRecord } from '../shared/events/parse';
import type { IdentityRules } from '../shared/identity';
import { chargeFor, hasTokens } from '../shared/metering';
import { toDecimalString } from '../shared/money';
import { resolveModelId } from '../shared/pricing';
import type { InputRecord } from './documents';
import { isScenarioAction } from './scenario-actions';

export interface InspectLine {
  readonly requestId?: string;
  readonly principal?: string;
  readonly principalArn?: string;
  readonly model?: string;
  /** `cacheWrite` holds the five-minute cache writes, `cacheWrite1h` (when there are any) the one-hour ones. */
  readonly tokens?: {
    input: number;
    output: number;
    cacheRead: number;
    cacheWrite: number;
    cacheWrite1h?: number;
  } | null;
  readonly costUsd?: string | null;
  readonly source?: string;
  readonly unknownModel?: boolean;
  /** The error the invocation log reports (a failed call, a guardrail intervention): it cost nothing. */
  readonly errorCode?: string;
  readonly line?: number;
  readonly error?: string;
}

/**
 * Explains what each Bedrock request in the input costs, one line per request: a CloudTrail event and the invocation
 * log of the same request merge (the log brings tokens and cost); repeats of a request are shown once.
 */
export function inspect(
  records: readonly InputRecord[],
  rules: IdentityRules,
): { lines: InspectLine[]; invalid: number; skippedActions: number } {
  const byRequest = new Map<string, { sources: Set<string>; call: BedrockCall; line: InspectLine }>();
  const lines: (InspectLine | string)[] = [];
  let invalid = 0;
  let skippedActions = 0;
  for (const input of records) {
    if ('error' in input) {
      invalid++;
      lines.push({ line: input.line, error: input.error });
      continue;
    }
    if (isScenarioAction(input.record.body)) {
      skippedActions++;
      continue;
    }
    const parsed = parseRecord(input.record.body, rules);
    if (parsed.status === 'ignored') continue;
    if (parsed.status === 'invalid') {
      invalid++;
      lines.push({ line: input.line, error: parsed.error });
      continue;
    }
    const { call } = parsed;
    let line: InspectLine;
    try {
      line = describe(call);
    } catch (error) {
      invalid++;
      lines.push({ line: input.line, error: (error as Error).message });
      continue;
    }
    const seen = byRequest.get(call.requestId);
    if (!seen) {
      byRequest.set(call.requestId, { sources: new Set([call.source]), call, line });
      lines.push(call.requestId);
      continue;
    }
    seen.sources.add(call.source);
    // Tokens and cost come from the invocation log whichever record came first.
    if (hasTokens(call) && !hasTokens(seen.call)) Object.assign(seen, { call, line });
  }
  const out = lines.map((entry) => {
    if (typeof entry !== 'string') return entry;
    const seen = byRequest.get(entry) as { sources: Set<string>; line: InspectLine };
    return { ...seen.line, source: [...seen.sources].sort().join('+') };
  });
  return { lines: out, invalid, skippedActions };
}

function describe(call: BedrockCall): InspectLine {
  const base = { requestId: call.requestId, principal: call.principal.id, principalArn: call.principal.arn };
  if (!hasTokens(call)) {
    return { ...base, model: resolveModelId(call.modelId), tokens: null, costUsd: null, source: call.source };
  }
  const charge = chargeFor(call);
  const { input, output, cacheRead, cacheWrite, cacheWrite1h = 0 } = call.tokens;
  return {
    ...base,
    model: charge.model,
    tokens: { input, output, cacheRead, cacheWrite, ...(cacheWrite1h > 0 ? { cacheWrite1h } : {}) },
    costUsd: toDecimalString(charge.costUsd),
    source: call.source,
    ...(charge.unknownModel ? { unknownModel: true } : {}),
    ...(call.errorCode ? { errorCode: call.errorCode } : {}),
  };
}
