import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { LocalBedrock, type LocalInferenceProfile } from './bedrock';
import {
  type FunctionOptions,
  type FunctionUrlAuthType,
  INVOKE_PATH,
  LocalFunctions,
  type LocalHandler,
} from './lambda';
import type { LocalIdentity } from './sigv4';

export type { LocalInferenceProfile } from './bedrock';
export type { FunctionOptions, FunctionUrlAuthType, LocalHandler } from './lambda';
export type { IamAuthorizer, LocalIdentity } from './sigv4';

/** moto's default account: every request signed with any key lands in it. */
export const LOCAL_ACCOUNT_ID = '123456789012';
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

const LAUNCHER = path.join(__dirname, 'moto_server.py');
const INSTALL_HINT = "install moto with its server extra: pip install 'moto[server]'";
const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 1_000;

export interface LocalAwsOptions {
  /** Receives moto's output and one line per local Lambda invocation. @default discard */
  readonly log?: (line: string) => void;
  /** @default 'python3' */
  readonly python?: string;
  /**
   * Milliseconds a DynamoDB transaction holds its items before it applies, as DynamoDB's does while it prepares:
   * another transaction naming one of them then is cancelled with TransactionConflict. moto applies transactions
   * one at a time and never conflicts; this is for tests of contention. @default 0 (off)
   */
  readonly transactionMs?: number;
}

export interface LocalAws {
  /** The Lambda front: give this to every SDK client; what is not a Lambda Invoke goes on to moto. */
  readonly endpoint: string;
  /** moto itself, for its `/moto-api` and for diagnosis. */
  readonly motoEndpoint: string;
  readonly region: string;
  readonly accountId: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Spread into any SDK v3 client: `new DynamoDBClient(local.clientConfig)`. */
  readonly clientConfig: {
    readonly endpoint: string;
    readonly region: string;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  };
  /** moto's process id; it leads its own process group. */
  readonly motoPid: number;
  /** Makes Invoke of `name` (or its ARN) run `handler` in this process. Registering a name again replaces it. */
  registerFunction(name: string, handler: LocalHandler, options?: FunctionOptions): void;
  /** ARN of a function as the front and moto's Step Functions know it. */
  functionArn(name: string): string;
  /** Invokes a registered function in process; resolves to its result, rejects with its error. */
  invoke(name: string, event: unknown): Promise<unknown>;
  /**
   * Serves a function URL for `name` on its own loopback port; resolves to the URL (with trailing slash). With
   * AWS_IAM it takes only requests SigV4-signed (service `lambda`, this region) by a key given to `registerIdentity`.
   */
  serveFunctionUrl(name: string, authType?: FunctionUrlAuthType): Promise<string>;
  /** Makes an access key known to AWS_IAM function URLs (`createAccessKeyFor` in ./iam issues and registers one). */
  registerIdentity(identity: LocalIdentity): void;
  /** Declares an application inference profile, which Bedrock's GetInferenceProfile and ListTagsForResource answer. */
  registerInferenceProfile(profile: LocalInferenceProfile): void;
  /** Stops the front, every function URL and moto; safe to call more than once. */
  stop(): Promise<void>;
}

export class LocalAwsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalAwsError';
  }
}

export class FunctionInvocationError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
  ) {
    super(message);
    this.name = 'FunctionInvocationError';
  }
}

/**
 * Starts moto (through local/moto_server.py, which fixes its Step Functions) and the Lambda front before it.
 * moto's state machine interpreter sends its AWS calls to localhost:$MOTO_PORT, so MOTO_PORT is the front's port.
 */
export async function startLocalAws(options: LocalAwsOptions = {}): Promise<LocalAws> {
  const log = options.log ?? (() => {});
  const functions = new LocalFunctions(LOCAL_REGION, LOCAL_ACCOUNT_ID, log);
  const bedrock = new LocalBedrock();
  const agent = new Agent({ keepAlive: true });
  let motoPort = 0;
  const front = createServer((req, res) => {
    handleFront(req, res, { functions, bedrock }, motoPort, agent).catch((error: unknown) => {
      log(`front: ${String(error)}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('local AWS front failed; see its log');
    });
  });
  const frontPort = await listen(front);
  try {
    const moto = await startMoto(options.python ?? 'python3', frontPort, log, options.transactionMs ?? 0);
    motoPort = moto.port;
    return new RunningLocalAws(frontPort, moto, front, agent, functions, bedrock);
  } catch (error) {
    await closeServer(front);
    agent.destroy();
    throw error;
  }
}

class RunningLocalAws implements LocalAws {
  readonly endpoint: string;
  readonly motoEndpoint: string;
  readonly region = LOCAL_REGION;
  readonly accountId = LOCAL_ACCOUNT_ID;
  readonly credentials = LOCAL_CREDENTIALS;
  readonly clientConfig: LocalAws['clientConfig'];
  readonly motoPid: number;
  private readonly urlServers: Server[] = [];
  private stopping: Promise<void> | undefined;

  constructor(
    frontPort: number,
    private readonly moto: { readonly port: number; readonly child: ChildProcess; readonly pid: number },
    private readonly front: Server,
    private readonly agent: Agent,
    private readonly functions: LocalFunctions,
    private readonly bedrock: LocalBedrock,
  ) {
    this.endpoint = `http://127.0.0.1:${frontPort}`;
    this.motoEndpoint = `http://127.0.0.1:${moto.port}`;
    this.motoPid = moto.pid;
    this.clientConfig = { endpoint: this.endpoint, region: this.region, credentials: this.credentials };
  }

  registerFunction(name: string, handler: LocalHandler, options?: FunctionOptions): void {
    this.functions.register(name, handler, options);
  }

  functionArn(name: string): string {
    return this.functions.arnOf(name);
  }

  async invoke(name: string, event: unknown): Promise<unknown> {
    const outcome = await this.functions.run(name, event);
    if (!outcome.ok) throw new FunctionInvocationError(outcome.errorType, outcome.errorMessage);
    return outcome.result;
  }

  async serveFunctionUrl(name: string, authType: FunctionUrlAuthType = 'NONE'): Promise<string> {
    const server = createServer((req, res) => {
      this.functions.answerFunctionUrl(name, req, res, authType).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    this.urlServers.push(server);
    return `http://127.0.0.1:${await listen(server)}/`;
  }

  registerIdentity(identity: LocalIdentity): void {
    this.functions.registerIdentity(identity);
  }

  registerInferenceProfile(profile: LocalInferenceProfile): void {
    this.bedrock.register(profile);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all([this.front, ...this.urlServers].map(closeServer));
      this.agent.destroy();
      await stopMoto(this.moto.child);
    })();
    return this.stopping;
  }
}

async function handleFront(
  req: IncomingMessage,
  res: ServerResponse,
  served: { readonly functions: LocalFunctions; readonly bedrock: LocalBedrock },
  motoPort: number,
  agent: Agent,
): Promise<void> {
  const invoked = req.method === 'POST' ? INVOKE_PATH.exec((req.url ?? '').split('?')[0] ?? '') : null;
  if (invoked?.[1]) {
    await served.functions.answerInvoke(decodeURIComponent(invoked[1]), req, res);
    return;
  }
  // Bedrock reads the body to tell its own requests from moto's; a body read is sent on to moto as it was.
  let read: Buffer | undefined;
  const body = async () => {
    read ??= await readBody(req);
    return read;
  };
  if (await served.bedrock.answer(req, res, body)) return;
  await proxy(req, res, motoPort, agent, read);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Forwards a request to moto unchanged (method, path, raw headers, body: `body` when it was read already) and its
 * answer back unchanged.
 */
function proxy(
  req: IncomingMessage,
  res: ServerResponse,
  motoPort: number,
  agent: Agent,
  body?: Buffer,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const upstream = request(
      { host: '127.0.0.1', port: motoPort, method: req.method, path: req.url, headers: req.rawHeaders, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
        answer.pipe(res);
        answer.on('end', resolve);
        answer.on('error', reject);
      },
    );
    upstream.on('error', reject);
    if (body) upstream.end(body);
    else req.pipe(upstream);
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

interface Moto {
  readonly port: number;
  readonly child: ChildProcess;
  readonly pid: number;
}

async function startMoto(
  python: string,
  frontPort: number,
  log: (line: string) => void,
  transactionMs: number,
): Promise<Moto> {
  // The port is free when picked but not reserved; another process may take it before moto binds, so retry.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await startMotoOn(python, port, frontPort, log, transactionMs);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 3) throw error;
    }
  }
}

class PortTakenError extends LocalAwsError {}

async function startMotoOn(
  python: string,
  port: number,
  frontPort: number,
  log: (line: string) => void,
  transactionMs: number,
) {
  const child = spawn(python, [LAUNCHER, '-H', '127.0.0.1', '-p', String(port)], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      MOTO_PORT: String(frontPort),
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      BUDGETEER_EXIT_WITH_PARENT: '1',
      BUDGETEER_TRANSACTION_MS: String(transactionMs),
      PYTHONUNBUFFERED: '1',
    },
  });
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      output.push(line);
      if (output.length > 40) output.shift();
      log(`moto: ${line}`);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === 'ENOENT' ? `${python} was not found; install Python 3 and ${INSTALL_HINT}` : error.message;
      reject(new LocalAwsError(`cannot start moto server: ${reason}`, { cause: error }));
    });
    child.once('exit', (code, signal) => {
      const tail = output.join('\n');
      const message = `moto server exited (${signal ?? `code ${code}`}) before answering:\n${tail}`;
      if (/address already in use/i.test(tail)) reject(new PortTakenError(message));
      else if (tail.includes('pip install')) reject(new LocalAwsError(message));
      else reject(new LocalAwsError(`${message}\nIf moto is missing, ${INSTALL_HINT}`));
    });
  });
  exited.catch(() => {});
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    throw new LocalAwsError('cannot start moto server');
  }
  track(child);
  try {
    await Promise.race([exited, configureWhenReady(port)]);
  } catch (error) {
    await stopMoto(child);
    throw error;
  }
  return { port, child, pid };
}

/** Waits for moto to answer, then turns on execution of state machine definitions. */
async function configureWhenReady(port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const config = JSON.stringify({ stepfunctions: { execute_state_machine: true } });
  for (;;) {
    try {
      const status = await post(port, '/moto-api/config', config);
      if (status >= 200 && status < 300) return;
      throw new LocalAwsError(`moto refused its configuration (HTTP ${status})`);
    } catch (error) {
      if (error instanceof LocalAwsError) throw error;
      if (Date.now() > deadline) {
        throw new LocalAwsError(`moto server did not answer on port ${port} within ${READY_TIMEOUT_MS} ms`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

function post(port: number, urlPath: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: urlPath, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Stops moto's whole process group: politely, then for certain. */
async function stopMoto(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  killGroup(pid, 'SIGTERM');
  const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
  killGroup(pid, 'SIGKILL');
  untrack(child);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

// Every moto this process started, killed when the process ends however it ends (moto also watches its parent).
const running = new Set<ChildProcess>();
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

function killAll(): void {
  for (const child of running) if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
  running.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killAll();
  removeHooks();
  // Nobody else handles it: die of it as the default behaviour would.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function track(child: ChildProcess): void {
  if (running.size === 0) {
    process.on('exit', killAll);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  running.add(child);
}

function untrack(child: ChildProcess): void {
  running.delete(child);
  if (running.size === 0) removeHooks();
}

function removeHooks(): void {
  process.off('exit', killAll);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}
