import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface TopicsProps {
  /** E-mail addresses subscribed to both topics. @default none */
  readonly alertEmails?: readonly string[];
}

/** Where admins hear from the system: budget alerts, and the critical topic for enforcement. */
export class Topics extends Construct {
  /** Budget alerts (thresholds, unknown models, unmetered calls). */
  public readonly alerts: sns.Topic;
  /** High severity: budgets exhausted, suspensions and lifts, emergency stops, enforcement failures. */
  public readonly critical: sns.Topic;

  constructor(scope: Construct, id: string, props: TopicsProps = {}) {
    super(scope, id);
    this.alerts = new sns.Topic(this, 'Alerts', { displayName: 'Bedrock budget alerts', enforceSSL: true });
    this.critical = new sns.Topic(this, 'Critical', { displayName: 'Bedrock budget: critical', enforceSSL: true });
    for (const email of props.alertEmails ?? []) {
      this.alerts.addSubscription(new subscriptions.EmailSubscription(email));
      this.critical.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }
}
