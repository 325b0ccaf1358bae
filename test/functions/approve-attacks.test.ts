import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { approvalUrl, formToken } from '../../shared/decisions/links';

/**
 * Attacks on approval links, through the approve function's handler as Lambda runs it: the real link checks, the
 * real Approvals over a mocked Pending table and a mocked Step Functions, and the function's log output captured.
 * A refusal changes nothing: no decision is recorded and no task token is sent. The link's signature, the form's
 * token, the signing key and the task token never reach the logs, even with event logging turned on.
 */
const SECRET = 'k'.repeat(64);
const TASK_TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAf7TaskTokenNeverLogged0123456789';
const ID = 'AttackWait000001';
const OTHER = 'AttackWait000002';
const expiresAt = new Date(Date.now() + 86_400_000).toISOString();

Object.assign(process.env, {
  BUDGETS_TABLE: 'Budgets',
  PENDING_TABLE: 'Pending',
  AUDIT_TABLE: 'Audit',
  DEFAULT_BUDGET_USD: '50',
  ACCOUNT_BUDGET_USD: '1000',
  CRITICAL_TOPIC_ARN: 'arn:aws:sns:us-east-1:111122223333:critical',
  SIGNING_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:SigningKey',
  AWS_REGION: 'us-east-1',
  // What an operator turns on to debug a function: the approval function must not log its credential even then.
  POWERTOOLS_LOGGER_LOG_EVENT: 'true',
  POWERTOOLS_LOG_LEVEL: 'DEBUG',
});

const ddb = mockClient(DynamoDBDocumentClient);
const sfn = mockClient(SFNClient);
const sns = mockClient(SNSClient);
const secrets = mockClient(SecretsManagerClient);

/** The Pending table: two waits of two executions, decided by the conditional update as DynamoDB would. */
let waits: Record<string, Record<string, unknown>>;
function resetTables() {
  const wait = (id: string, execution: string) => ({
    id,
    kind: 'suspension',
    principal: `user/victim-${execution}`,
    period: expiresAt.slice(0, 7),
    executionArn: `arn:aws:states:us-east-1:111122223333:execution:suspend:${execution}`,
    createdAt: new Date().toISOString(),
    expiresAt,
    taskToken: `${TASK_TOKEN}-${execution}`,
  });
  waits = { [ID]: wait(ID, 'e1'), [OTHER]: wait(OTHER, 'e2') };
  ddb.reset();
  ddb.onAnyCommand().resolves({});
  ddb.on(GetCommand, { TableName: 'Pending' }).callsFake(({ Key }) => ({ Item: waits[Key.id] }));
  ddb.on(UpdateCommand, { TableName: 'Pending' }).callsFake((input) => {
    const stored = waits[input.Key.id];
    const recording = input.ExpressionAttributeValues?.[':decided'];
    if (!recording) return {};
    if (!stored || stored.decided) {
      throw Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });
    }
    waits[input.Key.id] = { ...stored, decided: recording, wakePending: true };
    return { Attributes: waits[input.Key.id] };
  });
  sfn.reset();
  sfn.onAnyCommand().resolves({});
  sns.reset();
  sns.onAnyCommand().resolves({ MessageId: 'm-1' });
  secrets.reset();
  secrets.on(GetSecretValueCommand).resolves({ SecretString: SECRET });
}
resetTables();

// Every line the function writes, whichever way the logger writes it.
const written: string[] = [];
const capture = (chunk: unknown) => {
  written.push(String(chunk));
  return true;
};
jest.spyOn(process.stdout, 'write').mockImplementation(capture);
jest.spyOn(process.stderr, 'write').mockImplementation(capture);
for (const level of ['log', 'info', 'debug', 'warn', 'error'] as const) {
  jest.spyOn(console, level).mockImplementation((...args: unknown[]) => capture(args.map(String).join(' ')));
}

// Configuration is read at module load, so the handler is loaded after the environment and the mocks are set.
const { handler } = require('../../functions/approve/handler') as typeof import('../../functions/approve/handler');

const link = (id: string) => new URL(approvalUrl('https://approve.example', SECRET, id, expiresAt));
const context = {
  functionName: 'approve',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:approve',
  memoryLimitInMB: '512',
  awsRequestId: 'req-1',
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

function request(
  method: string,
  options: { path?: string; query?: Record<string, string>; body?: string; headers?: Record<string, string> } = {},
): LambdaFunctionURLEvent {
  const url = link(ID);
  const query = options.query ?? Object.fromEntries(url.searchParams);
  const path = options.path ?? url.pathname;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: new URLSearchParams(query).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...options.headers },
    queryStringParameters: query,
    requestContext: {
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'Attacker/1.0' },
    } as LambdaFunctionURLEvent['requestContext'],
    ...(options.body === undefined ? {} : { body: options.body }),
    isBase64Encoded: false,
  };
}
const invoke = async (event: LambdaFunctionURLEvent) =>
  (await handler(event, context)) as { statusCode: number; body: string; headers: Record<string, string> };
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const lift = (id = ID) => ({ csrf: formToken(SECRET, id), decision: 'lift', reason: 'demo', approver: 'mallory' });

/** Nothing was decided: no decision recorded on either wait, no task token sent to a workflow. */
function expectNothingChanged() {
  expect(waits[ID]?.decided).toBeUndefined();
  expect(waits[OTHER]?.decided).toBeUndefined();
  expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  expect(ddb).not.toHaveReceivedCommandWith(UpdateCommand, { TableName: 'Pending' });
}

beforeEach(() => {
  resetTables();
  written.length = 0;
});

describe('approval link attacks, through the approve handler', () => {
  it("refuses a valid link of one approval used with another's id (cross-execution), on GET and POST", async () => {
    const mine = link(ID);
    const query = Object.fromEntries(mine.searchParams);
    for (const method of ['GET', 'POST']) {
      const result = await invoke(request(method, { path: `/d/${OTHER}`, query, body: form(lift(OTHER)) }));
      expect(result.statusCode).toBe(403);
      expect(result.body).toContain('This link is not valid');
    }
    expectNothingChanged();
  });

  it("refuses the other approval's link with this one's form token", async () => {
    const theirs = link(OTHER);
    const result = await invoke(
      request('POST', { path: theirs.pathname, query: Object.fromEntries(theirs.searchParams), body: form(lift(ID)) }),
    );
    expect(result.statusCode).toBe(403);
    expect(result.body).toContain('The form could not be verified');
    expectNothingChanged();
  });

  it.each([
    ['the signature in another case', (q: Record<string, string>) => ({ ...q, s: (q.s ?? '').toUpperCase() })],
    ['the expiry with a leading zero', (q: Record<string, string>) => ({ ...q, e: `0${q.e}` })],
    ['the expiry pushed a year on', (q: Record<string, string>) => ({ ...q, e: String(Number(q.e) + 31_536_000) })],
    ['the signature twice', (q: Record<string, string>) => ({ ...q, s: `${q.s}${q.s}` })],
    ['no expiry', ({ e: _e, ...q }: Record<string, string>) => q],
  ])('refuses a link with %s as forged, changing nothing', async (_what, alter) => {
    const query = alter(Object.fromEntries(link(ID).searchParams));
    for (const method of ['GET', 'POST']) {
      expect((await invoke(request(method, { query, body: form(lift()) }))).statusCode).toBe(403);
    }
    expectNothingChanged();
  });

  it('refuses an expired link as expired (410), even with a valid form', async () => {
    const late = new URL(approvalUrl('https://approve.example', SECRET, ID, new Date(Date.now() - 1000).toISOString()));
    const result = await invoke(request('POST', { query: Object.fromEntries(late.searchParams), body: form(lift()) }));
    expect(result.statusCode).toBe(410);
    expectNothingChanged();
  });

  it('decides once; a replay of the same POST, or another decision, after it is refused as already decided', async () => {
    const first = await invoke(request('POST', { body: form(lift()) }));
    expect(first.statusCode).toBe(200);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: `${TASK_TOKEN}-e1` });
    const decided = waits[ID]?.decided;

    for (const fields of [lift(), { ...lift(), decision: 'keep', approver: 'eve' }]) {
      const replay = await invoke(request('POST', { body: form(fields) }));
      expect(replay.statusCode).toBe(409);
      expect(replay.body).toContain('Already decided: lift by mallory');
    }
    expect(waits[ID]?.decided).toBe(decided);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(waits[OTHER]?.decided).toBeUndefined();
  });

  it('never decides on a GET, however much of a decision it carries (a mail scanner prefetching the link)', async () => {
    const query = { ...Object.fromEntries(link(ID).searchParams), d: 'lift', ...lift() };
    for (let i = 0; i < 3; i++) {
      const shown = await invoke(
        request('GET', { query, body: form(lift()), headers: { 'x-http-method-override': 'POST' } }),
      );
      expect(shown.statusCode).toBe(200);
      expect(shown.body).toContain('<form method="post"');
    }
    expectNothingChanged();
  });

  it.each(['PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'])(
    'refuses %s with a valid form (405, Allow: GET, POST), changing nothing',
    async (method) => {
      const result = await invoke(request(method, { body: form(lift()) }));
      expect(result.statusCode).toBe(405);
      expect(result.headers.allow).toBe('GET, POST');
      expectNothingChanged();
    },
  );

  it('logs neither the signature, the form token, the signing key nor the task token, with event logging on', async () => {
    const url = link(ID);
    await invoke(request('GET'));
    await invoke(request('POST', { body: form(lift()) }));
    await invoke(request('POST', { body: form(lift()) }));
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: `${TASK_TOKEN}-e1` });

    const logs = written.join('\n');
    expect(logs).toContain('approval request'); // the function did log, so the capture sees its output
    for (const secret of [url.searchParams.get('s') ?? '', formToken(SECRET, ID), SECRET, TASK_TOKEN]) {
      expect(secret.length).toBeGreaterThan(20);
      expect(logs).not.toContain(secret);
    }
  });
});
