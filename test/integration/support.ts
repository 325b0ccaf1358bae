import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetUserPolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalInferenceProfile } from '../../local/bedrock';
import type { FaultCounts, FaultSettings } from '../../local/faults';

interface LocalStackInfo {
  readonly clientConfig: {
    readonly endpoint: string;
    readonly region: string;
    readonly credentials: { accessKeyId: string; secretAccessKey: string };
  };
  readonly outputs: Record<string, string>;
  readonly functions: Record<string, string>;
  readonly control: string;
  /** The local stack's admin user (its one adminPrincipals entry). */
  readonly admin: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly arn: string };
}

const raw = process.env.BUDGETEER_LOCAL;
if (!raw) throw new Error('BUDGETEER_LOCAL is not set: integration tests run under the integration jest project');
export const local = JSON.parse(raw) as LocalStackInfo;
export const output = (name: string) => {
  const value = local.outputs[name];
  if (!value) throw new Error(`no stack output ${name}`);
  return value;
};

export const documents = DynamoDBDocumentClient.from(new DynamoDBClient(local.clientConfig), {
  unmarshallOptions: { wrapNumbers: true },
});
export const lambda = new LambdaClient(local.clientConfig);
export const sqs = new SQSClient(local.clientConfig);
const iam = new IAMClient(local.clientConfig);

/** The BudgeteerDeny policy on an IAM user, as text; undefined when the user has none. */
export async function userDeny(name: string): Promise<string | undefined> {
  try {
    const { PolicyDocument } = await iam.send(
      new GetUserPolicyCommand({ UserName: name, PolicyName: 'BudgeteerDeny' }),
    );
    return decodeURIComponent(PolicyDocument ?? '');
  } catch (error) {
    if ((error as Error).name === 'NoSuchEntityException' || (error as Error).name === 'NoSuchEntity') return undefined;
    throw error;
  }
}

/** A tag unique to one test, so tests sharing the stack never see each other's principals or periods. */
export const unique = () => randomUUID().slice(0, 8);

async function control(path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${local.control}${path}`, {
    method: 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await response.json()) as { error?: string };
  if (!response.ok) throw new Error(`${path}: ${json.error}`);
  return json;
}

/** EventBridge PutEvents: the Bedrock rule routes matching events to the CloudTrail queue. */
export const putEvents = (events: unknown[]) => control('/events', events);
/** Declares an application inference profile, which the local Bedrock then describes (local/bedrock.ts). */
export const declareInferenceProfile = (profile: LocalInferenceProfile) => control('/inference-profiles', profile);
/** Waits until every queue and stream mapping has delivered what was sent. */
export const settle = () => control('/settle');
/** Sets what the fault proxy before the handlers injects (local/faults.ts); answers what the previous settings did. */
export const injectFaults = (settings: FaultSettings) => control('/faults', settings) as Promise<FaultCounts>;
/** A CloudWatch Logs delivery as Logs makes it: an asynchronous invocation, tried three times, then dead-lettered. */
export const deliverLogsAsync = (records: unknown[]) =>
  control('/logs-async', records) as Promise<{ attempts: number; deadLettered?: string }>;

/** Invokes a function of the stack (by its entry) synchronously; throws its error. */
export async function invoke(entry: string, payload: unknown = {}) {
  const result = await lambda.send(
    new InvokeCommand({ FunctionName: local.functions[entry], Payload: Buffer.from(JSON.stringify(payload)) }),
  );
  if (result.FunctionError) throw new Error(`${entry} failed: ${Buffer.from(result.Payload ?? []).toString()}`);
  return JSON.parse(Buffer.from(result.Payload ?? []).toString() || 'null');
}

/** Keys of a local IAM user (created if missing), which the local function URLs' SigV4 check knows. */
export const identityFor = (user: string) =>
  control('/identity', { user }) as Promise<{ accessKeyId: string; secretAccessKey: string; arn: string }>;

/** What CloudWatch Logs does for a subscription: invoke the function with a gzip+base64 payload. */
export async function deliverLogs(records: unknown[]) {
  const payload = {
    messageType: 'DATA_MESSAGE',
    owner: '123456789012',
    logGroup: '/aws/bedrock/modelinvocations',
    logStream: 'aws/bedrock/modelinvocations',
    subscriptionFilters: ['budgeteer'],
    logEvents: records.map((record, i) => ({
      id: `${unique()}-${i}`,
      timestamp: Date.now(),
      message: typeof record === 'string' ? record : JSON.stringify(record),
    })),
  };
  const result = await lambda.send(
    new InvokeCommand({
      FunctionName: local.functions['functions/ingest/handler.ts'],
      Payload: Buffer.from(JSON.stringify({ awslogs: { data: gzipSync(JSON.stringify(payload)).toString('base64') } })),
    }),
  );
  if (result.FunctionError) throw new Error(`ingest failed: ${Buffer.from(result.Payload ?? []).toString()}`);
  return JSON.parse(Buffer.from(result.Payload ?? []).toString() || 'null');
}

export async function item(table: string, key: Record<string, string>) {
  const { Item } = await documents.send(new GetCommand({ TableName: output(table), Key: key, ConsistentRead: true }));
  return Item;
}

/**
 * Every message a queue holds now, left as it was for the other suites sharing it: each is received once (hidden
 * while the walk goes on, so the next receive brings others; receiving with no visibility timeout brought the same
 * first ten every time) and made visible again at the end.
 */
export async function walkQueue(queueUrl: string): Promise<Message[]> {
  const seen: Message[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 30,
        MessageAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) break;
    seen.push(...Messages);
  }
  for (let i = 0; i < seen.length; i += 10) {
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: seen
          .slice(i, i + 10)
          .map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })),
      }),
    );
  }
  return seen;
}

/** The entries of the rejected-records queue that `keep` selects (the queue is left as it is). */
export async function rejectedRecords(keep: (entry: { recordId: string; error: string; body: string }) => boolean) {
  const entries = (await walkQueue(output('RejectedQueueUrl'))).map((m) => JSON.parse(m.Body ?? '{}'));
  return entries.filter(keep) as { recordId: string; error: string; body: string }[];
}

/**
 * Polls until `check` returns a value that is not undefined (work that runs on its own in the local AWS, such
 * as a Step Functions execution, finishes after the call that started it returns). Fails after `timeoutMs`.
 */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
