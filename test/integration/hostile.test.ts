import { gzipSync } from 'node:zlib';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import Big from 'big.js';
import { LOCAL_ACCOUNT_ID } from '../../local/aws';
import { BudgetStore } from '../../shared/budgets';
import { decimalOf } from '../../shared/budgets/items';
import { usd } from '../../shared/money';
import { cloudTrailEvent, invocationLog } from '../fixtures';
import { deliverLogs, documents, item, lambda, local, output, settle, sqs, unique } from './support';

/**
 * Hostile and malformed records, each delivered beside a valid record of its own principal in the same delivery:
 * each is rejected with its reason and kind (the rejected-records queue, which the RejectedRecords metric counts by
 * kind), leaves no Usage row and no spend, and its neighbour is counted exactly. Deliveries whose envelope cannot be
 * read are rejected whole; a valid delivery after them is counted.
 */
const tag = unique();
const year = 2100 + Math.floor(Math.random() * 5000);
const period = `${year}-06`;
const timestamp = `${year}-06-12T08:00:00Z`;
/** CloudTrail sightings are in a month of their own: the coverage sweep may charge them, never in `period`. */
const sightingTime = `${year}-07-12T08:00:00Z`;
const HAIKU_CALL_USD = '0.000375'; // 1,000 input x $0.25/M + 100 output x $1.25/M, Claude 3 Haiku

interface HostileCase {
  readonly name: string;
  /** The record as delivered; `arn` is the neighbour's principal, `marker` names the case in the rejected record. */
  readonly record: (arn: string, marker: string) => unknown;
  readonly kind: string;
  readonly reason: RegExp;
}

const log = (marker: string, arn: string, overrides: Record<string, unknown> = {}) =>
  invocationLog(marker, arn, { timestamp, ...overrides });
const without = (record: Record<string, unknown>, field: string) => {
  const { [field]: _dropped, ...rest } = record;
  return rest;
};
/** A record as JSON text with a body nested `levels` deep: deeper than JSON.stringify can write. */
const nested = (record: Record<string, unknown>, levels: number) =>
  `${JSON.stringify(without(record, 'output')).slice(0, -1)},"output":{"outputBodyJson":${'['.repeat(levels)}${']'.repeat(levels)}}}`;

/** Invocation log records, by the CloudWatch Logs subscription. */
const LOG_CASES: HostileCase[] = [
  {
    name: 'a missing requestId',
    record: (arn, m) => ({ ...without(log('x', arn), 'requestId'), schemaVersion: m }),
    kind: 'invalid-invocation-log',
    reason: /^invalid invocation log record: requestId: Invalid input: expected string, received undefined/,
  },
  {
    name: 'a requestId that is a number',
    record: (arn, m) => ({ ...log('x', arn), requestId: 12345, schemaVersion: m }),
    kind: 'invalid-invocation-log',
    reason: /requestId: Invalid input: expected string, received number/,
  },
  {
    name: 'a missing identity',
    record: (arn, m) => without(log(m, arn), 'identity'),
    kind: 'invalid-invocation-log',
    reason: /identity: Invalid input: expected object, received undefined/,
  },
  {
    name: 'an identity ARN that is a number',
    record: (_arn, m) => log(m, 'x', { identity: { arn: 111122223333 } }),
    kind: 'invalid-invocation-log',
    reason: /identity\.arn: Invalid input: expected string, received number/,
  },
  {
    name: 'an identity smuggled in __proto__',
    record: (arn, m) =>
      JSON.parse(
        `{"__proto__":{"identity":{"arn":"${arn}"}},${JSON.stringify(without(log(m, arn), 'identity')).slice(1)}`,
      ),
    kind: 'invalid-invocation-log',
    reason: /identity: Invalid input: expected object, received undefined/,
  },
  {
    name: 'a missing modelId',
    record: (arn, m) => without(log(m, arn), 'modelId'),
    kind: 'invalid-invocation-log',
    reason: /modelId: Invalid input: expected string, received undefined/,
  },
  {
    name: 'a missing operation',
    record: (arn, m) => without(log(m, arn), 'operation'),
    kind: 'invalid-invocation-log',
    reason: /operation: Invalid input: expected string, received undefined/,
  },
  {
    name: 'a negative token count',
    record: (arn, m) => log(m, arn, { input: { inputTokenCount: -1000 } }),
    kind: 'invalid-invocation-log',
    reason: /input\.inputTokenCount: Too small: expected number to be >=0/,
  },
  {
    name: 'a fractional token count',
    record: (arn, m) => log(m, arn, { output: { outputTokenCount: 99.5 } }),
    kind: 'invalid-invocation-log',
    reason: /output\.outputTokenCount: Invalid input: expected int, received number/,
  },
  {
    name: 'a token count as a string',
    record: (arn, m) => log(m, arn, { input: { inputTokenCount: '1000' } }),
    kind: 'invalid-invocation-log',
    reason: /input\.inputTokenCount: Invalid input: expected number, received string/,
  },
  {
    name: 'a huge token count',
    record: (arn, m) => log(m, arn, { input: { inputTokenCount: 1_000_000_000_000 } }),
    kind: 'over-limit',
    reason: /input is 1000000000000, more than 1,000,000,000 per record/,
  },
  {
    name: 'a token count past the safe integers',
    record: (arn, m) => log(m, arn, { output: { outputTokenCount: 2 ** 53 + 2 } }),
    kind: 'invalid-invocation-log',
    reason: /output\.outputTokenCount: Too big: expected int to be <=9007199254740991/,
  },
  {
    name: 'a token count that JSON reads as Infinity',
    record: (arn, m) => JSON.stringify(log(m, arn)).replace('"inputTokenCount":1000', '"inputTokenCount":1e400'),
    kind: 'invalid-invocation-log',
    reason: /input\.inputTokenCount: Invalid input: expected number, received Infinity/,
  },
  {
    name: 'more images than a call makes',
    record: (arn, m) =>
      log(m, arn, { output: { outputTokenCount: 100, outputBodyJson: { images: Array(1001).fill('iVBORw0KGgo=') } } }),
    kind: 'over-limit',
    reason: /images is 1001, more than 1,000 per record/,
  },
  {
    name: 'stream totals that contradict the envelope',
    record: (arn, m) =>
      log(m, arn, {
        output: {
          outputTokenCount: 100,
          outputBodyJson: [{ 'amazon-bedrock-invocationMetrics': { outputTokenCount: 100_000 } }],
        },
      }),
    kind: 'self-contradicting-log',
    reason:
      /output\.outputTokenCount is 100 but the stream's amazon-bedrock-invocationMetrics\.outputTokenCount is 100000/,
  },
  {
    name: 'an operation invocation logging never records',
    record: (arn, m) => log(m, arn, { operation: 'DeleteFoundationModel' }),
    kind: 'unknown-operation',
    reason: /operation "DeleteFoundationModel" is not one invocation logging records \(InvokeModel, /,
  },
  {
    name: 'an operation that looks like SQL injection',
    record: (arn, m) => log(m, arn, { operation: "InvokeModel'; DROP TABLE usage; --" }),
    kind: 'unknown-operation',
    reason: /operation "InvokeModel'; DROP TABLE usage; --" is not one invocation logging records/,
  },
  {
    name: 'a model id that is HTML',
    record: (arn, m) => log(m, arn, { modelId: '<script>alert(1)</script>' }),
    kind: 'over-limit',
    reason: /modelId "<script>alert\(1\)<\/script>" is not a Bedrock model id or ARN/,
  },
  {
    name: 'a model id that looks like a shell command',
    record: (arn, m) => log(m, arn, { modelId: 'anthropic.claude-3-haiku-20240307-v1:0; rm -rf /' }),
    kind: 'over-limit',
    reason: /modelId ".*; rm -rf \/" is not a Bedrock model id or ARN/,
  },
  {
    name: 'a request id that looks like SQL injection',
    record: (arn, m) => log(`${m}' OR '1'='1`, arn),
    kind: 'over-limit',
    reason: /requestId ".*' OR '1'='1" is not a request id/,
  },
  {
    name: 'a region that looks like a template lookup',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the lookup is the attack, written as it would arrive.
    record: (arn, m) => log(m, arn, { region: '${jndi:ldap://x/a}' }),
    kind: 'over-limit',
    reason: /region "\$\{jndi:ldap:\/\/x\/a\}" is not an AWS region name/,
  },
  {
    name: 'an error code with a control character',
    record: (arn, m) => log(m, arn, { errorCode: 'ThrottlingException\u0007' }),
    kind: 'over-limit',
    reason: /errorCode "ThrottlingException\\u0007" holds control characters/,
  },
  {
    name: 'a principal name with a space',
    record: (_arn, m) => log(m, `arn:aws:iam::111122223333:user/ali ce-${m}`),
    kind: 'over-limit',
    reason: /the user name "ali ce-.*" has characters IAM does not allow/,
  },
  {
    name: 'a principal name of 3,000 characters',
    record: (_arn, m) => log(m, `arn:aws:iam::111122223333:user/${'a'.repeat(3000)}`),
    kind: 'over-limit',
    reason: /the principal ARN is 3031 characters; IAM ARNs have at most 2048/,
  },
  {
    name: 'a principal name outside ASCII',
    record: (_arn, m) => log(m, 'arn:aws:iam::111122223333:user/ålice'),
    kind: 'over-limit',
    reason: /the user name "ålice" has characters IAM does not allow/,
  },
  {
    name: 'a session name hiding a right-to-left override',
    record: (_arn, m) => log(m, 'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0123/eve\u202egnp.exe'),
    kind: 'over-limit',
    reason: /the role session name ".*" has characters IAM does not allow/,
  },
  {
    name: 'an identity that is not a principal',
    record: (_arn, m) => log(m, 'arn:aws:s3:::my-bucket'),
    kind: 'unknown-principal',
    reason: /not an IAM or STS principal ARN: "arn:aws:s3:::my-bucket"/,
  },
  {
    name: 'a timestamp before Bedrock existed',
    record: (arn, m) => log(m, arn, { timestamp: '1970-01-01T00:00:00Z' }),
    kind: 'over-limit',
    reason: /the call time 1970-01-01T00:00:00\.000Z is before Amazon Bedrock existed/,
  },
  {
    name: 'a timestamp in the year 9999',
    record: (arn, m) => log(m, arn, { timestamp: '9999-12-31T23:59:59Z' }),
    kind: 'over-limit',
    reason: /the call time 9999-12-31T23:59:59\.000Z is in the year 9999 or later/,
  },
  {
    name: 'a timestamp as epoch milliseconds',
    record: (arn, m) => log(m, arn, { timestamp: 1795010589000 }),
    kind: 'invalid-invocation-log',
    reason: /timestamp: Invalid input: expected string, received number/,
  },
  {
    name: 'a timestamp on a day that does not exist',
    record: (arn, m) => log(m, arn, { timestamp: `${year}-02-30T10:00:00Z` }),
    kind: 'invalid-invocation-log',
    reason: /timestamp: Invalid ISO datetime/,
  },
  {
    name: 'a message that is a JSON array',
    record: (_arn, m) => [m, 1, 2],
    kind: 'unrecognised-event',
    reason: /^event is not a JSON object$/,
  },
  {
    name: 'a message that is a JSON string',
    record: (_arn, m) => JSON.stringify(`InvokeModel ${m}`),
    kind: 'unrecognised-event',
    reason: /^event is not a JSON object$/,
  },
  {
    name: 'a message over the 1 MiB CloudWatch Logs takes',
    record: (arn, m) => JSON.stringify(log(m, arn, { padding: 'x'.repeat(1024 * 1024) })),
    kind: 'over-limit',
    reason: /^log event message is 10\d{5} bytes; CloudWatch Logs delivers events of at most 1048576$/,
  },
  {
    name: 'a CloudTrail event on the Logs route',
    record: (arn, m) => ({ ...cloudTrailEvent(m, arn), account: LOCAL_ACCOUNT_ID }),
    kind: 'untrusted-envelope',
    reason: /a CloudWatch Logs subscription delivers model invocation log records only/,
  },
  {
    name: 'a record nested 100,000 levels deep',
    record: (arn, m) => nested(without(log(m, arn), 'identity'), 100_000),
    kind: 'invalid-invocation-log',
    reason: /identity: Invalid input: expected object, received undefined/,
  },
];

/** CloudTrail events, put on the CloudTrail queue as EventBridge's rule would (and as a forger could). */
const trail = (marker: string, arn: string, detail: Record<string, unknown> = {}, envelope = {}) => {
  const event = cloudTrailEvent(marker, arn) as { detail: Record<string, unknown> };
  return {
    ...event,
    account: LOCAL_ACCOUNT_ID,
    ...envelope,
    detail: { ...event.detail, eventTime: sightingTime, ...detail },
  };
};
const QUEUE_CASES: HostileCase[] = [
  {
    name: 'an operation the rule does not route',
    record: (arn, m) => trail(m, arn, { eventName: 'DeleteModelInvocationLoggingConfiguration' }),
    kind: 'unknown-operation',
    reason: /"DeleteModelInvocationLoggingConfiguration" is not an inference call of bedrock\.amazonaws\.com/,
  },
  {
    name: 'a missing userIdentity',
    record: (arn, m) => trail(m, arn, { userIdentity: undefined }),
    kind: 'invalid-cloudtrail-event',
    reason: /detail\.userIdentity: Invalid input: expected object, received undefined/,
  },
  {
    name: 'a model id that is a number',
    record: (arn, m) => trail(m, arn, { requestParameters: { modelId: 42 } }),
    kind: 'invalid-cloudtrail-event',
    reason: /detail\.requestParameters\.modelId: Invalid input: expected string, received number/,
  },
  {
    name: 'another detail-type',
    record: (arn, m) => trail(m, arn, {}, { 'detail-type': 'AWS Console Sign In via CloudTrail' }),
    kind: 'invalid-cloudtrail-event',
    reason: /detail-type: Invalid input: expected "AWS API Call via CloudTrail"/,
  },
  {
    name: 'an event time in 1999',
    record: (arn, m) => trail(m, arn, { eventTime: '1999-12-31T23:59:59Z' }),
    kind: 'over-limit',
    reason: /the call time 1999-12-31T23:59:59\.000Z is before Amazon Bedrock existed/,
  },
  {
    name: 'an event time in the year 9999',
    record: (arn, m) => trail(m, arn, { eventTime: '9999-01-01T00:00:00Z' }),
    kind: 'over-limit',
    reason: /is in the year 9999 or later/,
  },
  {
    name: 'a user name that is HTML',
    record: (_arn, m) => trail(m, 'arn:aws:iam::111122223333:user/<img src=x onerror=alert(1)>'),
    kind: 'over-limit',
    reason: /the user name "<img src=x onerror=alert\(1\)>" has characters IAM does not allow/,
  },
  {
    name: 'a model id with a quote and a command',
    record: (arn, m) => trail(m, arn, { requestParameters: { modelId: 'anthropic.claude"; curl x|sh' } }),
    kind: 'over-limit',
    reason: /modelId "anthropic\.claude\\"; curl x\|sh" is not a Bedrock model id or ARN/,
  },
  {
    name: 'a body that is not JSON',
    record: (_arn, m) => `{"detail-type": "AWS API Call via CloudTrail", ${m}`,
    kind: 'not-json',
    reason: /^SQS message body is not JSON$/,
  },
];

/** A case's key in the rejected entries (`L07`), and the marker its record carries. */
const caseKey = (group: string, index: number) => `${group}${String(index).padStart(2, '0')}`;
const marker = (group: string, index: number) => `${tag}-${caseKey(group, index)}`;
const neighbourName = (group: string, index: number) => `hn${tag}${group}${index}`;
const neighbourArn = (group: string, index: number) => `arn:aws:iam::111122223333:user/${neighbourName(group, index)}`;

interface RejectedEntry {
  readonly recordId: string;
  readonly error: string;
  readonly kind: string;
  readonly body: string;
}

/**
 * Takes this suite's entries off the rejected-records queue. Every message is received (hidden) in turn, so a queue
 * of any length is read through; this suite's are deleted, and the others are made visible again at once for
 * the suites they belong to.
 */
async function takeRejected(): Promise<RejectedEntry[]> {
  const QueueUrl = output('RejectedQueueUrl');
  const mine: RejectedEntry[] = [];
  const others: string[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }),
    );
    if (Messages.length === 0) break;
    for (const message of Messages) {
      const entry = JSON.parse(message.Body ?? '{}') as RejectedEntry;
      if (message.Body?.includes(tag)) {
        mine.push(entry);
        await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle }));
      } else others.push(message.ReceiptHandle ?? '');
    }
  }
  for (let i = 0; i < others.length; i += 10) {
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl,
        Entries: others
          .slice(i, i + 10)
          .map((ReceiptHandle, j) => ({ Id: String(j), ReceiptHandle, VisibilityTimeout: 0 })),
      }),
    );
  }
  return mine;
}

/** One invocation of ingest with a payload of one's own: a delivery whose envelope may not be readable. */
async function invokeIngest(payload: unknown) {
  const result = await lambda.send(
    new InvokeCommand({
      FunctionName: local.functions['functions/ingest/handler.ts'],
      Payload: Buffer.from(JSON.stringify(payload)),
    }),
  );
  return { error: result.FunctionError, reply: Buffer.from(result.Payload ?? []).toString() };
}

const gzipped = (text: string | Buffer) => gzipSync(text).toString('base64');
/** Deliveries that cannot be read as a whole; each carries a valid record the delivery must not count. */
const WHOLE_CASES: { name: string; payload: (m: string, inside: string) => unknown; reason: RegExp }[] = [
  {
    name: 'awslogs.data that is not base64 gzip',
    payload: (m) => ({ id: m, awslogs: { data: '%%% not base64 gzip %%%' } }),
    reason: /^awslogs\.data is not base64-encoded gzip JSON$/,
  },
  {
    name: 'gzip cut short',
    payload: (m, inside) => {
      const whole = gzipSync(inside);
      return { id: m, awslogs: { data: whole.subarray(0, whole.length >> 1).toString('base64') } };
    },
    reason: /^awslogs\.data is not base64-encoded gzip JSON$/,
  },
  {
    name: 'gzip of text that is not JSON',
    payload: (m, inside) => ({ id: m, awslogs: { data: gzipped(`DATA_MESSAGE ${inside}`) } }),
    reason: /^awslogs\.data is not base64-encoded gzip JSON$/,
  },
  {
    name: 'a decompression bomb',
    payload: (m) => ({ id: m, awslogs: { data: gzipped(Buffer.alloc(40 * 1024 * 1024, ' ')) } }),
    reason: /^awslogs\.data inflates to more than 33554432 bytes, more than a CloudWatch Logs delivery holds$/,
  },
  {
    name: 'a payload whose logEvents is not a list',
    payload: (m, inside) => ({
      id: m,
      awslogs: { data: gzipped(JSON.stringify({ messageType: 'DATA_MESSAGE', logEvents: { 0: inside } })) },
    }),
    reason: /^not a CloudWatch Logs payload: logEvents: Invalid input: expected array, received object$/,
  },
];

const accountSpend = async () =>
  (
    await new BudgetStore(documents, output('BudgetsTableName'), {
      configuredDefault: usd('0'),
      configuredAccount: usd('0'),
    }).accountTotal(period)
  ).spendUsd;

/** The neighbour was charged for its one call, and nothing else. */
async function expectOneCall(name: string) {
  const counter = await item('BudgetsTableName', { principal: `user/${name}`, period });
  expect([decimalOf(counter?.spendUsd).toFixed(), decimalOf(counter?.requests).toFixed()]).toEqual([
    HAIKU_CALL_USD,
    '1',
  ]);
}

const rejected = new Map<string, RejectedEntry>();
beforeAll(async () => {
  // Each hostile record next to its neighbour, all in one Logs delivery and a few queue batches.
  await deliverLogs(
    LOG_CASES.flatMap((c, i) => [
      c.record(neighbourArn('L', i), marker('L', i)),
      log(`${tag}-nL${i}`, neighbourArn('L', i)),
    ]),
  );
  for (let i = 0; i < QUEUE_CASES.length; i += 5) {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: output('CloudTrailQueueUrl'),
        Entries: QUEUE_CASES.slice(i, i + 5).flatMap((c, j) => {
          const record = c.record(neighbourArn('Q', i + j), marker('Q', i + j));
          const body = typeof record === 'string' ? record : JSON.stringify(record);
          const neighbour = trail(`${tag}-nQ${i + j}`, neighbourArn('Q', i + j));
          return [
            { Id: `c${j}`, MessageBody: body },
            { Id: `n${j}`, MessageBody: JSON.stringify(neighbour) },
          ];
        }),
      }),
    );
  }
  for (const [i, c] of WHOLE_CASES.entries()) {
    const inside = JSON.stringify(log(`${tag}-wW${i}`, neighbourArn('W', i)));
    const { error } = await invokeIngest(c.payload(marker('W', i), inside));
    expect(error).toBeUndefined();
    await deliverLogs([log(`${tag}-nW${i}`, neighbourArn('W', i))]);
  }
  await settle();
  for (const entry of await takeRejected()) {
    const key = new RegExp(`${tag}-([LQW]\\d\\d)`).exec(`${entry.recordId} ${entry.body}`)?.[1];
    if (key) rejected.set(key, entry);
  }
}, 60_000);

describe('hostile invocation log records by the Logs subscription, on the local stack', () => {
  it.each(LOG_CASES.map((c, i) => [c.name, c, i] as const))(
    'rejects %s with its reason; its neighbour is counted',
    async (_name, c, i) => {
      const entry = rejected.get(caseKey('L', i));
      expect(entry).toMatchObject({ kind: c.kind, error: expect.stringMatching(c.reason) });
      expect(await item('UsageTableName', { requestId: marker('L', i) })).toBeUndefined();
      await expectOneCall(neighbourName('L', i));
    },
  );
});

describe('hostile CloudTrail events on the CloudTrail queue, on the local stack', () => {
  it.each(QUEUE_CASES.map((c, i) => [c.name, c, i] as const))(
    'rejects %s with its reason; its neighbour is sighted',
    async (_name, c, i) => {
      const entry = rejected.get(caseKey('Q', i));
      expect(entry).toMatchObject({ kind: c.kind, error: expect.stringMatching(c.reason) });
      expect(await item('UsageTableName', { requestId: marker('Q', i) })).toBeUndefined();
      expect(await item('UsageTableName', { requestId: `${tag}-nQ${i}` })).toMatchObject({
        principal: `user/${neighbourName('Q', i)}`,
        unmeteredSince: new Date(sightingTime).toISOString(),
      });
    },
  );
});

describe('deliveries that cannot be read, on the local stack', () => {
  it.each(WHOLE_CASES.map((c, i) => [c.name, c, i] as const))(
    'rejects %s whole, counting nothing of it; the next delivery is counted',
    async (_name, c, i) => {
      const entry = rejected.get(caseKey('W', i));
      expect(entry).toMatchObject({
        recordId: marker('W', i),
        kind: 'unreadable-payload',
        error: expect.stringMatching(c.reason),
      });
      expect(await item('UsageTableName', { requestId: `${tag}-wW${i}` })).toBeUndefined();
      await expectOneCall(neighbourName('W', i));
    },
  );
});

describe('the whole hostile run', () => {
  it('counted exactly the valid records: the account spent one Haiku call per Logs neighbour, nothing else', async () => {
    const neighbours = LOG_CASES.length + WHOLE_CASES.length;
    expect((await accountSpend()).toFixed()).toBe(new Big(HAIKU_CALL_USD).times(neighbours).toFixed());
    expect(rejected.size).toBe(LOG_CASES.length + QUEUE_CASES.length + WHOLE_CASES.length);
  });

  it('keeps a record nested too deeply to serialise to its top levels, with its request id', () => {
    const index = LOG_CASES.findIndex((c) => c.name.startsWith('a record nested'));
    const body = rejected.get(caseKey('L', index))?.body ?? '';
    expect(JSON.parse(body)).toMatchObject({ requestId: marker('L', index) });
    expect(body).toContain('…(nested too deeply: not kept)');
  });
});
