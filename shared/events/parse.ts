import { gunzipSync } from 'node:zlib';
import type { z } from 'zod';
import { type IdentityRules, type Principal, principalFromArn } from '../identity';
import type { TokenCounts } from '../pricing';
import { cloudTrailEvent, invocationLog, logsSubscriptionPayload, METERED_OPERATIONS } from './schemas';

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
}

export type ParsedRecord =
  | { readonly status: 'call'; readonly call: BedrockCall }
  | { readonly status: 'ignored'; readonly reason: string }
  | { readonly status: 'invalid'; readonly error: string };

/** A record as it arrived, before parsing; `id` is what a partial batch failure names. */
export interface RawRecord {
  readonly id: string;
  readonly body: unknown;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

const invalid = (error: string): ParsedRecord => ({ status: 'invalid', error });

function identify(arn: string, rules: IdentityRules, roleArn?: string): Principal | string {
  try {
    return principalFromArn(arn, rules, roleArn);
  } catch (error) {
    return (error as Error).message;
  }
}

export function parseCloudTrailEvent(input: unknown, rules: IdentityRules): ParsedRecord {
  const parsed = cloudTrailEvent.safeParse(input);
  if (!parsed.success) return invalid(`invalid CloudTrail event: ${describeIssues(parsed.error)}`);
  const detail = parsed.data.detail;
  if (!(METERED_OPERATIONS as readonly string[]).includes(detail.eventName)) {
    return { status: 'ignored', reason: `${detail.eventName} is not a metered Bedrock runtime call` };
  }
  // A refused or failed call (throttled, access denied by a suspension) is not billed.
  if (detail.errorCode) return { status: 'ignored', reason: `call failed with ${detail.errorCode}` };
  const modelId = detail.requestParameters?.modelId;
  if (!modelId) return invalid('invalid CloudTrail event: detail.requestParameters.modelId is missing');
  const issuer = detail.userIdentity.sessionContext?.sessionIssuer;
  const principal = identify(detail.userIdentity.arn, rules, issuer?.type === 'Role' ? issuer.arn : undefined);
  if (typeof principal === 'string') return invalid(`invalid CloudTrail event: ${principal}`);
  return {
    status: 'call',
    call: {
      requestId: detail.requestID,
      source: 'cloudtrail',
      principal,
      operation: detail.eventName,
      modelId,
      region: detail.awsRegion,
      time: new Date(detail.eventTime).toISOString(),
    },
  };
}

const count = (...candidates: (number | null | undefined)[]): number => {
  for (const candidate of candidates) if (typeof candidate === 'number') return candidate;
  return 0;
};

export function parseInvocationLog(input: unknown, rules: IdentityRules): ParsedRecord {
  const parsed = invocationLog.safeParse(input);
  if (!parsed.success) return invalid(`invalid invocation log record: ${describeIssues(parsed.error)}`);
  const log = parsed.data;
  const principal = identify(log.identity.arn, rules);
  if (typeof principal === 'string') return invalid(`invalid invocation log record: ${principal}`);
  const usage = log.output.outputBodyJson?.usage;
  // `inputTokenCount` excludes cache reads and writes; they come from their own fields or the usage block.
  const cacheWrite1h = count(usage?.cache_creation?.ephemeral_1h_input_tokens);
  const cacheWriteAll = count(
    log.input.cacheWriteInputTokenCount,
    usage?.cacheWriteInputTokens,
    usage?.cache_creation_input_tokens,
  );
  const images = log.output.outputBodyJson?.images?.length ?? 0;
  const tokens: TokenCounts = {
    input: log.input.inputTokenCount,
    output: log.output.outputTokenCount,
    cacheRead: count(log.input.cacheReadInputTokenCount, usage?.cacheReadInputTokens, usage?.cache_read_input_tokens),
    cacheWrite: Math.max(0, cacheWriteAll - cacheWrite1h),
    ...(cacheWrite1h > 0 ? { cacheWrite1h } : {}),
    ...(images > 0 ? { images } : {}),
  };
  return {
    status: 'call',
    call: {
      requestId: log.requestId,
      source: 'invocation-log',
      principal,
      operation: log.operation,
      modelId: log.modelId,
      region: log.region,
      time: new Date(log.timestamp).toISOString(),
      tokens,
    },
  };
}

export class PayloadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PayloadError';
  }
}

/** A CloudWatch Logs subscription delivers `awslogs.data`: base64 of gzip of a JSON payload of log events. */
export function decodeLogsSubscription(data: string): RawRecord[] {
  let payload: unknown;
  try {
    payload = JSON.parse(gunzipSync(Buffer.from(data, 'base64')).toString('utf8'));
  } catch (cause) {
    throw new PayloadError('awslogs.data is not base64-encoded gzip JSON', { cause });
  }
  return logEventsOf(payload);
}

function logEventsOf(payload: unknown): RawRecord[] {
  const parsed = logsSubscriptionPayload.safeParse(payload);
  if (!parsed.success) throw new PayloadError(`not a CloudWatch Logs payload: ${describeIssues(parsed.error)}`);
  // CONTROL_MESSAGE is CloudWatch Logs checking that the destination is reachable: nothing to meter.
  if (parsed.data.messageType !== 'DATA_MESSAGE') return [];
  return parsed.data.logEvents.map((logEvent) => ({ id: logEvent.id, body: safeJson(logEvent.message) }));
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Parses one event of any supported shape. A bare CloudTrail record is wrapped as EventBridge would deliver it. */
export function parseRecord(body: unknown, rules: IdentityRules): ParsedRecord {
  if (!isObject(body)) return invalid('event is not a JSON object');
  if ('unparsable' in body) return invalid('log event message is not JSON');
  if ('schemaType' in body) return parseInvocationLog(body, rules);
  if ('detail-type' in body) return parseCloudTrailEvent(body, rules);
  if ('eventSource' in body && 'userIdentity' in body) {
    return parseCloudTrailEvent(
      { 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.bedrock', detail: body },
      rules,
    );
  }
  return invalid('unrecognised event: neither a CloudTrail event nor a Bedrock model invocation log record');
}

/** Splits any delivered document into records: a Logs subscription envelope yields one record per log event. */
export function expandDocument(body: unknown, id: string): RawRecord[] {
  if (isObject(body) && isObject(body.awslogs) && typeof body.awslogs.data === 'string') {
    return decodeLogsSubscription(body.awslogs.data);
  }
  if (isObject(body) && body.messageType === 'DATA_MESSAGE' && Array.isArray(body.logEvents)) {
    return logEventsOf(body);
  }
  return [{ id, body }];
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { unparsable: text };
  }
}
