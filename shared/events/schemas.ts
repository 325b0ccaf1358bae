import { z } from 'zod';

/** Bedrock runtime operations that consume tokens and so are metered. */
export const METERED_OPERATIONS = [
  'InvokeModel',
  'InvokeModelWithResponseStream',
  'Converse',
  'ConverseStream',
] as const;

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
  source: z.literal('aws.bedrock'),
  detail: z.looseObject({
    eventSource: z.literal('bedrock.amazonaws.com'),
    eventName: z.string(),
    eventTime: z.iso.datetime({ offset: true }),
    awsRegion: z.string().min(1),
    requestID: z.string().min(1),
    userIdentity: cloudTrailUserIdentity,
    requestParameters: z
      .looseObject({ modelId: z.string().min(1) })
      .nullable()
      .optional(),
    errorCode: z.string().optional(),
  }),
});
export type CloudTrailEvent = z.infer<typeof cloudTrailEvent>;

const usageBlock = z
  .looseObject({
    // Converse
    inputTokens: optionalTokenCount,
    outputTokens: optionalTokenCount,
    cacheReadInputTokens: optionalTokenCount,
    cacheWriteInputTokens: optionalTokenCount,
    // Anthropic messages API
    input_tokens: optionalTokenCount,
    output_tokens: optionalTokenCount,
    cache_read_input_tokens: optionalTokenCount,
    cache_creation_input_tokens: optionalTokenCount,
    cache_creation: z
      .looseObject({ ephemeral_5m_input_tokens: optionalTokenCount, ephemeral_1h_input_tokens: optionalTokenCount })
      .optional()
      .nullable(),
  })
  .optional()
  .nullable();

export const invocationLog = z.looseObject({
  schemaType: z.literal('ModelInvocationLog'),
  timestamp: z.iso.datetime({ offset: true }),
  identity: z.looseObject({ arn: z.string().min(1, 'identity.arn is empty') }),
  region: z.string().min(1),
  requestId: z.string().min(1),
  operation: z.string().min(1),
  modelId: z.string().min(1),
  input: z.looseObject({
    inputTokenCount: tokenCount,
    cacheReadInputTokenCount: optionalTokenCount,
    cacheWriteInputTokenCount: optionalTokenCount,
  }),
  output: z.looseObject({
    outputTokenCount: tokenCount,
    outputBodyJson: z
      .looseObject({ usage: usageBlock, images: z.array(z.unknown()).optional() })
      .optional()
      .nullable(),
  }),
});
export type InvocationLog = z.infer<typeof invocationLog>;

export const logsSubscriptionPayload = z.looseObject({
  messageType: z.string(),
  logEvents: z.array(z.looseObject({ id: z.string(), timestamp: z.number(), message: z.string() })),
});
