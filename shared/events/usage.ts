/**
 * Reads what the body of a model invocation log record says about tokens. The record's envelope holds the counts;
 * a body only refines them (the split of cache writes by TTL, a provider's own cache fields) or stands in where the
 * envelope says nothing. A body may be any JSON value, so nothing here throws or trusts a field it has not checked:
 * what is not a well-formed count is not read.
 */

/** The stream's own totals, sent in its last event as `amazon-bedrock-invocationMetrics`. */
export interface StreamMetrics {
  readonly input?: number;
  readonly output?: number;
  readonly cacheRead?: number;
  readonly cacheWrite?: number;
}

/** What a body reports; a field is absent where the body does not say. */
export interface BodyUsage {
  readonly input?: number;
  readonly output?: number;
  readonly cacheRead?: number;
  /** All cache writes, whatever their TTL. */
  readonly cacheWrite?: number;
  /** The part of `cacheWrite` written with a one-hour TTL (priced above the five-minute default). */
  readonly cacheWrite1h?: number;
  /** OpenAI-style usage: prompt tokens served from cache, counted inside `prompt`. */
  readonly cachedPrompt?: number;
  /** OpenAI-style usage: all prompt tokens, cached ones included. */
  readonly prompt?: number;
  readonly streamMetrics?: StreamMetrics;
  /** Images generated (image models list them in the body). */
  readonly images?: number;
}

type Json = Record<string, unknown>;

const objectOf = (value: unknown): Json | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;

const countOf = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;

const first = (...candidates: (number | undefined)[]): number | undefined =>
  candidates.find((candidate) => candidate !== undefined);

/** Sums `inputTokens` of Converse `usage.cacheDetails` entries with the given TTL; undefined if there are none. */
function cacheDetailTokens(details: unknown, ttl?: string): number | undefined {
  if (!Array.isArray(details)) return undefined;
  let sum: number | undefined;
  for (const entry of details) {
    const detail = objectOf(entry);
    const tokens = countOf(detail?.inputTokens);
    if (tokens === undefined || (ttl !== undefined && detail?.ttl !== ttl)) continue;
    sum = (sum ?? 0) + tokens;
  }
  return sum;
}

/**
 * One usage block in any of the shapes Bedrock passes through: Converse `TokenUsage` (`inputTokens`,
 * `cacheWriteInputTokens`, `cacheDetails`), Anthropic messages (`input_tokens`, `cache_creation`) and OpenAI
 * (`prompt_tokens` / `input_tokens` with `*_tokens_details.cached_tokens`, which count inside the prompt).
 */
function readUsage(raw: unknown): BodyUsage {
  const usage = objectOf(raw);
  if (!usage) return {};
  const creation = objectOf(usage.cache_creation);
  const openAiDetails = objectOf(usage.input_tokens_details) ?? objectOf(usage.prompt_tokens_details);
  const cachedPrompt = countOf(openAiDetails?.cached_tokens);
  const cacheWrite1h = first(cacheDetailTokens(usage.cacheDetails, '1h'), countOf(creation?.ephemeral_1h_input_tokens));
  return {
    input: openAiDetails ? undefined : first(countOf(usage.inputTokens), countOf(usage.input_tokens)),
    output: first(countOf(usage.outputTokens), countOf(usage.output_tokens), countOf(usage.completion_tokens)),
    cacheRead: first(countOf(usage.cacheReadInputTokens), countOf(usage.cache_read_input_tokens)),
    cacheWrite: first(
      countOf(usage.cacheWriteInputTokens),
      countOf(usage.cache_creation_input_tokens),
      cacheDetailTokens(usage.cacheDetails),
    ),
    ...(cacheWrite1h !== undefined ? { cacheWrite1h } : {}),
    ...(cachedPrompt !== undefined
      ? { cachedPrompt, prompt: first(countOf(usage.prompt_tokens), countOf(usage.input_tokens)) }
      : {}),
  };
}

function readStreamMetrics(raw: unknown): StreamMetrics | undefined {
  const metrics = objectOf(raw);
  if (!metrics) return undefined;
  return {
    input: countOf(metrics.inputTokenCount),
    output: countOf(metrics.outputTokenCount),
    cacheRead: countOf(metrics.cacheReadInputTokenCount),
    cacheWrite: countOf(metrics.cacheWriteInputTokenCount),
  };
}

/** Later reports win field by field: a stream's last usage is its total. */
function overlay(base: BodyUsage, next: BodyUsage): BodyUsage {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(next)) if (value !== undefined) merged[key] = value;
  return merged as BodyUsage;
}

/**
 * A streamed body is the array of the stream's events: Anthropic `message_start` (prompt usage, cache TTL split)
 * and `message_delta` (output so far), ConverseStream and Nova `metadata.usage`, OpenAI chunks with `usage`, the
 * last event's `amazon-bedrock-invocationMetrics`, and sometimes a trailing `"[DONE]"` string.
 */
function readStream(events: readonly unknown[]): BodyUsage {
  let usage: BodyUsage = {};
  for (const item of events) {
    const event = objectOf(item);
    if (!event) continue;
    if (event.type === 'message_start') usage = overlay(usage, readUsage(objectOf(event.message)?.usage));
    else if (event.usage !== undefined) usage = overlay(usage, readUsage(event.usage));
    const metadata = objectOf(event.metadata);
    if (metadata?.usage !== undefined) usage = overlay(usage, readUsage(metadata.usage));
    const metrics = readStreamMetrics(event['amazon-bedrock-invocationMetrics']);
    if (metrics) usage = { ...usage, streamMetrics: metrics };
  }
  return usage;
}

/** What an output body says about tokens; `{}` for a body that says nothing (or is not there). */
export function usageOf(body: unknown): BodyUsage {
  if (Array.isArray(body)) return readStream(body);
  const object = objectOf(body);
  if (!object) return {};
  const usage = readUsage(object.usage);
  const images = Array.isArray(object.images) ? object.images.length : 0;
  const metrics = readStreamMetrics(object['amazon-bedrock-invocationMetrics']);
  return { ...usage, ...(images > 0 ? { images } : {}), ...(metrics ? { streamMetrics: metrics } : {}) };
}
