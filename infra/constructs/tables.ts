import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { BudgeteerConfig } from '../config';

export interface TablesProps {
  readonly capacity: BudgeteerConfig['tableCapacity'];
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** Auto-scaling aims to keep provisioned capacity 70% used. */
export const TARGET_UTILIZATION_PERCENT = 70;

/**
 * Budgets: limits (`period = LIMIT`) and one spend counter per principal per period; its stream feeds the
 * evaluator. Usage: one row per Bedrock request, expiring after the retention period.
 */
export class Tables extends Construct {
  public readonly budgets: dynamodb.Table;
  public readonly usage: dynamodb.Table;

  constructor(scope: Construct, id: string, props: TablesProps) {
    super(scope, id);
    const common = {
      billingMode: dynamodb.BillingMode.PROVISIONED,
      readCapacity: props.capacity.minRead,
      writeCapacity: props.capacity.minWrite,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    };
    this.budgets = new dynamodb.Table(this, 'Budgets', {
      ...common,
      partitionKey: { name: 'principal', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'period', type: dynamodb.AttributeType.STRING },
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    });
    this.usage = new dynamodb.Table(this, 'Usage', {
      ...common,
      partitionKey: { name: 'requestId', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'ttl',
    });
    for (const table of [this.budgets, this.usage]) {
      table
        .autoScaleReadCapacity({ minCapacity: props.capacity.minRead, maxCapacity: props.capacity.maxRead })
        .scaleOnUtilization({ targetUtilizationPercent: TARGET_UTILIZATION_PERCENT });
      table
        .autoScaleWriteCapacity({ minCapacity: props.capacity.minWrite, maxCapacity: props.capacity.maxWrite })
        .scaleOnUtilization({ targetUtilizationPercent: TARGET_UTILIZATION_PERCENT });
    }
  }
}
