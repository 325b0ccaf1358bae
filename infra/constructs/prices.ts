import { Duration, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { PRICE_CACHE_SECONDS_ENV, PRICES_FUNCTION_ENV, PRICES_TABLE_ENV } from '../../shared/pricing/store';
import type { AuditLog } from './audit';
import { BudgeteerFunction, scheduleFunction } from './function';

export interface PricesProps {
  /** The Prices table (Tables.prices). */
  readonly table: dynamodb.ITable;
  /** Prices every call with the versions in effect at its time: reads the table (a Scan per cache time at most). */
  readonly readers: readonly BudgeteerFunction[];
  /** Records admin price versions (the admin function): reads and adds. */
  readonly writers: readonly BudgeteerFunction[];
  /** How long a reader prices with the versions it read (config `priceCacheSeconds`). */
  readonly cacheSeconds: number;
  readonly audit: AuditLog;
  /** Where new, changed and vanished prices are announced. */
  readonly alerts: sns.ITopic;
  /** Runs the fetch now for an admin (`budgeteer prices refresh`, through the admin function). */
  readonly refreshers: readonly BudgeteerFunction[];
  /** @default 90 */
  readonly logRetentionDays?: number;
}

/** How often the AWS Price List is read. */
export const PRICE_LIST_RATE = Duration.days(1);

/**
 * Price versions: who reads them and who adds them, and `functions/prices`, which reads the AWS Price List daily
 * and records what changed. Versions are only ever added (PutItem on a new key), so no role may update or delete
 * one: the version that priced a call can always be read back.
 */
export class Prices extends Construct {
  public readonly function: BudgeteerFunction;
  public readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: PricesProps) {
    super(scope, id);
    const { table } = props;
    this.function = new BudgeteerFunction(this, 'Fetch', {
      entry: 'functions/prices/handler.ts',
      description: 'Reads the AWS Price List for Bedrock and records new, changed and vanished prices as versions',
      timeout: Duration.minutes(2),
      ...(props.logRetentionDays ? { logRetentionDays: props.logRetentionDays } : {}),
      environment: { AUDIT_TABLE: props.audit.table.tableName, ALERTS_TOPIC_ARN: props.alerts.topicArn },
    });
    const fetcher = this.function;
    for (const reader of [...props.readers, ...props.writers, fetcher]) {
      reader.function.addEnvironment(PRICES_TABLE_ENV, table.tableName);
      reader.function.addEnvironment(PRICE_CACHE_SECONDS_ENV, String(props.cacheSeconds));
      reader.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:Scan'], resources: [table.tableArn] }),
      );
    }
    for (const writer of [...props.writers, fetcher]) {
      writer.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [table.tableArn] }),
      );
    }
    props.audit.grantAppend(fetcher.function);
    props.alerts.grantPublish(fetcher.function);
    fetcher.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['pricing:GetProducts'], resources: ['*'] }));
    Validations.of(fetcher.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'pricing:GetProducts has no resource type (the Price List is public data): it cannot be scoped; the role ' +
        'reads nothing else outside its own table, audit append and alerts topic',
    });
    this.schedule = scheduleFunction(
      this,
      fetcher,
      events.Schedule.rate(PRICE_LIST_RATE),
      'Daily AWS Price List fetch for Bedrock',
    );
    for (const refresher of props.refreshers) {
      refresher.function.addEnvironment(PRICES_FUNCTION_ENV, fetcher.function.functionName);
      refresher.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fetcher.function.functionArn] }),
      );
    }
  }
}
