import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { PERIOD_INDEX } from '../../shared/budgets';
import type { BudgeteerConfig } from '../config';

export interface TablesProps {
  readonly capacity: BudgeteerConfig['tableCapacity'];
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** Auto-scaling aims to keep provisioned capacity 70% used. */
export const TARGET_UTILIZATION_PERCENT = 70;
export const UNMETERED_INDEX = 'unmetered';

/** Every way to change an item of a table (Budgets, Pending) that only the stack's functions may change. */
export const BUDGETS_WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:PartiQLInsert',
  'dynamodb:PartiQLUpdate',
  'dynamodb:PartiQLDelete',
] as const;

/** The ARNs of this stack's roles (CloudFormation names them `<stack name>-<logical id>-<suffix>`). */
export const stackRolePattern = (stack: Stack) =>
  stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: `${stack.stackName}-*` });

/** Denies people every write to a table the stack's functions own: the functions are the only door. */
export const writesOnlyFromTheStack = (stack: Stack) =>
  new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'WritesOnlyFromTheStacksFunctions',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...BUDGETS_WRITE_ACTIONS],
        // A table's own policy cannot name its ARN (circular); here '*' means this table and its indexes.
        resources: ['*'],
        conditions: { ArnNotLike: { 'aws:PrincipalArn': stackRolePattern(stack) } },
      }),
    ],
  });

/**
 * Budgets: limits (`period = LIMIT`) and one spend counter per principal per period; its stream feeds the
 * evaluator. Usage: one row per Bedrock request, expiring after the retention period.
 */
export class Tables extends Construct {
  public readonly budgets: dynamodb.Table;
  public readonly usage: dynamodb.Table;
  /** Price versions (set by admins, fetched from the AWS Price List): added, never changed. */
  public readonly prices: dynamodb.Table;

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
      // Rate buckets (shared/rate/buckets.ts) expire; no other Budgets item has the attribute.
      timeToLiveAttribute: 'ttl',
      // The admin function is the only door for people: writes come from this stack's function roles alone (their
      // names start with the stack's). An account administrator can remove the policy; that leaves a CloudTrail
      // record (dynamodb:DeleteResourcePolicy / PutResourcePolicy).
      resourcePolicy: writesOnlyFromTheStack(Stack.of(this)),
    });
    this.usage = new dynamodb.Table(this, 'Usage', {
      ...common,
      partitionKey: { name: 'requestId', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'ttl',
      // A charged row written ahead of Bedrock's record would hide that request's cost: only ingest and the sweep
      // (the stack's roles) write here. TTL expiry is DynamoDB's own delete, which no policy stops.
      resourcePolicy: writesOnlyFromTheStack(Stack.of(this)),
    });
    // Its own table, not reserved keys in Budgets: Budgets' stream and period index would carry every price write
    // to the evaluator and into the index. A few items per model; the only reads are a Scan per function a minute.
    this.prices = new dynamodb.Table(this, 'Prices', {
      ...common,
      partitionKey: { name: 'model', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'version', type: dynamodb.AttributeType.STRING },
      resourcePolicy: writesOnlyFromTheStack(Stack.of(this)),
    });
    // Keys only, so an item's spend updates never write to it: only a new principal-period does, once.
    this.budgets.addGlobalSecondaryIndex({
      indexName: PERIOD_INDEX,
      partitionKey: { name: 'period', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'principal', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
      readCapacity: props.capacity.minRead,
      writeCapacity: props.capacity.minWrite,
    });
    // Sparse: only calls seen in CloudTrail whose invocation log has not charged them yet (the coverage sweep).
    this.usage.addGlobalSecondaryIndex({
      indexName: UNMETERED_INDEX,
      partitionKey: { name: 'unmeteredShard', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'unmeteredSince', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
      readCapacity: props.capacity.minRead,
      writeCapacity: props.capacity.minWrite,
    });
    const read = { minCapacity: props.capacity.minRead, maxCapacity: props.capacity.maxRead };
    const write = { minCapacity: props.capacity.minWrite, maxCapacity: props.capacity.maxWrite };
    const target = { targetUtilizationPercent: TARGET_UTILIZATION_PERCENT };
    for (const table of [this.budgets, this.usage, this.prices]) {
      table.autoScaleReadCapacity(read).scaleOnUtilization(target);
      table.autoScaleWriteCapacity(write).scaleOnUtilization(target);
    }
    for (const [table, index] of [
      [this.usage, UNMETERED_INDEX],
      [this.budgets, PERIOD_INDEX],
    ] as const) {
      table.autoScaleGlobalSecondaryIndexReadCapacity(index, read).scaleOnUtilization(target);
      table.autoScaleGlobalSecondaryIndexWriteCapacity(index, write).scaleOnUtilization(target);
    }
  }
}
