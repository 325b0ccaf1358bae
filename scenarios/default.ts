/**
 * The bundled scenario `npm start` replays: a compressed billing period of Bedrock use in one account by a few
 * principals of each kind, with several models, prompt caching (one-hour cache writes too), streamed calls whose log
 * body is the array of stream events, calls through an application inference profile, the same request delivered
 * twice, and one malformed record. Later capabilities extend it here, in one place.
 */

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';

export interface Actor {
  readonly arn: string;
  readonly identityType: 'IAMUser' | 'AssumedRole';
  readonly roleArn?: string;
}

export const user = (name: string, account = ACCOUNT): Actor => ({
  arn: `arn:aws:iam::${account}:user/${name}`,
  identityType: 'IAMUser',
});
export const session = (role: string, name: string, account = ACCOUNT): Actor => ({
  arn: `arn:aws:sts::${account}:assumed-role/${role}/${name}`,
  identityType: 'AssumedRole',
  roleArn: `arn:aws:iam::${account}:role/${role}`,
});

const SSO_ROLE = 'AWSReservedSSO_DataScientist_0123456789abcdef';
export const ACTORS = {
  alice: user('alice'),
  apiKey: user('BedrockAPIKey-4xq9'),
  summarizer1: session('summarizer-app', 'batch-worker-1'),
  summarizer2: session('summarizer-app', 'batch-worker-2'),
  maria: session(SSO_ROLE, 'maria@example.com'),
  li: session(SSO_ROLE, 'li@example.com'),
  chat: session('chat-frontend', 'worker-7'),
  leak: user('BedrockAPIKey-leak1'),
  support: session('support-bot', 'worker-1'),
};

/**
 * Limits set before the replay (USD), keyed as `--budgets` files are: principal id or the name it ends with; a
 * limit with a rate rule (the burn-rate guard) is an object, as in a budgets file.
 */
export const DEFAULT_BUDGETS = {
  default: '10',
  account: '60',
  alice: '5',
  'BedrockAPIKey-4xq9': '0.07',
  'summarizer-app': '1.35',
  // A key that leaks mid-period: $10 a month, but never more than $1 in any rolling hour.
  'BedrockAPIKey-leak1': { usd: '10', maxUsdPerHour: '1', onRate: 'suspend' },
  // The data-science team: its two SSO users (the role's sessions, by pattern) and the API key its notebooks use,
  // a member by its IAM tag. Their spend adds up in the group's counter; 80% of $2.40 is alerted to the team.
  groups: {
    'data-science': {
      usd: '2.40',
      members: ['role/AWSReservedSSO_DataScientist_*'],
      tag: 'team=data-science',
      owners: ['data-science-leads@example.com'],
    },
  },
} as const;

/** IAM tags the scenario's users and roles carry (the local IAM is given them): what tag membership reads. */
export const PRINCIPAL_TAGS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'user/BedrockAPIKey-4xq9': { team: 'data-science' },
};

/**
 * The application inference profiles the scenario's calls go through, as Bedrock's GetInferenceProfile and
 * ListTagsForResource describe them (the local stack answers both from here). The support bot's profile was copied
 * from the `us.` Haiku 4.5 system profile: it lists the model in the three Regions that profile routes to, and its
 * calls are priced as Haiku 4.5.
 */
export const INFERENCE_PROFILES = [
  {
    arn: `arn:aws:bedrock:${REGION}:${ACCOUNT}:application-inference-profile/sb4h7k2m9x1q`,
    name: 'support-bot',
    models: ['us-east-1', 'us-east-2', 'us-west-2'].map(
      (region) => `arn:aws:bedrock:${region}::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0`,
    ),
    tags: { team: 'support', application: 'support-bot' },
  },
] as const;

/**
 * The leaked key's calls: Sonnet 4 with long prompts, one a minute from mid-period (100000 x 3 + 2000 x 15 per M =
 * $0.33 each). The fourth puts its rolling hour at $1.32, above its $1: the guard suspends it there, at 13.2% of its
 * $10 month. (The replay delivers what the scenario holds; the deny would refuse any call after it.)
 */
export const LEAK_CALLS = 4;

export interface Call {
  readonly actor: Actor;
  readonly operation: 'InvokeModel' | 'InvokeModelWithResponseStream' | 'Converse' | 'ConverseStream';
  readonly modelId: string;
  readonly input: number;
  readonly output: number;
  readonly cacheRead?: number;
  /** Cache writes with the default five-minute TTL. */
  readonly cacheWrite?: number;
  /** Cache writes with a one-hour TTL; the log's cacheWriteInputTokenCount holds both kinds, the body splits them. */
  readonly cacheWrite1h?: number;
  /** True for a call whose log carries the response body as Bedrock writes it (for a stream, the array of events). */
  readonly body?: boolean;
  /** False for a call whose invocation log never arrives (logging gap): only CloudTrail sees it. */
  readonly logged?: boolean;
}

/** The account a call is made in: its principal's (the scenario's calls are each made in their caller's account). */
const accountOf = (actor: Actor) => actor.arn.split(':')[4] as string;

/** A call's CloudTrail event as EventBridge delivers it (in an organization, as the central bus receives it). */
export function cloudTrailEvent(call: Call, requestId: string, time: string) {
  const account = accountOf(call.actor);
  return {
    version: '0',
    id: `ct-${requestId}`,
    'detail-type': 'AWS API Call via CloudTrail',
    source: 'aws.bedrock',
    account,
    time,
    region: REGION,
    resources: [],
    detail: {
      eventVersion: '1.09',
      userIdentity: {
        type: call.actor.identityType,
        arn: call.actor.arn,
        accountId: account,
        ...(call.actor.roleArn ? { sessionContext: { sessionIssuer: { type: 'Role', arn: call.actor.roleArn } } } : {}),
      },
      eventTime: time,
      eventSource: 'bedrock.amazonaws.com',
      eventName: call.operation,
      awsRegion: REGION,
      requestParameters: { modelId: call.modelId },
      responseElements: null,
      requestID: requestId,
      eventID: `ev-${requestId}`,
      readOnly: true,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: account,
      eventCategory: 'Management',
    },
  };
}

/** A call's model invocation log record, as its account's invocation log group holds it. */
export function invocationLog(call: Call, requestId: string, time: string) {
  const cacheRead = call.cacheRead ?? 0;
  const cacheWrite = (call.cacheWrite ?? 0) + (call.cacheWrite1h ?? 0);
  return {
    schemaType: 'ModelInvocationLog',
    schemaVersion: '1.0',
    timestamp: time,
    accountId: accountOf(call.actor),
    identity: { arn: call.actor.arn },
    region: REGION,
    requestId,
    operation: call.operation,
    modelId: call.modelId,
    input: {
      inputContentType: 'application/json',
      inputTokenCount: call.input,
      cacheReadInputTokenCount: cacheRead,
      cacheWriteInputTokenCount: cacheWrite,
    },
    output: {
      outputContentType: 'application/json',
      outputTokenCount: call.output,
      ...(call.body ? { outputBodyJson: outputBody(call) } : {}),
    },
  };
}

/** Converse `usage`, with `cacheDetails` splitting the cache writes by TTL. */
function converseUsage(call: Call) {
  const cacheRead = call.cacheRead ?? 0;
  const details = [
    ...(call.cacheWrite1h ? [{ inputTokens: call.cacheWrite1h, ttl: '1h' }] : []),
    ...(call.cacheWrite ? [{ inputTokens: call.cacheWrite, ttl: '5m' }] : []),
  ];
  const cacheWrite = (call.cacheWrite ?? 0) + (call.cacheWrite1h ?? 0);
  return {
    inputTokens: call.input,
    outputTokens: call.output,
    totalTokens: call.input + call.output + cacheRead + cacheWrite,
    cacheReadInputTokens: cacheRead,
    cacheWriteInputTokens: cacheWrite,
    ...(details.length ? { cacheDetails: details } : {}),
  };
}

/** The response body as the invocation log keeps it: an object, or for a stream the array of its events. */
function outputBody(call: Call): unknown {
  const usage = converseUsage(call);
  if (call.operation === 'Converse') {
    return { output: { message: { role: 'assistant', content: [{ text: '…' }] } }, stopReason: 'end_turn', usage };
  }
  if (call.operation === 'ConverseStream') {
    return [
      { messageStart: { role: 'assistant' } },
      { contentBlockDelta: { delta: { text: '…' }, contentBlockIndex: 0 } },
      { contentBlockStop: { contentBlockIndex: 0 } },
      { messageStop: { stopReason: 'end_turn' } },
      { metadata: { usage, metrics: { latencyMs: 1800 } } },
    ];
  }
  // An Anthropic messages stream: the prompt's usage in message_start, the output in message_delta.
  return [
    {
      type: 'message_start',
      message: {
        role: 'assistant',
        usage: {
          input_tokens: call.input,
          cache_read_input_tokens: usage.cacheReadInputTokens,
          cache_creation_input_tokens: usage.cacheWriteInputTokens,
          cache_creation: {
            ephemeral_5m_input_tokens: call.cacheWrite ?? 0,
            ephemeral_1h_input_tokens: call.cacheWrite1h ?? 0,
          },
          output_tokens: 1,
        },
      },
    },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '…' } },
    { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: call.output } },
    {
      type: 'message_stop',
      'amazon-bedrock-invocationMetrics': {
        inputTokenCount: call.input,
        outputTokenCount: call.output,
        cacheReadInputTokenCount: usage.cacheReadInputTokens,
        cacheWriteInputTokenCount: usage.cacheWriteInputTokens,
      },
    },
  ];
}

const SONNET = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const NOVA_LITE = 'amazon.nova-lite-v1:0';
const NOVA_PRO = 'amazon.nova-pro-v1:0';
const LLAMA = 'meta.llama3-1-70b-instruct-v1:0';
const HAIKU_4_5 = 'us.anthropic.claude-haiku-4-5-20251001-v1:0';
const SONNET_4_5_GLOBAL = 'global.anthropic.claude-sonnet-4-5-20250929-v1:0';

/** Who calls what, how often: the story of the period. */
function plan(): Call[] {
  const calls: Call[] = [];
  const repeat = (n: number, call: Call) => {
    for (let i = 0; i < n; i++) calls.push(call);
  };
  // alice: heavy Sonnet use with long prompts, past her $5 budget by the end of the period.
  repeat(16, { actor: ACTORS.alice, operation: 'InvokeModel', modelId: SONNET, input: 100_000, output: 2_000 });
  // The API key: a chatbot on Nova Lite, modest.
  repeat(40, {
    actor: ACTORS.apiKey,
    operation: 'InvokeModelWithResponseStream',
    modelId: NOVA_LITE,
    input: 20_000,
    output: 1_500,
  });
  // The summarizer role from two workers, with prompt caching: one budget for the role.
  for (const actor of [ACTORS.summarizer1, ACTORS.summarizer2]) {
    repeat(15, {
      actor,
      operation: 'Converse',
      modelId: SONNET,
      input: 350,
      output: 900,
      cacheRead: 80_000,
      cacheWrite: 2_000,
    });
  }
  // Two humans behind one SSO permission set: each has a budget of their own.
  repeat(12, { actor: ACTORS.maria, operation: 'ConverseStream', modelId: NOVA_PRO, input: 25_000, output: 700 });
  repeat(20, { actor: ACTORS.li, operation: 'Converse', modelId: LLAMA, input: 8_000, output: 1_000 });
  repeat(10, { actor: ACTORS.li, operation: 'InvokeModel', modelId: HAIKU, input: 12_000, output: 400 });
  // A chat frontend streams Claude to its users: the invocation log keeps each stream as its array of events, and
  // its long-lived system prompts are cached for an hour, through Converse and ConverseStream.
  repeat(20, {
    actor: ACTORS.chat,
    operation: 'InvokeModelWithResponseStream',
    modelId: HAIKU_4_5,
    input: 900,
    output: 350,
    cacheRead: 6_000,
    body: true,
  });
  repeat(12, {
    actor: ACTORS.chat,
    operation: 'Converse',
    modelId: SONNET_4_5_GLOBAL,
    input: 400,
    output: 1_200,
    cacheRead: 30_000,
    cacheWrite: 8_000,
    cacheWrite1h: 16_000,
    body: true,
  });
  repeat(8, {
    actor: ACTORS.chat,
    operation: 'ConverseStream',
    modelId: HAIKU_4_5,
    input: 500,
    output: 300,
    cacheWrite1h: 10_000,
    body: true,
  });
  // A support bot calls through its application inference profile (the ARN is its model id): priced as the
  // profile's model, Haiku 4.5 (4000 x 1.10 + 600 x 5.50 per M = 0.0077 each), not as an unknown model.
  repeat(10, {
    actor: ACTORS.support,
    operation: 'Converse',
    modelId: INFERENCE_PROFILES[0].arn,
    input: 4_000,
    output: 600,
  });
  // Maria's notebook streams large bodies that the invocation log offloads without usage: CloudTrail alone sees
  // these calls; the coverage sweep charges them at the estimate.
  repeat(3, {
    actor: ACTORS.maria,
    operation: 'ConverseStream',
    modelId: NOVA_PRO,
    input: 0,
    output: 0,
    logged: false,
  });
  return calls;
}

export interface ScenarioEvent {
  /** When the call happened, ISO-8601. */
  readonly at: string;
  /** One document as AWS delivers it: an EventBridge CloudTrail event or an invocation log record. */
  readonly document: unknown;
}

/**
 * The events of the period so far, spread evenly from `periodStart` to `now`, interleaving principals. Every call
 * yields its CloudTrail event and its invocation log record; two log records are delivered twice, and one
 * malformed record is mixed in.
 */
export function defaultScenario(periodStart: Date, now: Date): ScenarioEvent[] {
  const calls = interleave(plan());
  const span = Math.max(60_000, now.getTime() - periodStart.getTime() - 60_000);
  const events: ScenarioEvent[] = [];
  calls.forEach((call, index) => {
    const at = new Date(periodStart.getTime() + Math.floor((span * (index + 1)) / (calls.length + 1))).toISOString();
    const requestId = `req-${String(index + 1).padStart(4, '0')}`;
    events.push({ at, document: cloudTrailEvent(call, requestId, at) });
    if (call.logged === false) return;
    const log = invocationLog(call, requestId, at);
    events.push({ at, document: log });
    if (index === 7 || index === 42) events.push({ at, document: log }); // delivered twice: counted once
    if (index === 20) {
      events.push({ at, document: { schemaType: 'ModelInvocationLog', requestId: 'req-broken', identity: {} } });
    }
  });
  // The leaked key starts spending fast mid-period.
  const leakStart = periodStart.getTime() + Math.floor(span * 0.5);
  for (let i = 0; i < LEAK_CALLS; i++) {
    const at = new Date(leakStart + i * 60_000).toISOString();
    const call: Call = { actor: ACTORS.leak, operation: 'InvokeModel', modelId: SONNET, input: 100_000, output: 2_000 };
    events.push({ at, document: cloudTrailEvent(call, `req-leak-${i + 1}`, at) });
    events.push({ at, document: invocationLog(call, `req-leak-${i + 1}`, at) });
  }
  // An override: after alice is suspended, an admin raises her limit above her spend; the deny is lifted at once.
  const overrideAt = new Date(periodStart.getTime() + Math.floor(span * 0.75)).toISOString();
  events.push({ at: overrideAt, document: { budgeteer: 'budget set', principal: 'alice', usd: '6' } });
  return events;
}

/** Round-robin over principals so the timeline shows them all moving, as in a real month. */
export function interleave(calls: Call[]): Call[] {
  const queues = new Map<string, Call[]>();
  for (const call of calls) queues.set(call.actor.arn, [...(queues.get(call.actor.arn) ?? []), call]);
  const out: Call[] = [];
  while (out.length < calls.length) {
    for (const queue of queues.values()) {
      const next = queue.shift();
      if (next) out.push(next);
    }
  }
  return out;
}
