import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { decimalOf } from '../../shared/budgets';
import type { Decision, DecisionKind } from './evaluate';

/** The metric each kind of decision is counted under; the kinds left out are counted elsewhere or not at all. */
const COUNTED: Partial<Record<DecisionKind, string>> = {
  'threshold-alert': 'AlertsSent',
  suspension: 'SuspensionsStarted',
  'suspension-skipped': 'SuspensionsSkipped',
  'awaiting-confirmation': 'AwaitingConfirmation',
  'emergency-stop': 'EmergencyStops',
  'group-stop': 'GroupStops',
  'unknown-model': 'UnknownModels',
};

/** Decisions on a budget crossed (a threshold, or the limit): their latency from the crossing is measured. */
const CROSSINGS = new Set<DecisionKind>([
  'threshold-alert',
  'suspension',
  'suspension-skipped',
  'awaiting-confirmation',
  'emergency-stop',
  'group-stop',
]);

export interface MetricPoint {
  readonly name: string;
  readonly unit: (typeof MetricUnit)[keyof typeof MetricUnit];
  readonly value: number;
  /** Besides the function's own `service` dimension. */
  readonly dimensions?: Readonly<Record<string, string>>;
}

/**
 * What one decision counts for: its count (an alert also by its threshold), and for a crossing the milliseconds
 * from the change that crossed (`changedAt`, when known) to the claim.
 */
export function metricsOf(decision: Decision, changedAt: number | undefined): MetricPoint[] {
  const points: MetricPoint[] = [];
  const counted = COUNTED[decision.kind];
  if (counted) points.push({ name: counted, unit: MetricUnit.Count, value: 1 });
  if (decision.kind === 'threshold-alert' && decision.threshold !== undefined) {
    points.push({
      name: 'AlertsSent',
      unit: MetricUnit.Count,
      value: 1,
      dimensions: { threshold: String(decision.threshold) },
    });
  }
  if (CROSSINGS.has(decision.kind) && changedAt !== undefined) {
    // Clocks of two machines: a claim a few ms "before" the charge is a claim at once.
    const latency = Math.max(0, decision.claimedAt.getTime() - changedAt);
    points.push({ name: 'CrossingToDecisionLatency', unit: MetricUnit.Milliseconds, value: latency });
  }
  return points;
}

/** A Budgets stream record, as far as the time of its change goes. */
export interface ChangeOf {
  readonly newImage: Record<string, unknown>;
  readonly oldImage?: Record<string, unknown>;
  /** DynamoDB's time of the change, in whole seconds (the stream record's ApproximateCreationDateTime). */
  readonly approximateCreationDateTime?: number;
}

/**
 * When the change a stream record carries happened. A charge (the spend or the confirmed spend moved) is stamped by
 * ingest in `updatedAt`, to the millisecond; any other change (a limit set, a counter queued for review, the write
 * that raised the alert level) is dated by the stream record, to the second.
 */
export function changedAtOf(change: ChangeOf): number | undefined {
  const { newImage, oldImage } = change;
  const charged =
    !decimalOf(oldImage?.spendUsd).eq(decimalOf(newImage.spendUsd)) ||
    !decimalOf(oldImage?.confirmedSpendUsd).eq(decimalOf(newImage.confirmedSpendUsd));
  const stamped = typeof newImage.updatedAt === 'string' ? Date.parse(newImage.updatedAt) : Number.NaN;
  if (charged && !Number.isNaN(stamped)) return stamped;
  return change.approximateCreationDateTime === undefined ? undefined : change.approximateCreationDateTime * 1000;
}

/**
 * Turns the evaluator's decisions into metrics (Powertools, embedded metric format): the handler says which record
 * is being judged (`judging`), the evaluator reports each decision it claims (`record`), and what was stored is
 * published once per batch, when there is something to publish.
 */
export class DecisionMetrics {
  private changedAt: number | undefined;

  constructor(private readonly metrics: Metrics) {}

  judging(change: ChangeOf): void {
    this.changedAt = changedAtOf(change);
  }

  readonly record = (decision: Decision): void => {
    for (const point of metricsOf(decision, this.changedAt)) {
      if (point.dimensions) {
        const single = this.metrics.singleMetric();
        for (const [name, value] of Object.entries(point.dimensions)) single.addDimension(name, value);
        single.addMetric(point.name, point.unit, point.value);
      } else this.metrics.addMetric(point.name, point.unit, point.value);
    }
  };

  publish(): void {
    if (this.metrics.hasStoredMetrics()) this.metrics.publishStoredMetrics();
  }
}
