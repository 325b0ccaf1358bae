import { randomUUID } from 'node:crypto';
import { Agent, createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '../bench/random';
import { readBody } from './lambda';

/*
 * A fault-injecting layer between the handlers and the local AWS: what AWS does on a bad day, on demand. Each
 * request of a faulted service either goes through, or is answered with throttling or a 5xx error in the service's
 * own protocol (so the SDK's retry logic engages as it would in AWS), or goes through and then its answer is lost
 * (the write happened, the caller sees a 5xx). Draws come from a seeded generator, so a run is repeatable.
 */

/** The services whose calls can fail; Lambda invocations (the front) and anything else always go through. */
export const FAULTED_SERVICES = ['dynamodb', 'sqs', 'sns', 'iam', 'states'] as const;
export type FaultedService = (typeof FAULTED_SERVICES)[number];

export type FaultKind = 'throttled' | 'unavailable' | 'lost-answer' | 'crash';

/**
 * A fault aimed at chosen requests, beside the random ones: `throttled`, `unavailable` (a 503) and `lost-answer` (a
 * 500 after the write) as the random ones; `crash`: the request goes through, then the caller gets an error it does
 * not retry, so its code stops right after that write (a process dying between two writes). An outage longer than
 * every retry is `unavailable` with a large `times`.
 */
export interface FaultRule {
  /** `service:Operation`, e.g. `dynamodb:TransactWriteItems`, `iam:PutUserPolicy`. */
  readonly operation: string;
  /** Only requests whose body contains this text. */
  readonly match?: string;
  readonly effect: FaultKind;
  /** How many matching requests it hits. @default 1 */
  readonly times?: number;
}

export interface FaultSettings {
  /** Seed of the draws. @default 1 */
  readonly seed?: number;
  /** Share of requests in scope answered with a transient fault. @default 0.1 */
  readonly rate?: number;
  /** Only requests whose body contains one of these strings are faulted (randomly); empty: none. @default [] */
  readonly scope?: readonly string[];
  readonly rules?: readonly FaultRule[];
}

export interface FaultCounts {
  /** Requests of the faulted services that were in scope or matched a rule. */
  readonly considered: number;
  readonly injected: number;
  readonly byKind: Readonly<Record<FaultKind, number>>;
  readonly byService: Readonly<Record<string, number>>;
}

export interface FaultProxy {
  /** Give this to the clients whose calls may fail. */
  readonly endpoint: string;
  /** Replaces the settings and starts the counts again; returns the counts of the settings it replaces. */
  configure(settings: FaultSettings): FaultCounts;
  counts(): FaultCounts;
  stop(): Promise<void>;
}

interface Call {
  readonly service: string;
  readonly operation: string;
  /** JSON protocols (DynamoDB, SQS, Step Functions) answer errors in JSON, query protocols (SNS, IAM) in XML. */
  readonly json: boolean;
  /** The SDK announces each attempt: `amz-sdk-request: attempt=2; max=3`. */
  readonly lastAttempt: boolean;
}

const CREDENTIAL_SCOPE = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/;
const ATTEMPT = /attempt=(\d+);\s*max=(\d+)/;

export function describeCall(headers: IncomingMessage['headers'], body: string): Call {
  const service = CREDENTIAL_SCOPE.exec(String(headers.authorization ?? ''))?.[1] ?? '';
  const target = headers['x-amz-target'];
  const operation =
    typeof target === 'string'
      ? (target.split('.').pop() ?? '')
      : (new URLSearchParams(body).get('Action') ?? '').replace(/[^A-Za-z]/g, '');
  const attempt = ATTEMPT.exec(String(headers['amz-sdk-request'] ?? ''));
  return {
    service,
    operation,
    json: typeof target === 'string',
    lastAttempt: attempt ? attempt[1] === attempt[2] : false,
  };
}

/** The error code each service uses for throttling, as the SDK's retry classification knows it. */
const THROTTLING_CODE: Record<string, string> = {
  dynamodb: 'ProvisionedThroughputExceededException',
  states: 'ThrottlingException',
  sqs: 'ThrottlingException',
  sns: 'Throttling',
  iam: 'Throttling',
};

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** An AWS error answer in the call's protocol. */
export function errorAnswer(call: Call, status: number, code: string, message: string): Answer {
  const requestId = randomUUID();
  if (call.json) {
    return {
      status,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-errortype': code,
        'x-amzn-requestid': requestId,
      },
      body: JSON.stringify({ __type: `com.amazonaws.${call.service}#${code}`, message }),
    };
  }
  const type = status >= 500 ? 'Receiver' : 'Sender';
  return {
    status,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
    body: `<ErrorResponse><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  };
}

const NO_COUNTS = (): { considered: number; byKind: Record<FaultKind, number>; byService: Record<string, number> } => ({
  considered: 0,
  byKind: { throttled: 0, unavailable: 0, 'lost-answer': 0, crash: 0 },
  byService: {},
});

/**
 * Starts the proxy on a free loopback port in front of `target` (the local AWS front). Until `configure` is called
 * it injects nothing. Random faults never fall on the last attempt a caller announces: they prove that retries
 * engage and change nothing; a fault that outlasts the retries is a rule's `outage` or `crash`.
 */
export async function startFaultProxy(target: string, log: (line: string) => void = () => {}): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  let settings: Required<FaultSettings> = { seed: 1, rate: 0, scope: [], rules: [] };
  let draw = seededRandom(1);
  let counts = NO_COUNTS();
  let ruleHits: number[] = [];

  const snapshot = (): FaultCounts => ({
    considered: counts.considered,
    injected: Object.values(counts.byKind).reduce((sum, n) => sum + n, 0),
    byKind: { ...counts.byKind },
    byService: { ...counts.byService },
  });

  const forward = (req: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; message: string | undefined; headers: string[]; body: Buffer }>((resolve, reject) => {
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.rawHeaders,
          agent,
        },
        (answer) => {
          readBody(answer).then(
            (answerBody) =>
              resolve({
                status: answer.statusCode ?? 502,
                message: answer.statusMessage,
                headers: answer.rawHeaders,
                body: answerBody,
              }),
            reject,
          );
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  /** Which fault, if any, this request gets. */
  const choose = (call: Call, text: string): FaultKind | undefined => {
    if (!(FAULTED_SERVICES as readonly string[]).includes(call.service)) return undefined;
    const name = `${call.service}:${call.operation}`;
    const ruleIndex = settings.rules.findIndex(
      (rule, i) =>
        rule.operation === name &&
        (rule.match === undefined || text.includes(rule.match)) &&
        (ruleHits[i] ?? 0) < (rule.times ?? 1),
    );
    const rule = settings.rules[ruleIndex];
    if (rule) {
      counts.considered++;
      ruleHits[ruleIndex] = (ruleHits[ruleIndex] ?? 0) + 1;
      return rule.effect;
    }
    if (!settings.scope.some((s) => text.includes(s))) return undefined;
    counts.considered++;
    const roll = draw();
    if (call.lastAttempt || roll >= settings.rate) return undefined;
    // Within the faulted share: 40% throttled, 40% a 5xx before the write, 20% a 5xx after it.
    const part = roll / settings.rate;
    return part < 0.4 ? 'throttled' : part < 0.8 ? 'unavailable' : 'lost-answer';
  };

  const answer = (res: ServerResponse, reply: Answer) => {
    res.writeHead(reply.status, reply.headers).end(reply.body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const text = body.toString('utf8');
    const call = describeCall(req.headers, text);
    const fault = choose(call, text);
    if (fault) {
      counts.byKind[fault]++;
      counts.byService[call.service] = (counts.byService[call.service] ?? 0) + 1;
      log(`faults: ${fault} ${call.service}:${call.operation}`);
    }
    if (fault === 'throttled') {
      return answer(res, errorAnswer(call, 400, THROTTLING_CODE[call.service] ?? 'Throttling', 'Rate exceeded'));
    }
    if (fault === 'unavailable') {
      return answer(res, errorAnswer(call, 503, 'ServiceUnavailable', 'Service unavailable (injected)'));
    }
    const forwarded = await forward(req, body);
    if (fault === 'lost-answer') {
      return answer(res, errorAnswer(call, 500, 'InternalFailure', 'Internal failure (injected after the write)'));
    }
    if (fault === 'crash') {
      return answer(res, errorAnswer(call, 400, 'InjectedCrash', 'the caller crashed after this write (injected)'));
    }
    res.writeHead(forwarded.status, forwarded.message, forwarded.headers).end(forwarded.body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`faults: ${String(error)}`);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('fault proxy failed; see its log');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    configure(next) {
      const before = snapshot();
      settings = { seed: next.seed ?? 1, rate: next.rate ?? 0.1, scope: next.scope ?? [], rules: next.rules ?? [] };
      draw = seededRandom(settings.seed);
      counts = NO_COUNTS();
      ruleHits = [];
      return before;
    },
    counts: snapshot,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
