import * as z from 'zod';

/** Bedrock runtime operations that consume tokens and so are metered. */
export const METERED_OPERATIONS = [
  'InvokeModel',
  'InvokeModelWithResponseStream',
  'Converse',
  'ConverseStream',
] as const;

/**
 * Inference on the `bedrock-mantle` endpoint (OpenAI Responses and Chat Completions, Anthropic Messages): one
 * CloudTrail data event, `CreateInference`, for all three APIs. Invocation logging does not cover this endpoint, so
 * such a call is only ever a sighting, which the coverage sweep charges at the unmetered estimate.
 */
export const MANTLE_INFERENCE_OPERATIONS = ['CreateInference'] as const;

export const RUNTIME_EVENT_SOURCE = 'bedrock.amazonaws.com';
export const MANTLE_EVENT_SOURCE = 'bedrock-mantle.amazonaws.com';

/**
 * The EventBridge `source` AWS gives the CloudTrail events of each event source (`aws.` and the service's name). An
 * event whose `source` and `detail.eventSource` do not go together was not sent by AWS.
 */
export const EVENTBRIDGE_SOURCES: Readonly<Record<string, string>> = {
  [RUNTIME_EVENT_SOURCE]: 'aws.bedrock',
  [MANTLE_EVENT_SOURCE]: 'aws.bedrock-mantle',
};

/** The calls a CloudTrail event can report, by event source. */
export const INFERENCE_OPERATIONS: Readonly<Record<string, readonly string[]>> = {
  [RUNTIME_EVENT_SOURCE]: METERED_OPERATIONS,
  [MANTLE_EVENT_SOURCE]: MANTLE_INFERENCE_OPERATIONS,
};

const tokenCount = z.number().int().nonnegative();
const optionalTokenCount = tokenCount.optional().nullable();

export const cloudTrailUserIdentity = z.looseObject({
  type: z.string(),
  arn: z.string().min(1, 'userIdentity.arn is empty'),
  sessionContext: z
    .looseObject({
      sessionIssuer: z.looseObject({ type: z.string().optional(), arn: z.string().optional() }).optional(),
    })
    .optional(),
});

export const cloudTrailEvent = z.looseObject({
  'detail-type': z.literal('AWS API Call via CloudTrail'),
  // `aws.bedrock` for the runtime; CloudTrail names the source of bedrock-mantle events after that service.
  source: z.string().regex(/^aws\.bedrock(-mantle)?$/, 'not a Bedrock event source'),
  /** The account EventBridge received the event in; AWS sets it, so only the deployment's own is believed. */
  account: z.string().optional(),
  detail: z.looseObject({
    eventSource: z.enum([RUNTIME_EVENT_SOURCE, MANTLE_EVENT_SOURCE]),
    eventName: z.string(),
    eventTime: z.iso.datetime({ offset: true }),
    awsRegion: z.string().min(1),
    requestID: z.string().min(1),
    userIdentity: cloudTrailUserIdentity,
    // The runtime names the model `modelId`; bedrock-mantle names it `model`, as the OpenAI and Anthropic APIs do.
    requestParameters: z
      .looseObject({ modelId: z.string().min(1).optional(), model: z.string().min(1).optional() })
      .nullable()
      .optional(),
    errorCode: z.string().optional(),
  }),
});
export type CloudTrailEvent = z.infer<typeof cloudTrailEvent>;

/**
 * The envelope of a model invocation log record. Token counts live here (`inputTokenCount` excludes cache reads and
 * writes); the bodies are whatever the model took and returned (an object, an array of stream events, a string,
 * nothing when offloaded to S3), so they are accepted as any JSON value and only read to refine the counts.
 */
export const invocationLog = z.looseObject({
  schemaType: z.literal('ModelInvocationLog'),
  timestamp: z.iso.datetime({ offset: true }),
  identity: z.looseObject({ arn: z.string().min(1, 'identity.arn is empty') }),
  region: z.string().min(1),
  requestId: z.string().min(1),
  operation: z.string().min(1),
  modelId: z.string().min(1),
  errorCode: z.string().optional().nullable(),
  input: z
    .looseObject({
      inputTokenCount: optionalTokenCount,
      cacheReadInputTokenCount: optionalTokenCount,
      cacheWriteInputTokenCount: optionalTokenCount,
      inputBodyJson: z.unknown().optional(),
      inputBodyS3Path: z.string().optional().nullable(),
    })
    .optional()
    .nullable(),
  output: z
    .looseObject({
      outputTokenCount: optionalTokenCount,
      outputBodyJson: z.unknown().optional(),
      outputBodyS3Path: z.string().optional().nullable(),
    })
    .optional()
    .nullable(),
});
export type InvocationLog = z.infer<typeof invocationLog>;

export const logsSubscriptionPayload = z.looseObject({
  messageType: z.string(),
  /** The account and log group CloudWatch Logs delivered from: ingest believes only the deployment's own. */
  owner: z.string().optional(),
  logGroup: z.string().optional(),
  logEvents: z.array(z.looseObject({ id: z.string(), timestamp: z.number(), message: z.string() })),
});
