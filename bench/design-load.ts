/**
 * What an organization's design load takes of the Kinesis path, ingest, DynamoDB and money, computed from measured
 * figures (bench/organization.ts, bench/run.ts) and stated assumptions. Every input is named and every step is
 * arithmetic, so docs/performance.md can show it and a changed measurement changes the answer.
 */
import { PRICES, TARGET_UTILIZATION } from './cost';

export interface DesignLoadInputs {
  /** Bedrock calls a second across the organization at peak. */
  readonly peakCallsPerSecond: number;
  readonly accounts: number;
  readonly principals: number;
  /** The month's average as a fraction of the peak (for monthly fixed costs spread per call). */
  readonly averageOfPeak: number;
  /** Log events per CloudWatch Logs delivery (one Kinesis record): assumed, CloudWatch Logs decides. */
  readonly deliverySize: number;
  /** Measured: gzip subscription payload bytes per call, without prompt and response text, at `deliverySize`. */
  readonly payloadBytesPerCall: number;
  /** Assumed: prompt and response text per call when text delivery is on, and gzip's ratio on it. */
  readonly textBytesPerCall: number;
  readonly textCompression: number;
  /** Measured: write units per call of the CloudTrail route (sighting) and of the log route (charge), per call. */
  readonly cloudTrailWriteUnitsPerCall: number;
  /** Rows (2 in a transaction), the `unmetered` index left on charge (1), counters per call at this load (2 each). */
  readonly logRowWriteUnitsPerCall: number;
  readonly counterWritesPerCall: number;
  /** Of the two routes' units, those of the Usage table's `unmetered` index (in on sighting, out on charge). */
  readonly indexWriteUnitsPerCall: number;
  /** Measured: items the evaluator reads per call (consistent reads of items under 4 KB: 1 read unit each). */
  readonly readItemsPerCall: number;
  /** Charges per ingest transaction (100 actions at most; a row and a counter each, shards and groups besides). */
  readonly callsPerTransaction: number;
  /** Assumed: how long a TransactWriteItems of up to 100 actions takes in DynamoDB. */
  readonly transactionMs: number;
  /** Transactions retried for a conflict on a principal's counter (docs/performance.md, "The account counter"). */
  readonly retryFraction: number;
  /** Measured on the local stack (an upper bound: moto's durations): the functions' cost per 1M calls. */
  readonly lambdaUsdPer1MCalls: number;
  /** SQS requests per call on the CloudTrail route (EventBridge's SendMessage, the mapping's receives and deletes). */
  readonly sqsRequestsPerCall: number;
}

/** The figures of docs/performance.md, "An organization: the Kinesis path and the design load". */
export const ORGANIZATION_DESIGN_LOAD: Omit<DesignLoadInputs, 'payloadBytesPerCall'> = {
  peakCallsPerSecond: 2000,
  accounts: 200,
  principals: 20_000,
  averageOfPeak: 0.25,
  // 10 calls a second per account at peak, delivered about once a second per account's log group.
  deliverySize: 10,
  textBytesPerCall: 4400,
  textCompression: 3,
  cloudTrailWriteUnitsPerCall: 3,
  logRowWriteUnitsPerCall: 3,
  // 100 principals per account: a delivery of 10 events names about 10 of them, each its own counter.
  counterWritesPerCall: 1,
  indexWriteUnitsPerCall: 2,
  readItemsPerCall: 1.12,
  callsPerTransaction: 33,
  transactionMs: 25,
  retryFraction: 0.4,
  lambdaUsdPer1MCalls: 0.17,
  sqsRequestsPerCall: 1.2,
};

const HOURS_PER_MONTH = 730;
const KB = 1024;
const GB = 1024 ** 3;

export function designLoad(inputs: DesignLoadInputs) {
  const i = inputs;
  // Kinesis: one record per delivery, billed (on demand) rounded up to 1 KB.
  const recordsPerSecond = i.peakCallsPerSecond / i.deliverySize;
  const bytesPerCall = {
    withoutText: i.payloadBytesPerCall,
    withText: i.payloadBytesPerCall + i.textBytesPerCall / i.textCompression,
  };
  const mbPerSecond = {
    withoutText: (i.peakCallsPerSecond * bytesPerCall.withoutText) / 1e6,
    withText: (i.peakCallsPerSecond * bytesPerCall.withText) / 1e6,
  };
  // A provisioned shard takes 1 MB/s or 1,000 records/s of writes; half of it used at peak leaves room for bursts.
  const shardsFor = (mb: number) => Math.max(2, Math.ceil(Math.max(mb / 1, recordsPerSecond / 1000) / 0.5));
  const provisionedShards = {
    withoutText: shardsFor(mbPerSecond.withoutText),
    withText: shardsFor(mbPerSecond.withText),
  };

  // Ingest: transactions a second, each held transactionMs, retried for conflicts: the invocations busy at once.
  const transactionsPerSecond =
    (i.peakCallsPerSecond / i.callsPerTransaction) * (1 + i.retryFraction) + i.peakCallsPerSecond / 100;
  const busyInvocations = (transactionsPerSecond * i.transactionMs) / 1000;
  // One invocation per shard at a time per unit of ParallelizationFactor; twice what is busy, for bursts and
  // the batches' parsing; at most the 64 account shards' worth (each environment settles on one of its own).
  const concurrency = Math.min(64, Math.max(4, Math.ceil(busyInvocations * 2)));

  // DynamoDB: write and read units a second at peak, provisioned at the auto-scaling target.
  const writeUnitsPerCall = i.cloudTrailWriteUnitsPerCall + i.logRowWriteUnitsPerCall + 2 * i.counterWritesPerCall;
  const wcu = i.peakCallsPerSecond * writeUnitsPerCall;
  const rcu = i.peakCallsPerSecond * i.readItemsPerCall;
  const provisioned = { wcu: Math.ceil(wcu / TARGET_UTILIZATION), rcu: Math.ceil(rcu / TARGET_UTILIZATION) };
  // A provisioned table's global secondary index has capacity of its own: the peak per table and index.
  const perSecond = (unitsPerCall: number) => Math.ceil((i.peakCallsPerSecond * unitsPerCall) / TARGET_UTILIZATION);
  const provisionedWcuByTable = {
    usage: perSecond(i.cloudTrailWriteUnitsPerCall + i.logRowWriteUnitsPerCall - i.indexWriteUnitsPerCall),
    usageUnmeteredIndex: perSecond(i.indexWriteUnitsPerCall),
    budgets: perSecond(2 * i.counterWritesPerCall),
  };

  // Money per 1M calls.
  const million = 1e6;
  const callsPerMonth = i.peakCallsPerSecond * i.averageOfPeak * 3600 * HOURS_PER_MONTH;
  const monthlyPerMillion = (usd: number) => (usd * million) / callsPerMonth;
  const recordsPerMillion = million / i.deliverySize;
  const onDemandKinesis = (perCall: number) => {
    const billedGb = (recordsPerMillion * Math.ceil((perCall * i.deliverySize) / KB) * KB) / GB;
    return (
      billedGb * (PRICES.kinesisOnDemandInGb + PRICES.kinesisOnDemandOutGb) +
      monthlyPerMillion(PRICES.kinesisOnDemandStreamHour * HOURS_PER_MONTH)
    );
  };
  const provisionedKinesis = (perCall: number, shards: number) =>
    recordsPerMillion * Math.ceil((perCall * i.deliverySize) / (25 * KB)) * PRICES.kinesisPutUnit +
    monthlyPerMillion(shards * PRICES.kinesisShardHour * HOURS_PER_MONTH);
  const unitSecond = (hourly: number) => hourly / 3600 / TARGET_UTILIZATION;
  const dynamoUsd =
    million *
    (writeUnitsPerCall * unitSecond(PRICES.dynamoWcuHour) + i.readItemsPerCall * unitSecond(PRICES.dynamoRcuHour));
  const cost = {
    lambdaUsd: i.lambdaUsdPer1MCalls,
    dynamoUsd,
    dynamoOnDemandUsd:
      million * (writeUnitsPerCall * PRICES.dynamoOnDemandWrite + i.readItemsPerCall * PRICES.dynamoOnDemandRead),
    sqsUsd: million * i.sqsRequestsPerCall * PRICES.sqsRequest,
    eventBridgeCrossAccountUsd: million * PRICES.eventBridgeCrossAccountEvent,
    kinesisOnDemandUsd: {
      withoutText: onDemandKinesis(bytesPerCall.withoutText),
      withText: onDemandKinesis(bytesPerCall.withText),
    },
    kinesisProvisionedUsd: {
      withoutText: provisionedKinesis(bytesPerCall.withoutText, provisionedShards.withoutText),
      withText: provisionedKinesis(bytesPerCall.withText, provisionedShards.withText),
    },
  };
  const base = cost.lambdaUsd + cost.dynamoUsd + cost.sqsUsd + cost.eventBridgeCrossAccountUsd;
  return {
    inputs,
    kinesis: { recordsPerSecond, bytesPerCall, mbPerSecond, provisionedShards },
    ingest: { transactionsPerSecond, busyInvocations, concurrency },
    dynamo: { writeUnitsPerCall, wcu, rcu, provisioned, provisionedWcuByTable },
    callsPerMonth,
    costPer1MCallsUsd: {
      ...cost,
      totalOnDemandStream: {
        withoutText: base + cost.kinesisOnDemandUsd.withoutText,
        withText: base + cost.kinesisOnDemandUsd.withText,
      },
    },
  };
}
