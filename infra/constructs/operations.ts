import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { BudgeteerFunction } from './function';

/** Where the functions publish their metrics (Powertools Metrics, embedded metric format). */
export const METRICS_NAMESPACE = 'Budgeteer';
const PERIOD = Duration.minutes(5);

/**
 * A metric a function publishes through Powertools Metrics (its `service` dimension is the function's; `dimensions`
 * names the further ones of a metric published by them too, as the evaluator's alerts by threshold).
 */
export const budgeteerMetric = (
  service: string,
  metricName: string,
  statistic: string = cloudwatch.Stats.SUM,
  dimensions: Readonly<Record<string, string>> = {},
) =>
  new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service, ...dimensions },
    statistic,
    period: PERIOD,
  });

export interface OperationsProps {
  /** Every function of the stack: errors alarmed, and each one's dead-letter queue watched. */
  readonly functions: Readonly<Record<string, BudgeteerFunction>>;
  /** Other queues that keep what failed (a stream's failures, undeliverable CloudTrail events). */
  readonly deadLetterQueues: Readonly<Record<string, sqs.IQueue>>;
  /** The queue CloudTrail events wait in for ingest: the age of its oldest message is the ingest lag. */
  readonly ingestQueue: sqs.IQueue;
  readonly stateMachines: Readonly<Record<string, sfn.IStateMachine>>;
  /** Alarms made where their resource is (workflow failures, rejected records): they notify the same topic. */
  readonly alarms: readonly cloudwatch.Alarm[];
  /** The age, in seconds, of the oldest CloudTrail event still waiting above which ingest is lagging. @default 300 */
  readonly ingestLagSeconds?: number;
  /** The thresholds alerted at (percent of a budget): the dashboard shows the alerts sent at each. @default [] */
  readonly thresholds?: readonly number[];
  /**
   * Seconds from a crossing (a threshold or the limit reached) to its decision above which decisions are late: the
   * evaluator is failing or far behind the Budgets stream. @default 300
   */
  readonly decisionLatencySeconds?: number;
  /** Addresses subscribed to the operations topic by e-mail (each confirms the subscription). @default [] */
  readonly emails?: readonly string[];
}

/**
 * What an operator watches: an operations topic (apart from the admins' budget alerts) that every alarm of the
 * stack notifies, the alarms on what breaks (dead letters, function errors, failed executions, enforcement failures,
 * unmetered calls, ingest lag, late decisions), and one dashboard of the metrics the functions publish.
 */
export class Operations extends Construct {
  public readonly topic: sns.Topic;
  public readonly dashboard: cloudwatch.Dashboard;
  /** Every alarm this construct made, by name. */
  public readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'Bedrock budget: operations', enforceSSL: true });
    for (const email of props.emails ?? []) this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    const notify = new actions.SnsAction(this.topic);

    const alarms: Record<string, cloudwatch.Alarm> = {};
    const alarm = (name: string, description: string, metric: cloudwatch.IMetric, threshold = 1) => {
      const made = new cloudwatch.Alarm(this, name, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarms[name] = made;
      return made;
    };

    const deadLetterQueues: Record<string, sqs.IQueue> = { ...props.deadLetterQueues };
    for (const [name, fn] of Object.entries(props.functions)) {
      deadLetterQueues[`${name}Invocations`] = fn.deadLetterQueue;
      alarm(
        `${name}Errors`,
        `The ${name} function failed: its logs say why (a failed batch is retried; a failed workflow step is retried by the workflow).`,
        fn.function.metricErrors({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
      );
    }
    for (const [name, queue] of Object.entries(deadLetterQueues)) {
      alarm(
        `${name}DeadLetters`,
        `Messages wait in the ${name} dead-letter queue: work that failed every retry, kept 14 days for an operator to inspect and redrive.`,
        queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM }),
      );
    }
    alarm(
      'UnmeteredCalls',
      'The coverage sweep charged calls at the estimate: CloudTrail saw them, but their invocation log never came (logging off, or a delivery lost).',
      budgeteerMetric('sweep', 'UnmeteredCalls'),
    );
    alarm(
      'EnforcementFailures',
      'An enforcement step (a deny, a wait for a decision, a lift, an emergency stop) failed after its retries: the audit log holds it as enforcement.failed with the error, and the critical topic was told.',
      budgeteerMetric('suspend', 'EnforcementFailures'),
    );
    const decisionLatency = (label: string, statistic: string) =>
      budgeteerMetric('evaluate', 'CrossingToDecisionLatency', statistic).with({ label });
    alarm(
      'DecisionLatency',
      'A threshold or limit crossed waited too long for its alert or suspension: the evaluator is failing (its errors alarm says why) or far behind the Budgets stream.',
      budgeteerMetric('evaluate', 'CrossingToDecisionLatency', cloudwatch.Stats.MAXIMUM),
      (props.decisionLatencySeconds ?? 300) * 1000,
    );
    const ingestLag = props.ingestQueue.metricApproximateAgeOfOldestMessage({
      period: PERIOD,
      statistic: cloudwatch.Stats.MAXIMUM,
    });
    alarm(
      'IngestLag',
      'CloudTrail events wait for ingest longer than they should: spend is counted late, and so are alerts and suspensions.',
      ingestLag,
      props.ingestLagSeconds ?? 300,
    );
    this.alarms = alarms;
    for (const each of [...Object.values(alarms), ...props.alarms]) {
      each.addAlarmAction(notify);
      each.addOkAction(notify);
    }

    const graph = (title: string, left: cloudwatch.IMetric[]) =>
      new cloudwatch.GraphWidget({ title, left, width: 12, height: 6 });
    const perName = <T>(record: Readonly<Record<string, T>>, metric: (value: T) => cloudwatch.Metric) =>
      Object.entries(record).map(([label, value]) => metric(value).with({ label }));
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-operations`,
      defaultInterval: Duration.hours(24),
    });
    this.dashboard.addWidgets(
      graph('Calls metered, duplicates and rejected records', [
        budgeteerMetric('ingest', 'ChargedCalls').with({ label: 'calls metered' }),
        budgeteerMetric('ingest', 'DuplicateCalls').with({ label: 'duplicates' }),
        budgeteerMetric('ingest', 'RejectedRecords').with({ label: 'rejected records' }),
        budgeteerMetric('sweep', 'UnmeteredCalls').with({ label: 'charged at the estimate' }),
      ]),
      graph('Suspensions and enforcement failures', [
        budgeteerMetric('suspend', 'Suspensions').with({ label: 'denies applied' }),
        budgeteerMetric('suspend', 'EnforcementFailures').with({ label: 'enforcement failures' }),
        ...perName(props.stateMachines, (machine) => machine.metricFailed({ period: PERIOD })),
      ]),
      graph('Alerts sent, by threshold', [
        budgeteerMetric('evaluate', 'AlertsSent').with({ label: 'all thresholds' }),
        ...(props.thresholds ?? []).map((t) =>
          budgeteerMetric('evaluate', 'AlertsSent', cloudwatch.Stats.SUM, { threshold: String(t) }).with({
            label: `${t}%`,
          }),
        ),
      ]),
      graph('Decisions at the limit', [
        budgeteerMetric('evaluate', 'SuspensionsStarted').with({ label: 'suspensions started' }),
        budgeteerMetric('evaluate', 'EmergencyStops').with({ label: 'emergency stops' }),
        budgeteerMetric('evaluate', 'SuspensionsSkipped').with({ label: 'protected: alerted, not denied' }),
        budgeteerMetric('evaluate', 'AwaitingConfirmation').with({ label: 'awaiting CloudTrail confirmation' }),
        budgeteerMetric('evaluate', 'UnknownModels').with({ label: 'unknown models' }),
      ]),
      graph('From a crossing to its decision (ms)', [
        decisionLatency('p50', 'p50'),
        decisionLatency('p90', 'p90'),
        decisionLatency('max', cloudwatch.Stats.MAXIMUM),
      ]),
      graph('Cost metered (USD)', [budgeteerMetric('ingest', 'CostMeteredUsd').with({ label: 'cost metered' })]),
      graph('From a call to its charge (ms)', [
        budgeteerMetric('ingest', 'CallToChargeLatency', 'p50').with({ label: 'p50' }),
        budgeteerMetric('ingest', 'CallToChargeLatency', 'p90').with({ label: 'p90' }),
        budgeteerMetric('ingest', 'CallToChargeLatency', cloudwatch.Stats.MAXIMUM).with({ label: 'max' }),
      ]),
      graph('Ingest lag (s): oldest CloudTrail event waiting', [ingestLag]),
      graph(
        'Function errors',
        perName(props.functions, (fn) => fn.function.metricErrors({ period: PERIOD })),
      ),
      graph(
        'Dead letters waiting',
        perName(deadLetterQueues, (queue) => queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD })),
      ),
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: [...Object.values(alarms), ...props.alarms],
        width: 12,
        height: 6,
      }),
    );
  }
}
