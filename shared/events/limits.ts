/**
 * The limits AWS puts on values that reach it from a Bedrock record, checked when the record is parsed, so that a
 * record AWS would refuse is rejected alone with its reason instead of failing the write (and with it every good
 * record of its batch). Where AWS's own limit is larger than any real value, a smaller sane bound is taken and
 * said so below.
 *
 * Where input values go: the principal id is the Budgets partition key and the Audit partition key (`subject`);
 * the request id is the Usage partition key; the model id is part of a Budgets partition key (`MODEL#<model>`,
 * an unknown model's marker) and of an attribute name (`modelSpend:<model>`); the principal's user, role or
 * session name is what IAM's PutUserPolicy / PutRolePolicy are called with; all of them appear in SNS alerts and
 * Step Functions execution input. Step Functions execution names are hashed and cut to 80 characters of
 * [A-Za-z0-9-_] where they are made (shared/decisions/outbox.ts), so no input value reaches one as it is.
 */

import type { Principal } from '../identity';
import type { TokenCounts } from '../pricing';

/** DynamoDB: a partition key value is at most 2,048 bytes, a sort key value at most 1,024 (UTF-8). */
export const MAX_PARTITION_KEY_BYTES = 2048;
export const MAX_SORT_KEY_BYTES = 1024;
// SNS: a message is at most 256 KiB, a subject 100 characters (shared/notify cuts it); with the bounds below an
// alert, a few input values in fixed text, stays a few KiB at most.
/** Step Functions: an execution name is 1 to 80 characters of [A-Za-z0-9-_] (made from a hash, see above). */
export const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/** IAM: an ARN is at most 2,048 characters; a path at most 512. */
export const MAX_ARN_LENGTH = 2048;
export const MAX_IAM_PATH_LENGTH = 512;
/** IAM names: users and roles 1-64, role sessions 2-64, federated users 2-32 characters of [\w+=,.@-]. */
export const IAM_NAME = { user: 64, role: 64, session: 64, federatedUser: 32 } as const;
const IAM_NAME_CHARACTERS = /^[\w+=,.@-]+$/;

/**
 * A request id is a Usage partition key (2,048 bytes in DynamoDB); Bedrock's and CloudTrail's are UUIDs, so 256
 * bytes is ample and leaves room should one ever be part of a longer key.
 */
export const MAX_REQUEST_ID_BYTES = 256;
/** A model id is part of a partition key (`MODEL#…`); kept within a sort key's 1,024 bytes, Bedrock's are short. */
export const MAX_MODEL_ID_BYTES = MAX_SORT_KEY_BYTES;
/**
 * The characters of Bedrock's model identifiers (its API's modelId pattern): ids such as `anthropic.claude-3-haiku-
 * 20240307-v1:0`, profile ids, and foundation-model, inference-profile, provisioned and custom model ARNs. A "model"
 * with quotes, spaces or angle brackets was not named by Bedrock, and would reach alerts and pages as it is.
 */
export const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
/** Request ids are UUIDs (CloudTrail's requestID, the invocation log's requestId); a key of this shape at least. */
export const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
/** A region name such as us-east-1 or us-gov-west-1. */
export const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
/** Operation and error names: identifiers, stored and shown as they are. */
export const MAX_NAME_BYTES = 256;
/**
 * Tokens of one record, per count: the largest Bedrock context windows hold a few million tokens, so a billion is
 * a count no real call reaches, and a batch of such counts stays far inside exact integer arithmetic (2^53).
 */
export const MAX_TOKENS_PER_RECORD = 1_000_000_000;
/** Images one record generates: image models return a handful per call. */
export const MAX_IMAGES_PER_RECORD = 1000;
/**
 * CloudWatch Logs takes a log event of at most 1 MiB (256 KiB before 2025); a bigger message was not delivered by
 * it, and is rejected unread.
 */
export const MAX_LOG_EVENT_BYTES = 1024 * 1024;
/** EventBridge takes an event of at most 256 KiB: a bigger CloudTrail event on the queue was not put there by it. */
export const MAX_EVENT_BYTES = 256 * 1024;
/**
 * A Logs subscription payload inflates to at most this: a delivery holds at most 1 MiB of base64 gzip (Lambda's
 * limit for an asynchronous invocation), and log records compress about tenfold. A payload that inflates further
 * is a decompression bomb, refused before it takes the function's memory.
 */
export const MAX_DECODED_PAYLOAD_BYTES = 32 * 1024 * 1024;
/**
 * When a call can have happened: not before Amazon Bedrock existed (its preview opened in April 2023), and in a
 * period whose key and end are still four-digit-year dates (a call in 9999 has a weekly or monthly period that ends
 * in the year 10000). A time outside is a broken clock or a forgery; charged, it would sit in a period nobody
 * watches instead of the budget it belongs to.
 */
export const EARLIEST_CALL_TIME = '2023-04-01T00:00:00.000Z';
export const LATEST_CALL_TIME = '9999-01-01T00:00:00.000Z';
const EARLIEST_CALL_MS = Date.parse(EARLIEST_CALL_TIME);
const LATEST_CALL_MS = Date.parse(LATEST_CALL_TIME);
const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The part of a call the limits concern. */
export interface LimitedCall {
  readonly requestId: string;
  readonly principal: Principal;
  readonly operation: string;
  readonly modelId: string;
  readonly region: string;
  /** ISO-8601 time of the call. */
  readonly time: string;
  readonly tokens?: TokenCounts;
  readonly errorCode?: string;
}

/** Why the call's values cannot be written as they are, or undefined when they all fit. */
export function limitViolation(call: LimitedCall): string | undefined {
  return (
    identifier('requestId', call.requestId, MAX_REQUEST_ID_BYTES, `a Usage key (limit ${MAX_REQUEST_ID_BYTES})`) ??
    shaped('requestId', call.requestId, REQUEST_ID, 'a request id (letters, digits and . _ : -)') ??
    identifier('modelId', call.modelId, MAX_MODEL_ID_BYTES, `a Budgets key (limit ${MAX_MODEL_ID_BYTES})`) ??
    shaped('modelId', call.modelId, MODEL_ID, 'a Bedrock model id or ARN') ??
    identifier('operation', call.operation, MAX_NAME_BYTES, `an operation name (limit ${MAX_NAME_BYTES})`) ??
    (call.errorCode === undefined
      ? undefined
      : identifier('errorCode', call.errorCode, MAX_NAME_BYTES, `an error code (limit ${MAX_NAME_BYTES})`)) ??
    (REGION.test(call.region) ? undefined : `region ${shown(call.region)} is not an AWS region name`) ??
    principalViolation(call.principal) ??
    timeViolation(call.time) ??
    tokensViolation(call.tokens)
  );
}

function shaped(field: string, value: string, shape: RegExp, what: string): string | undefined {
  return shape.test(value) ? undefined : `${field} ${shown(value)} is not ${what}`;
}

function timeViolation(time: string): string | undefined {
  // Compared as instants: an offset can carry a four-digit time into year 10000 or year -1 (`+010000-…`).
  const at = Date.parse(time);
  if (!(at >= EARLIEST_CALL_MS)) {
    return `the call time ${time} is before Amazon Bedrock existed (${EARLIEST_CALL_TIME.slice(0, 10)})`;
  }
  if (at >= LATEST_CALL_MS) {
    return `the call time ${time} is in the year 9999 or later: its period would end after the last four-digit year`;
  }
  return undefined;
}

function identifier(field: string, value: string, maxBytes: number, what: string): string | undefined {
  const size = bytes(value);
  if (size > maxBytes) return `${field} is ${size} bytes, too long for ${what} bytes)`;
  if (CONTROL.test(value)) return `${field} ${shown(value)} holds control characters`;
  return undefined;
}

/** IAM's limits on the entity a principal names: the deny policy is put on it by name. */
function principalViolation(principal: Principal): string | undefined {
  if (principal.arn.length > MAX_ARN_LENGTH) {
    return `the principal ARN is ${principal.arn.length} characters; IAM ARNs have at most ${MAX_ARN_LENGTH}`;
  }
  const path = principal.kind === 'user' || principal.kind === 'api-key' ? userPath(principal.arn) : '';
  if (path.length > MAX_IAM_PATH_LENGTH) {
    return `the principal's IAM path is ${path.length} characters; IAM paths have at most ${MAX_IAM_PATH_LENGTH}`;
  }
  switch (principal.kind) {
    case 'root':
      return undefined;
    case 'user':
    case 'api-key':
      return iamName('user name', principal.name, 1, IAM_NAME.user);
    case 'role':
      return iamName('role name', principal.name, 1, IAM_NAME.role);
    case 'session':
      return (
        iamName('role name', principal.name, 1, IAM_NAME.role) ??
        iamName('role session name', principal.sessionName ?? '', 2, IAM_NAME.session)
      );
    case 'federated-user':
      return iamName('federated user name', principal.name, 2, IAM_NAME.federatedUser);
  }
}

/** `arn:aws:iam::A:user/a/b/name` has the path `/a/b/`. */
function userPath(arn: string): string {
  const resource = arn.slice(arn.indexOf(':user/') + ':user'.length);
  return resource.slice(0, resource.lastIndexOf('/') + 1);
}

function iamName(what: string, name: string, min: number, max: number): string | undefined {
  if (name.length < min || name.length > max) {
    return `the ${what} is ${name.length} characters; IAM takes ${min} to ${max}`;
  }
  if (!IAM_NAME_CHARACTERS.test(name)) return `the ${what} ${shown(name)} has characters IAM does not allow`;
  return undefined;
}

function tokensViolation(tokens: TokenCounts | undefined): string | undefined {
  if (!tokens) return undefined;
  for (const [field, count] of Object.entries(tokens) as [string, number | undefined][]) {
    const max = field === 'images' ? MAX_IMAGES_PER_RECORD : MAX_TOKENS_PER_RECORD;
    if (count !== undefined && count > max) {
      return `${field} is ${count}, more than ${max.toLocaleString('en-US')} per record`;
    }
  }
  return undefined;
}

/** A value echoed in a reason, cut short: a 3,000-byte name must not become the message. */
export function shown(value: string): string {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
