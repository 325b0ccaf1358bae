/**
 * What the system costs per 1M Bedrock calls at public us-east-1 prices, from what the bench counted per 1,000
 * calls. Prices as published on the services' pricing pages; the date is when each was last changed or read, not
 * re-read from this machine (no network): check them before quoting.
 */

export const PRICES = {
  /** Lambda, ARM: per GB-second and per request (aws.amazon.com/lambda/pricing, read 2025-01). */
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  /** DynamoDB provisioned, standard table class: per WCU-hour and RCU-hour (aws.amazon.com/dynamodb/pricing, read 2025-01). */
  dynamoWcuHour: 0.00065,
  dynamoRcuHour: 0.00013,
  /** DynamoDB on-demand, for comparison: per write and read request unit (price cut of 2024-11-01). */
  dynamoOnDemandWrite: 0.625 / 1e6,
  dynamoOnDemandRead: 0.125 / 1e6,
  /** SQS standard queue, per request of up to 64 KB (aws.amazon.com/sqs/pricing, read 2025-01). */
  sqsRequest: 0.4 / 1e6,
  /** Step Functions standard workflows, per state transition (aws.amazon.com/step-functions/pricing, read 2025-01). */
  sfnTransition: 0.025 / 1000,
  /** SNS, per publish (aws.amazon.com/sns/pricing, read 2025-01). */
  snsPublish: 0.5 / 1e6,
  /** CloudWatch Logs standard class: ingestion per GB and storage per GB-month (aws.amazon.com/cloudwatch/pricing, read 2025-01). */
  logsIngestGb: 0.5,
  logsStorageGbMonth: 0.03,
  /**
   * Kinesis Data Streams on-demand: per GB written and read (each record rounded up to 1 KB) and per stream-hour;
   * provisioned: per shard-hour and per million 25 KB PUT payload units (aws.amazon.com/kinesis/data-streams/pricing,
   * as known 2025-01, not re-read here).
   */
  kinesisOnDemandInGb: 0.08,
  kinesisOnDemandOutGb: 0.04,
  kinesisOnDemandStreamHour: 0.04,
  kinesisShardHour: 0.015,
  kinesisPutUnit: 0.014 / 1e6,
  /** EventBridge: an event delivered to another account's bus is billed to the sender as a custom event (per event,
   * aws.amazon.com/eventbridge/pricing, as known 2025-01, not re-read here). */
  eventBridgeCrossAccountEvent: 1.0 / 1e6,
} as const;

/** The stack's tables are provisioned with auto scaling that keeps them 70% used (infra/constructs/tables.ts). */
export const TARGET_UTILIZATION = 0.7;
/** Lambda writes START, END and REPORT lines per invocation (about 350 bytes), Powertools one summary line and one
 * metrics (EMF) line per ingest invocation (about 1 KB together): an estimate, the bench runs with logging off. */
const PLATFORM_LOG_BYTES = 350;
const INGEST_LOG_BYTES = 1000;
/** Prompt and response text in an invocation log: about 4 bytes per token (an assumption for English text). */
const TEXT_BYTES_PER_TOKEN = 4;

export interface FunctionUse {
  readonly invocations: number;
  readonly ms: number;
  readonly memoryMb: number;
}

export interface CountsPer1000Calls {
  /** Per function name (entry's folder): invocations and summed duration per 1,000 calls. */
  readonly lambda: Readonly<Record<string, FunctionUse>>;
  readonly writeUnits: number;
  readonly readItems: number;
  readonly sqsRequests: number;
  /** Invocation log record bytes per call, without prompt and response text. */
  readonly logRecordBytes: number;
  /** Tokens per call (input + output), for the text an invocation log carries with text delivery on. */
  readonly tokensPerCall: number;
}

export interface CostPerMillionCalls {
  readonly lambdaUsd: number;
  readonly dynamoUsd: number;
  readonly sqsUsd: number;
  readonly logsUsd: number;
  /** The system itself: the sum of the above. */
  readonly totalUsd: number;
  /** DynamoDB on demand instead of provisioned, for comparison. */
  readonly dynamoOnDemandUsd: number;
  /** Bedrock's invocation logs in CloudWatch Logs (one month kept), with text delivery on (the stack's setting). */
  readonly invocationLoggingUsd: number;
  /** The same without prompt and response text. */
  readonly invocationLoggingWithoutTextUsd: number;
}

const logsUsd = (bytes: number) => (bytes / 1024 ** 3) * (PRICES.logsIngestGb + PRICES.logsStorageGbMonth);

export function costPerMillionCalls(counts: CountsPer1000Calls): CostPerMillionCalls {
  const scale = 1000; // per 1,000 calls -> per 1M calls
  let lambdaUsd = 0;
  let functionLogBytes = 0;
  for (const [name, use] of Object.entries(counts.lambda)) {
    const gbSeconds = (use.ms / 1000) * (use.memoryMb / 1024);
    lambdaUsd += scale * (use.invocations * PRICES.lambdaRequest + gbSeconds * PRICES.lambdaArmGbSecond);
    functionLogBytes += use.invocations * (PLATFORM_LOG_BYTES + (name === 'ingest' ? INGEST_LOG_BYTES : 0));
  }
  const unitSecond = (hourly: number) => hourly / 3600 / TARGET_UTILIZATION;
  const dynamoUsd =
    scale *
    (counts.writeUnits * unitSecond(PRICES.dynamoWcuHour) + counts.readItems * unitSecond(PRICES.dynamoRcuHour));
  const dynamoOnDemandUsd =
    scale * (counts.writeUnits * PRICES.dynamoOnDemandWrite + counts.readItems * PRICES.dynamoOnDemandRead);
  const sqsUsd = scale * counts.sqsRequests * PRICES.sqsRequest;
  const logs = scale * logsUsd(functionLogBytes);
  const perCallText = counts.tokensPerCall * TEXT_BYTES_PER_TOKEN;
  return {
    lambdaUsd,
    dynamoUsd,
    sqsUsd,
    logsUsd: logs,
    totalUsd: lambdaUsd + dynamoUsd + sqsUsd + logs,
    dynamoOnDemandUsd,
    invocationLoggingUsd: 1e6 * logsUsd(counts.logRecordBytes + perCallText),
    invocationLoggingWithoutTextUsd: 1e6 * logsUsd(counts.logRecordBytes),
  };
}
