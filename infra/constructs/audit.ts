import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { AUDIT_INDEXES } from '../../shared/audit/entry';
import type { BudgeteerConfig } from '../config';
import { TARGET_UTILIZATION_PERCENT } from './tables';

export interface AuditLogProps {
  readonly capacity: BudgeteerConfig['tableCapacity'];
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** What an audit writer needs: read the newest entry, put the next one. Nothing that changes an existing item. */
export const AUDIT_APPEND_ACTIONS = ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:Query'] as const;

/** Data-plane actions that edit or remove items: denied to every principal by the table's own policy. */
export const AUDIT_DENIED_ACTIONS = [
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:PartiQLUpdate',
  'dynamodb:PartiQLDelete',
] as const;

/**
 * The append-only Audit table: one hash chain per subject (`subject` + zero-padded `seq`), indexed by time per
 * subject (LSI byTime), by action (GSI byAction) and by day (GSI byDay). Entries cannot be updated or deleted
 * by anyone: the table's resource policy denies it to every principal, and writers are granted only
 * `grantAppend`. (PutItem could still overwrite an entry; the hash chain is what makes that detectable.)
 */
export class AuditLog extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: AuditLogProps) {
    super(scope, id);
    const { capacity } = props;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'subject', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'seq', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PROVISIONED,
      readCapacity: capacity.minRead,
      writeCapacity: capacity.minWrite,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      resourcePolicy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: 'AuditEntriesAreAppendOnly',
            effect: iam.Effect.DENY,
            principals: [new iam.AnyPrincipal()],
            actions: [...AUDIT_DENIED_ACTIONS],
            // A table's own policy cannot name its ARN (circular); here '*' means this table and its indexes.
            resources: ['*'],
          }),
        ],
      }),
    });
    this.table.addLocalSecondaryIndex({
      indexName: AUDIT_INDEXES.byTime,
      sortKey: { name: 'at', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    const indexes = [
      { indexName: AUDIT_INDEXES.byAction, partitionKey: 'action' },
      { indexName: AUDIT_INDEXES.byDay, partitionKey: 'day' },
    ];
    for (const { indexName, partitionKey } of indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName,
        partitionKey: { name: partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: 'at', type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
        readCapacity: capacity.minRead,
        writeCapacity: capacity.minWrite,
      });
    }

    const read = { minCapacity: capacity.minRead, maxCapacity: capacity.maxRead };
    const write = { minCapacity: capacity.minWrite, maxCapacity: capacity.maxWrite };
    const target = { targetUtilizationPercent: TARGET_UTILIZATION_PERCENT };
    this.table.autoScaleReadCapacity(read).scaleOnUtilization(target);
    this.table.autoScaleWriteCapacity(write).scaleOnUtilization(target);
    for (const { indexName } of indexes) {
      this.table.autoScaleGlobalSecondaryIndexReadCapacity(indexName, read).scaleOnUtilization(target);
      this.table.autoScaleGlobalSecondaryIndexWriteCapacity(indexName, write).scaleOnUtilization(target);
    }
  }

  /**
   * Lets `grantee` append entries (shared/audit/log.ts): PutItem, GetItem and Query on the table, Query on each of
   * its indexes by name. Never use the table's grantWriteData here: it includes UpdateItem, DeleteItem and
   * BatchWriteItem.
   */
  grantAppend(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...AUDIT_APPEND_ACTIONS],
      resourceArns: [this.table.tableArn],
    }).combine(
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['dynamodb:Query'],
        resourceArns: Object.values(AUDIT_INDEXES).map((index) => `${this.table.tableArn}/index/${index}`),
      }),
    );
  }
}
