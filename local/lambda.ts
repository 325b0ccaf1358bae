import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { type IamAuthorizer, iamAuthorizerOf, type LocalIdentity, verifySignature } from './sigv4';

/** A Lambda handler run in this process; what it resolves to is the invocation's result. */
export type LocalHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface FunctionOptions {
  /** Only reported through `context.getRemainingTimeInMillis()`; nothing stops a handler that overruns. @default 3 */
  readonly timeoutSeconds?: number;
  /** @default 128 */
  readonly memorySizeMb?: number;
}

/** A function URL's `AuthType`: AWS_IAM takes only requests SigV4-signed by a registered access key. */
export type FunctionUrlAuthType = 'NONE' | 'AWS_IAM';

interface RegisteredFunction extends Required<FunctionOptions> {
  readonly name: string;
  readonly handler: LocalHandler;
}

export class FunctionNotFoundError extends Error {
  constructor(
    readonly functionName: string,
    options?: { cause?: unknown },
  ) {
    super(`Function not found: ${functionName}`, options);
    this.name = 'FunctionNotFoundError';
  }
}

export type InvocationOutcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly errorType: string; readonly errorMessage: string };

const FUNCTION_ARN = /^arn:[^:]+:lambda:[^:]*:\d{12}:function:([^:]+)(?::[^:]+)?$/;
const PARTIAL_ARN = /^\d{12}:function:([^:]+)(?::[^:]+)?$/;
export const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/** The function name in any form Invoke accepts: name, name:qualifier, partial or full ARN. */
export function functionNameOf(identifier: string): string {
  const arn = FUNCTION_ARN.exec(identifier) ?? PARTIAL_ARN.exec(identifier);
  if (arn?.[1]) return arn[1];
  return identifier.split(':')[0] ?? identifier;
}

/** The in-process stand-in for the Lambda service: a registry of handlers and the two ways to call them. */
export class LocalFunctions {
  private readonly functions = new Map<string, RegisteredFunction>();
  private readonly identities = new Map<string, LocalIdentity>();

  constructor(
    private readonly region: string,
    private readonly accountId: string,
    private readonly log: (line: string) => void,
  ) {}

  arnOf(name: string): string {
    return `arn:aws:lambda:${this.region}:${this.accountId}:function:${name}`;
  }

  register(name: string, handler: LocalHandler, options: FunctionOptions = {}): void {
    this.functions.set(name, {
      name,
      handler,
      timeoutSeconds: options.timeoutSeconds ?? 3,
      memorySizeMb: options.memorySizeMb ?? 128,
    });
  }

  /** Lets requests signed with this access key through function URLs whose AuthType is AWS_IAM. */
  registerIdentity(identity: LocalIdentity): void {
    this.identities.set(identity.accessKeyId, identity);
  }

  has(name: string): boolean {
    return this.functions.has(name);
  }

  /** Runs a function the way a synchronous Invoke does; a handler error becomes a failed outcome, not a throw. */
  async run(identifier: string, event: unknown): Promise<InvocationOutcome> {
    const name = functionNameOf(identifier);
    const fn = this.functions.get(name);
    if (!fn) throw new FunctionNotFoundError(this.arnOf(name));
    const context = this.contextFor(fn, identifier);
    this.log(`lambda ${name} start ${context.awsRequestId}`);
    try {
      const result = await fn.handler(event, context);
      this.log(`lambda ${name} end ${context.awsRequestId}`);
      return { ok: true, result };
    } catch (error) {
      const failure = describeError(error);
      this.log(`lambda ${name} failed ${context.awsRequestId}: ${failure.errorType}: ${failure.errorMessage}`);
      return { ok: false, ...failure };
    }
  }

  /** Answers `POST /2015-03-31/functions/{name}/invocations` in the Lambda service's wire format. */
  async answerInvoke(identifier: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const name = functionNameOf(identifier);
    if (!this.functions.has(name)) {
      sendLambdaError(res, 404, 'ResourceNotFoundException', `Function not found: ${this.arnOf(name)}`);
      return;
    }
    const body = await readBody(req);
    let event: unknown;
    try {
      event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      sendLambdaError(res, 400, 'InvalidRequestContentException', 'Could not parse request body into json');
      return;
    }
    const invocationType = header(req, 'x-amz-invocation-type') ?? 'RequestResponse';
    if (invocationType === 'DryRun') {
      res.writeHead(204).end();
      return;
    }
    if (invocationType === 'Event') {
      res.writeHead(202, { 'x-amzn-requestid': randomUUID() }).end();
      await this.run(identifier, event);
      return;
    }
    const outcome = await this.run(identifier, event);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-amz-executed-version': '$LATEST',
      'x-amzn-requestid': randomUUID(),
    };
    if (outcome.ok) {
      res.writeHead(200, headers).end(JSON.stringify(outcome.result ?? null));
    } else {
      headers['x-amz-function-error'] = 'Unhandled';
      res
        .writeHead(200, headers)
        .end(JSON.stringify({ errorType: outcome.errorType, errorMessage: outcome.errorMessage }));
    }
  }

  /**
   * Answers a request to a function URL: payload format 2.0 in, function URL response mapping out. With AWS_IAM, as
   * Lambda: a request not validly signed by a registered key is refused with 403 and the function is not run.
   */
  async answerFunctionUrl(
    name: string,
    req: IncomingMessage,
    res: ServerResponse,
    authType: FunctionUrlAuthType = 'NONE',
  ): Promise<void> {
    if (!this.functions.has(name)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"Message":null}');
      return;
    }
    const body = await readBody(req);
    let caller: IamAuthorizer | undefined;
    if (authType === 'AWS_IAM') {
      const identity = await verifySignature(req, body, {
        region: this.region,
        service: 'lambda',
        identityOf: (accessKeyId) => this.identities.get(accessKeyId),
      });
      if (!identity) {
        res.writeHead(403, { 'content-type': 'application/json' }).end('{"Message":"Forbidden"}');
        return;
      }
      caller = iamAuthorizerOf(identity);
    }
    const event = functionUrlEvent(req, body, this.accountId, caller);
    const outcome = await this.run(name, event);
    if (!outcome.ok) {
      res.writeHead(502, { 'content-type': 'application/json' }).end('{"Message":"Internal Server Error"}');
      return;
    }
    writeFunctionUrlResult(res, outcome.result);
  }

  private contextFor(fn: RegisteredFunction, identifier: string): Context {
    const deadline = Date.now() + fn.timeoutSeconds * 1000;
    const callbackStyle = () => {
      throw new Error('callback-style context methods are not supported locally; return a promise');
    };
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName: fn.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: identifier.startsWith('arn:') ? identifier : this.arnOf(fn.name),
      memoryLimitInMB: String(fn.memorySizeMb),
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${fn.name}`,
      logStreamName: `local/[$LATEST]${fn.name}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: callbackStyle,
      fail: callbackStyle,
      succeed: callbackStyle,
    };
  }
}

function describeError(error: unknown): { errorType: string; errorMessage: string } {
  if (error instanceof Error) return { errorType: error.name || 'Error', errorMessage: error.message };
  return { errorType: 'Error', errorMessage: String(error) };
}

function sendLambdaError(res: ServerResponse, status: number, errorType: string, message: string): void {
  res
    .writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': errorType })
    .end(JSON.stringify({ Type: 'User', message }));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const TEXT_CONTENT = /^(text\/|application\/(json|x-www-form-urlencoded|xml|javascript))|\+json|\+xml/i;

function functionUrlEvent(
  req: IncomingMessage,
  body: Buffer,
  accountId: string,
  caller: IamAuthorizer | undefined,
): LambdaFunctionURLEvent {
  const url = new URL(req.url ?? '/', 'http://function-url');
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (key === 'cookie' || value === undefined) continue;
    headers[key] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  const cookies = req.headers.cookie?.split(';').map((cookie) => cookie.trim());
  const host = headers.host ?? '127.0.0.1';
  const text = TEXT_CONTENT.test(headers['content-type'] ?? '');
  const now = new Date();
  const requestId = randomUUID();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies ? { cookies } : {}),
    headers,
    ...(url.search ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId,
      apiId: 'local',
      ...(caller ? { authorizer: { iam: caller } } : {}),
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !text,
  };
}

interface StructuredResult {
  statusCode: number;
  headers?: Record<string, string | number | boolean>;
  cookies?: string[];
  body?: string;
  isBase64Encoded?: boolean;
}

function isStructured(result: unknown): result is StructuredResult {
  return typeof result === 'object' && result !== null && typeof Reflect.get(result, 'statusCode') === 'number';
}

function writeFunctionUrlResult(res: ServerResponse, result: unknown): void {
  if (!isStructured(result)) {
    const body = typeof result === 'string' ? result : JSON.stringify(result ?? null);
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return;
  }
  for (const [key, value] of Object.entries(result.headers ?? {})) res.setHeader(key, String(value));
  if (result.cookies?.length) res.setHeader('set-cookie', result.cookies);
  if (!res.hasHeader('content-type')) res.setHeader('content-type', 'application/json');
  res.writeHead(result.statusCode);
  res.end(result.body === undefined ? undefined : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8'));
}
