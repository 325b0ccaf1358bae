import { gunzipSync } from 'node:zlib';
import type * as z from 'zod';
import { type IdentityRules, type Principal, principalFromArn } from '../identity';
import type { TokenCounts } from '../pricing';
import { limitViolation, MAX_DECODED_PAYLOAD_BYTES, MAX_LOG_EVENT_BYTES, shown } from './limits';
import {
  type CloudTrailEvent,
  cloudTrailEvent,
  EVENTBRIDGE_SOURCES,
  INFERENCE_OPERATIONS,
  type InvocationLog,
  invocationLog,
  logsSubscriptionPayload,
  METERED_OPERATIONS,
} from './schemas';
import { type BodyUsage, usageOf } from './usage';

/** Where a call's record came from; `coverage-sweep` charges calls whose invocation log never arrived. */
export type CallSource = 'cloudtrail' | 'invocation-log' | 'coverage-sweep';

/** One Bedrock request as an event reports it. Tokens are known only from the invocation log. */
export interface BedrockCall {
  readonly requestId: string;
  readonly source: CallSource;
  readonly principal: Principal;
  readonly operation: string;
  /** As the event names it: a model id, inference profile id or ARN. */
  readonly modelId: string;
  readonly region: string;
  /** ISO-8601 time of the call. */
  readonly time: string;
  readonly tokens?: TokenCounts;
  /** The error an invocation log reports for a call that failed or was blocked (a guardrail intervention). */
  readonly errorCode?: string;
}

/** Why a record was rejected, in a few words: what the rejections metric counts by. */
export type RejectionKind =
  | 'not-json'
  | 'unrecognised-event'
  | 'invalid-cloudtrail-event'
  | 'invalid-invocation-log'
  | 'self-contradicting-log'
  | 'unknown-principal'
  | 'over-limit'
  | 'unknown-operation'
  | 'unpriceable'
  | 'unreadable-payload'
  | 'untrusted-envelope';

export type ParsedRecord =
  | { readonly status: 'call'; readonly call: BedrockCall }
  | { readonly status: 'ignored'; readonly reason: string }
  | { readonly status: 'invalid'; readonly error: string; readonly kind: RejectionKind };

/**
 * How a record reached ingest. Each route carries one kind of record: EventBridge (through the CloudTrail queue, or
 * invoking ingest itself) CloudTrail events, a CloudWatch Logs subscription model invocation log records.
 */
export type Route = 'eventbridge' | 'logs-subscription';

/** A record as it arrived, before parsing; `id` is what a partial batch failure names. */
export interface RawRecord {
  readonly id: string;
  readonly body: unknown;
  /** The route its envelope says it took; absent for a record read on its own (`budgeteer inspect`). */
  readonly route?: Route;
  /** The account its envelope says it came from (a Logs delivery's `owner`), where the envelope says one. */
  readonly account?: string;
}

/**
 * What ingest believes: envelopes from the deployment's own account and invocation log group. AWS writes these
 * fields (EventBridge's `account`, a subscription's `owner` and `logGroup`); a record that names another was not
 * delivered by AWS for this deployment, and is rejected.
 */
export interface TrustedSources {
  readonly account: string;
  readonly invocationLogGroup: string;
  /**
   * Set in an organization deployment: envelopes from any account are believed, because only the organization's
   * accounts can reach ingest (the central bus's policy and the Logs destination's are conditioned on its id).
   */
  readonly organizationId?: string;
}

/** Why an envelope from `account` is not believed, if it is not. */
function foreignAccount(account: string | undefined, trusted: TrustedSources): string | undefined {
  if (trusted.organizationId !== undefined && account !== undefined && /^\d{12}$/.test(account)) return undefined;
  if (account === trusted.account) return undefined;
  return trusted.organizationId === undefined
    ? `account ${account ?? '(none)'}, not this deployment's account ${trusted.account}`
    : `account ${JSON.stringify(account ?? null)}, not an account id of organization ${trusted.organizationId}`;
}

/** A record's route and what its envelope must say there: given, a record on the wrong route is rejected. */
export interface Origin {
  readonly route: Route;
  readonly trusted: TrustedSources;
  /** The account the delivery came from (a Logs delivery's `owner`); an EventBridge event says its own. */
  readonly account?: string;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

const invalid = (kind: RejectionKind, error: string): ParsedRecord => ({ status: 'invalid', error, kind });

/** A call, unless a value of it is over a limit AWS would refuse it for (see ./limits): then only it is rejected. */
function called(call: BedrockCall, source: string): ParsedRecord {
  const violation = limitViolation(call);
  return violation ? invalid('over-limit', `invalid ${source}: ${violation}`) : { status: 'call', call };
}

function identify(arn: string, rules: IdentityRules, roleArn?: string): Principal | string {
  try {
    return principalFromArn(arn, rules, roleArn);
  } catch (error) {
    return (error as Error).message;
  }
}

/** Why an event's envelope is not one AWS sent to this deployment, if it is not. */
function untrustedEvent(event: CloudTrailEvent, trusted?: TrustedSources): string | undefined {
  const expected = EVENTBRIDGE_SOURCES[event.detail.eventSource];
  if (event.source !== expected) {
    return `source ${event.source} does not send ${event.detail.eventSource} events (AWS sends them as ${expected})`;
  }
  const foreign = trusted && foreignAccount(event.account, trusted);
  return foreign && `the event is from ${foreign}`;
}

export function parseCloudTrailEvent(input: unknown, rules: IdentityRules, trusted?: TrustedSources): ParsedRecord {
  const parsed = cloudTrailEvent.safeParse(input);
  if (!parsed.success) {
    return invalid('invalid-cloudtrail-event', `invalid CloudTrail event: ${describeIssues(parsed.error)}`);
  }
  const untrusted = untrustedEvent(parsed.data, trusted);
  if (untrusted) return invalid('untrusted-envelope', `untrusted CloudTrail event: ${untrusted}`);
  const detail = parsed.data.detail;
  if (!INFERENCE_OPERATIONS[detail.eventSource]?.includes(detail.eventName)) {
    // CloudTrail records every Bedrock call, so a file of its events holds calls that cost nothing; but the rule
    // that feeds ingest routes only inference calls, so on that route any other is not an event AWS sent.
    if (trusted) {
      return invalid(
        'unknown-operation',
        `invalid CloudTrail event: ${shown(detail.eventName)} is not an inference call of ${detail.eventSource} (the rule routes only ${INFERENCE_OPERATIONS[detail.eventSource]?.join(', ')})`,
      );
    }
    return { status: 'ignored', reason: `${shown(detail.eventName)} is not a metered Bedrock inference call` };
  }
  // A refused or failed call (throttled, access denied by a suspension) is not billed.
  if (detail.errorCode) return { status: 'ignored', reason: `call failed with ${detail.errorCode}` };
  const modelId = detail.requestParameters?.modelId ?? detail.requestParameters?.model;
  if (!modelId) {
    return invalid('invalid-cloudtrail-event', 'invalid CloudTrail event: detail.requestParameters.modelId is missing');
  }
  const issuer = detail.userIdentity.sessionContext?.sessionIssuer;
  const principal = identify(detail.userIdentity.arn, rules, issuer?.type === 'Role' ? issuer.arn : undefined);
  if (typeof principal === 'string') return invalid('unknown-principal', `invalid CloudTrail event: ${principal}`);
  return called(
    {
      requestId: detail.requestID,
      source: 'cloudtrail',
      principal,
      operation: detail.eventName,
      modelId,
      region: detail.awsRegion,
      time: new Date(detail.eventTime).toISOString(),
    },
    'CloudTrail event',
  );
}

interface EnvelopeCounts {
  readonly input?: number;
  readonly output?: number;
  readonly cacheRead?: number;
  readonly cacheWrite?: number;
}

const defined = (value: number | null | undefined): number | undefined => value ?? undefined;

/** Names the first count in which the stream's own totals disagree with the envelope, if any. */
function contradiction(envelope: EnvelopeCounts, body: BodyUsage): string | undefined {
  const metrics = body.streamMetrics;
  if (!metrics) return undefined;
  const fields = [
    ['input', 'input.inputTokenCount', 'inputTokenCount'],
    ['output', 'output.outputTokenCount', 'outputTokenCount'],
    ['cacheRead', 'input.cacheReadInputTokenCount', 'cacheReadInputTokenCount'],
    ['cacheWrite', 'input.cacheWriteInputTokenCount', 'cacheWriteInputTokenCount'],
  ] as const;
  for (const [field, envelopeName, metricName] of fields) {
    const stated = envelope[field];
    const streamed = metrics[field];
    if (stated !== undefined && streamed !== undefined && stated !== streamed) {
      return `${envelopeName} is ${stated} but the stream's amazon-bedrock-invocationMetrics.${metricName} is ${streamed}`;
    }
  }
  return undefined;
}

/**
 * OpenAI-style usage (gpt-oss) counts cached prompt tokens inside the prompt. Where the envelope has no cache reads
 * of its own, those tokens are moved from input to cache reads when the envelope counted them as input, or added as
 * cache reads when it had left them out; they are never counted twice.
 */
function withCachedPrompt(tokens: TokenCounts, body: BodyUsage): TokenCounts {
  const cached = body.cachedPrompt ?? 0;
  if (cached === 0 || tokens.cacheRead > 0) return tokens;
  const included = body.prompt === undefined ? cached <= tokens.input : body.prompt === tokens.input;
  if (included && cached <= tokens.input) return { ...tokens, input: tokens.input - cached, cacheRead: cached };
  if (body.prompt !== undefined && body.prompt - cached === tokens.input) return { ...tokens, cacheRead: cached };
  return tokens;
}

type Metered = { readonly tokens?: TokenCounts } | { readonly contradiction: string };

/**
 * The tokens of a record: the envelope's counts, else the stream's own totals, else the body's usage. The body
 * splits cache writes by TTL. A record whose parts disagree is reported, never guessed at. A record with no counts
 * anywhere is a call that cost nothing (a guardrail blocked the prompt, or the call failed), unless its body went to
 * S3: then its tokens are unknown and the coverage sweep charges the estimate.
 */
function meter(log: InvocationLog): Metered {
  const envelope: EnvelopeCounts = {
    input: defined(log.input?.inputTokenCount),
    output: defined(log.output?.outputTokenCount),
    cacheRead: defined(log.input?.cacheReadInputTokenCount),
    cacheWrite: defined(log.input?.cacheWriteInputTokenCount),
  };
  const body = usageOf(log.output?.outputBodyJson);
  const disagreement = contradiction(envelope, body);
  if (disagreement) return { contradiction: disagreement };
  const metrics = body.streamMetrics ?? {};
  const pick = (field: keyof EnvelopeCounts) => envelope[field] ?? metrics[field] ?? body[field];
  const counts = {
    input: pick('input'),
    output: pick('output'),
    cacheRead: pick('cacheRead'),
    cacheWrite: pick('cacheWrite'),
  };
  if (Object.values(counts).every((value) => value === undefined)) {
    const offloaded = Boolean(log.input?.inputBodyS3Path || log.output?.outputBodyS3Path);
    return offloaded && !log.errorCode ? {} : { tokens: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 } };
  }
  const cacheWrite = counts.cacheWrite ?? 0;
  const cacheWrite1h = body.cacheWrite1h ?? 0;
  if (cacheWrite1h > cacheWrite) {
    return {
      contradiction: `the body reports ${cacheWrite1h} one-hour cache write tokens but the record has ${cacheWrite} cache write tokens`,
    };
  }
  const tokens: TokenCounts = {
    input: counts.input ?? 0,
    output: counts.output ?? 0,
    cacheRead: counts.cacheRead ?? 0,
    cacheWrite: cacheWrite - cacheWrite1h,
    ...(cacheWrite1h > 0 ? { cacheWrite1h } : {}),
    ...(body.images ? { images: body.images } : {}),
  };
  return { tokens: withCachedPrompt(tokens, body) };
}

export function parseInvocationLog(input: unknown, rules: IdentityRules): ParsedRecord {
  const parsed = invocationLog.safeParse(input);
  if (!parsed.success) {
    return invalid('invalid-invocation-log', `invalid invocation log record: ${describeIssues(parsed.error)}`);
  }
  const log = parsed.data;
  const principal = identify(log.identity.arn, rules);
  if (typeof principal === 'string') return invalid('unknown-principal', `invalid invocation log record: ${principal}`);
  const metered = meter(log);
  if ('contradiction' in metered) {
    return invalid('self-contradicting-log', `invocation log record contradicts itself: ${metered.contradiction}`);
  }
  const parsedCall = called(
    {
      requestId: log.requestId,
      source: 'invocation-log',
      principal,
      operation: log.operation,
      modelId: log.modelId,
      region: log.region,
      time: new Date(log.timestamp).toISOString(),
      ...(metered.tokens ? { tokens: metered.tokens } : {}),
      ...(log.errorCode ? { errorCode: log.errorCode } : {}),
    },
    'invocation log record',
  );
  // Invocation logging records the runtime's inference operations only: another name is not a call it logged.
  if (parsedCall.status === 'call' && !(METERED_OPERATIONS as readonly string[]).includes(log.operation)) {
    return invalid(
      'unknown-operation',
      `invalid invocation log record: operation ${shown(log.operation)} is not one invocation logging records (${METERED_OPERATIONS.join(', ')})`,
    );
  }
  return parsedCall;
}

export class PayloadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PayloadError';
  }
}

/** A whole delivery whose envelope is not one AWS sent to this deployment: none of its records is believed. */
export class EnvelopeError extends Error {
  constructor(
    message: string,
    /** The delivery as decoded, to keep with the reason. */
    readonly payload: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EnvelopeError';
  }
}

/** A CloudWatch Logs subscription delivers `awslogs.data`: base64 of gzip of a JSON payload of log events. */
export function decodeLogsSubscription(data: string, trusted?: TrustedSources): RawRecord[] {
  let payload: unknown;
  try {
    const inflated = gunzipSync(Buffer.from(data, 'base64'), { maxOutputLength: MAX_DECODED_PAYLOAD_BYTES });
    payload = JSON.parse(inflated.toString('utf8'));
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new PayloadError(
        `awslogs.data inflates to more than ${MAX_DECODED_PAYLOAD_BYTES} bytes, more than a CloudWatch Logs delivery holds`,
        { cause },
      );
    }
    throw new PayloadError('awslogs.data is not base64-encoded gzip JSON', { cause });
  }
  return logEventsOf(payload, trusted);
}

function logEventsOf(payload: unknown, trusted?: TrustedSources): RawRecord[] {
  const parsed = logsSubscriptionPayload.safeParse(payload);
  if (!parsed.success) throw new PayloadError(`not a CloudWatch Logs payload: ${describeIssues(parsed.error)}`);
  const { owner, logGroup } = parsed.data;
  // CONTROL_MESSAGE is CloudWatch Logs checking that the destination is reachable (owner `CloudwatchLogs`, no log
  // group): nothing to meter, and no envelope to judge.
  if (parsed.data.messageType === 'CONTROL_MESSAGE') return [];
  const foreign = trusted && foreignAccount(owner, trusted);
  if (foreign) throw new EnvelopeError(`untrusted CloudWatch Logs delivery: its owner is ${foreign}`, payload);
  if (trusted && logGroup !== trusted.invocationLogGroup) {
    throw new EnvelopeError(
      `untrusted CloudWatch Logs delivery: it is from log group ${logGroup ?? '(none)'}, not the invocation log group ${trusted.invocationLogGroup}`,
      payload,
    );
  }
  if (parsed.data.messageType !== 'DATA_MESSAGE') return [];
  return parsed.data.logEvents.map((logEvent) => ({
    id: logEvent.id,
    body: messageBody(logEvent.message),
    route: 'logs-subscription' as const,
    ...(owner === undefined ? {} : { account: owner }),
  }));
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Why a record may not take the route it came by, if it may not: each route carries one kind of record. */
function offRoute(body: Record<string, unknown>, route: Route): string | undefined {
  if (route === 'logs-subscription' && !('schemaType' in body)) {
    return 'a CloudWatch Logs subscription delivers model invocation log records only';
  }
  if (route === 'eventbridge' && !('detail-type' in body)) {
    return 'only EventBridge CloudTrail events come this way; invocation log records come by the Logs subscription';
  }
  return undefined;
}

/**
 * Parses one event of any supported shape. A bare CloudTrail record is wrapped as EventBridge would deliver it,
 * unless `origin` is given: then the record must be the kind its route carries, with an envelope AWS sent to this
 * deployment (see TrustedSources).
 */
export function parseRecord(body: unknown, rules: IdentityRules, origin?: Origin): ParsedRecord {
  const parsed = parseAnyRecord(body, rules, origin);
  const strayed = origin?.trusted.organizationId && parsed.status === 'call' && otherAccount(parsed.call, body, origin);
  return strayed ? invalid('untrusted-envelope', `untrusted record: ${strayed}`) : parsed;
}

/**
 * In an organization, why a call is not its envelope's account's to report, if it is not: every member account
 * may deliver, so each may speak only of its own principals (a member forging a log record of another account's
 * principal would charge, and deny, someone it has no say over).
 */
function otherAccount(call: BedrockCall, body: unknown, origin: Origin): string | undefined {
  const envelope = origin.account ?? (body as { account?: unknown }).account;
  if (envelope === call.principal.accountId) return undefined;
  return `it names ${call.principal.arn} of account ${call.principal.accountId}, but came from account ${String(envelope ?? '(none)')}`;
}

function parseAnyRecord(body: unknown, rules: IdentityRules, origin?: Origin): ParsedRecord {
  if (body instanceof UnreadableMessage) return invalid(body.kind, body.reason);
  if (!isObject(body)) return invalid('unrecognised-event', 'event is not a JSON object');
  const strayed = origin && offRoute(body, origin.route);
  if (strayed) return invalid('untrusted-envelope', `untrusted record: ${strayed}`);
  if ('schemaType' in body) return parseInvocationLog(body, rules);
  if ('detail-type' in body) return parseCloudTrailEvent(body, rules, origin?.trusted);
  if ('eventSource' in body && 'userIdentity' in body) {
    return parseCloudTrailEvent(
      { 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.bedrock', detail: body },
      rules,
    );
  }
  return invalid(
    'unrecognised-event',
    'unrecognised event: neither a CloudTrail event nor a Bedrock model invocation log record',
  );
}

/**
 * Splits any delivered document into records: a Logs subscription envelope yields one record per log event, anything
 * else is one record that came by EventBridge. With `trusted`, a subscription from another account or log group
 * throws EnvelopeError.
 */
export function expandDocument(body: unknown, id: string, trusted?: TrustedSources): RawRecord[] {
  if (isObject(body) && isObject(body.awslogs) && typeof body.awslogs.data === 'string') {
    return decodeLogsSubscription(body.awslogs.data, trusted);
  }
  if (isObject(body) && body.messageType === 'DATA_MESSAGE' && Array.isArray(body.logEvents)) {
    return logEventsOf(body, trusted);
  }
  return [{ id, body, route: 'eventbridge' }];
}

/**
 * A log event message that could not be read as a record, kept with why: a class of its own, so no JSON document
 * can pass for one. It serialises to its text, as the message was (the rejected-records queue, a local replay).
 */
export class UnreadableMessage {
  constructor(
    readonly kind: RejectionKind,
    readonly reason: string,
    readonly text: string,
  ) {}

  toJSON(): string {
    return this.text;
  }
}

function messageBody(text: string): unknown {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_LOG_EVENT_BYTES) {
    return new UnreadableMessage(
      'over-limit',
      `log event message is ${bytes} bytes; CloudWatch Logs delivers events of at most ${MAX_LOG_EVENT_BYTES}`,
      `${text.slice(0, 1000)}…(truncated)`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    return new UnreadableMessage('not-json', 'log event message is not JSON', text);
  }
}
