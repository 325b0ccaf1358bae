import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { BudgeteerConfig } from './config';
import { Administration } from './constructs/administration';
import { Approvals } from './constructs/approvals';
import { AuditLog } from './constructs/audit';
import { Chat } from './constructs/chat';
import { Coverage } from './constructs/coverage';
import { Digest } from './constructs/digest';
import { Enforcement } from './constructs/enforcement';
import { Evaluation } from './constructs/evaluation';
import { Ingestion } from './constructs/ingestion';
import { Operations } from './constructs/operations';
import { Prices } from './constructs/prices';
import { Reconciliation } from './constructs/reconciliation';
import { Tables } from './constructs/tables';
import { Topics } from './constructs/topics';
import { OrganizationCentral } from './organization/central';

export interface BudgeteerStackProps extends StackProps {
  readonly config: BudgeteerConfig;
}

export class BudgeteerStack extends Stack {
  public readonly tables: Tables;
  public readonly ingestion: Ingestion;
  public readonly audit: AuditLog;
  public readonly topics: Topics;
  public readonly enforcement: Enforcement;
  public readonly approvals: Approvals;
  public readonly administration: Administration;
  public readonly evaluation: Evaluation;
  public readonly coverage: Coverage;
  /** The daily digest, when `digest` is on. */
  public readonly digest?: Digest;
  public readonly operations: Operations;
  public readonly prices: Prices;
  /** The daily reconciliation with the bill, when `reconcilePrincipalGroup` is set. */
  public readonly reconciliation?: Reconciliation;
  /** With `organizationId`: what makes this the central stack of an AWS Organization. */
  public readonly organization?: OrganizationCentral;

  constructor(scope: Construct, id: string, props: BudgeteerStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.tables = new Tables(this, 'Tables', { capacity: config.tableCapacity });
    this.audit = new AuditLog(this, 'Audit', { capacity: config.tableCapacity });
    this.ingestion = new Ingestion(this, 'Ingestion', {
      config,
      budgets: this.tables.budgets,
      usage: this.tables.usage,
    });
    this.topics = new Topics(this, 'Topics', { alertEmails: config.alertEmails });
    new Chat(this, 'Chat', {
      topics: [this.topics.alerts, this.topics.critical],
      slackChannels: config.slackChannels,
      teamsChannels: config.microsoftTeamsChannels,
    });
    this.enforcement = new Enforcement(this, 'Enforcement', {
      config,
      budgets: this.tables.budgets,
      audit: this.audit,
      criticalTopic: this.topics.critical,
    });
    this.approvals = new Approvals(this, 'Approvals', {
      config,
      budgets: this.tables.budgets,
      audit: this.audit,
      criticalTopic: this.topics.critical,
      enforcement: this.enforcement,
    });
    this.administration = new Administration(this, 'Administration', {
      config,
      budgets: this.tables.budgets,
      audit: this.audit,
      topics: this.topics,
      enforcement: this.enforcement,
    });
    this.evaluation = new Evaluation(this, 'Evaluation', {
      config,
      budgets: this.tables.budgets,
      audit: this.audit,
      topics: this.topics,
      enforcement: this.enforcement,
    });
    this.coverage = new Coverage(this, 'Coverage', {
      config,
      budgets: this.tables.budgets,
      usage: this.tables.usage,
      audit: this.audit,
      topics: this.topics,
      enforcement: this.enforcement,
    });
    if (config.digest) {
      this.digest = new Digest(this, 'Digest', {
        config,
        budgets: this.tables.budgets,
        usage: this.tables.usage,
        audit: this.audit,
        topics: this.topics,
        enforcement: this.enforcement,
        rejectedQueue: this.ingestion.rejectedQueue,
      });
    }
    if (config.reconcilePrincipalGroup) {
      this.reconciliation = new Reconciliation(this, 'Reconciliation', {
        config,
        budgets: this.tables.budgets,
        usage: this.tables.usage,
        audit: this.audit,
        topics: this.topics,
        enforcement: this.enforcement,
      });
    }
    // The account's spend is summed from its shards in one BatchGetItem (BudgetStore.accountTotal) wherever it is read.
    // On the table alone: BatchGetItem reads no index, and Table.grant would add every index (`/index/*`) too.
    for (const reader of [this.evaluation.function, this.approvals.function, this.administration.function]) {
      reader.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:BatchGetItem'], resources: [this.tables.budgets.tableArn] }),
      );
    }
    if (config.organizationId) {
      this.organization = new OrganizationCentral(this, 'Organization', {
        config,
        ingestion: this.ingestion,
        enforcement: this.enforcement,
      });
    }
    this.prices = new Prices(this, 'Prices', {
      table: this.tables.prices,
      readers: [this.ingestion.function],
      writers: [this.administration.function],
      cacheSeconds: config.priceCacheSeconds,
      audit: this.audit,
      alerts: this.topics.alerts,
      refreshers: [this.administration.function],
      logRetentionDays: config.logRetentionDays,
    });
    this.operations = new Operations(this, 'Operations', {
      functions: {
        Ingest: this.ingestion.function,
        Evaluate: this.evaluation.function,
        Suspend: this.enforcement.function,
        Approve: this.approvals.function,
        Admin: this.administration.function,
        Sweep: this.coverage.function,
        Prices: this.prices.function,
        ...(this.digest ? { Digest: this.digest.function } : {}),
        ...(this.reconciliation ? { Reconcile: this.reconciliation.function } : {}),
      },
      deadLetterQueues: {
        CloudTrail: this.ingestion.cloudTrailDeadLetters,
        StreamFailures: this.evaluation.streamFailures,
        ...(this.organization ? { OrganizationLogFailures: this.organization.streamFailures } : {}),
      },
      ingestQueue: this.ingestion.cloudTrailQueue,
      stateMachines: {
        SuspendPrincipal: this.enforcement.suspendPrincipal,
        EmergencyStop: this.enforcement.emergencyStop,
      },
      alarms: [
        ...this.enforcement.workflowAlarms,
        this.ingestion.rejectionAlarm,
        ...(this.reconciliation ? [this.reconciliation.unavailableAlarm] : []),
      ],
      thresholds: config.thresholds,
      emails: config.operationsEmails,
    });
    // Every alarm notifies it: operators subscribe here.
    new CfnOutput(this, 'OperationsTopicArn', { value: this.operations.topic.topicArn });
    // The CLI finds resources by these names (cli/target.ts).
    new CfnOutput(this, 'BudgetsTableName', { value: this.tables.budgets.tableName });
    new CfnOutput(this, 'UsageTableName', { value: this.tables.usage.tableName });
    new CfnOutput(this, 'PricesTableName', { value: this.tables.prices.tableName });
    new CfnOutput(this, 'PricesFunctionName', { value: this.prices.function.function.functionName });
    new CfnOutput(this, 'RejectedQueueUrl', { value: this.ingestion.rejectedQueue.queueUrl });
    new CfnOutput(this, 'CloudTrailQueueUrl', { value: this.ingestion.cloudTrailQueue.queueUrl });
    new CfnOutput(this, 'AuditTableName', { value: this.audit.table.tableName });
    new CfnOutput(this, 'AlertsTopicArn', { value: this.topics.alerts.topicArn });
    new CfnOutput(this, 'CriticalTopicArn', { value: this.topics.critical.topicArn });
    new CfnOutput(this, 'SuspendStateMachineArn', { value: this.enforcement.suspendPrincipal.stateMachineArn });
    new CfnOutput(this, 'EmergencyStopStateMachineArn', { value: this.enforcement.emergencyStop.stateMachineArn });
    new CfnOutput(this, 'PendingTableName', { value: this.enforcement.pending.tableName });
    new CfnOutput(this, 'ApprovalUrl', { value: this.approvals.url.url });
    new CfnOutput(this, 'AdminUrl', { value: this.administration.url.url });
    new CfnOutput(this, 'AdminPolicyArn', { value: this.administration.adminPolicy.managedPolicyArn });
    // Settings the CLI needs to read budgets as the functions do.
    // Whose principals keep unqualified ids (an organization's other accounts' are `<account>:…`).
    new CfnOutput(this, 'AccountId', { value: this.account });
    // The CLI's `emergency-stop --organization` is for an organization's deployment only, and required there.
    if (config.organizationId) new CfnOutput(this, 'OrganizationId', { value: config.organizationId });
    new CfnOutput(this, 'PeriodKind', { value: config.period });
    new CfnOutput(this, 'ExtraPeriodKinds', { value: JSON.stringify(config.extraPeriodKinds) });
    new CfnOutput(this, 'Thresholds', { value: JSON.stringify(config.thresholds) });
    // How ingest names principals (which roles' sessions are principals of their own): reconcile names a bill so too.
    new CfnOutput(this, 'PerSessionRoles', { value: JSON.stringify(config.perSessionRoles) });
    if (config.reconcilePrincipalGroup) {
      // `budgeteer reconcile --date D` asks Cost Explorer as the daily function does.
      new CfnOutput(this, 'ReconcilePrincipalGroup', { value: config.reconcilePrincipalGroup });
    }
    new CfnOutput(this, 'DefaultBudgetUsd', { value: config.defaultBudgetUsd });
    new CfnOutput(this, 'AccountBudgetUsd', { value: config.accountBudgetUsd });
  }
}
