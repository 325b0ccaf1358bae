import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { PRICE_CACHE_SECONDS_ENV, PRICES_TABLE_ENV } from '../../shared/pricing/store';
import type { BudgeteerFunction } from './function';

export interface PricesProps {
  /** The Prices table (Tables.prices). */
  readonly table: dynamodb.ITable;
  /** Prices every call with the versions in effect at its time: reads the table (a Scan a minute at most). */
  readonly readers: readonly BudgeteerFunction[];
  /** Records admin price versions (the admin function): reads and adds. */
  readonly writers: readonly BudgeteerFunction[];
  /** How long a reader prices with the versions it read (config `priceCacheSeconds`). */
  readonly cacheSeconds: number;
}

/**
 * Price versions: who reads them and who adds them. Versions are only ever added (PutItem on a new key), so no
 * role may update or delete one: the version that priced a call can always be read back.
 */
export class Prices extends Construct {
  constructor(scope: Construct, id: string, props: PricesProps) {
    super(scope, id);
    const { table } = props;
    for (const reader of [...props.readers, ...props.writers]) {
      reader.function.addEnvironment(PRICES_TABLE_ENV, table.tableName);
      reader.function.addEnvironment(PRICE_CACHE_SECONDS_ENV, String(props.cacheSeconds));
      reader.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:Scan'], resources: [table.tableArn] }),
      );
    }
    for (const writer of props.writers) {
      writer.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [table.tableArn] }),
      );
    }
  }
}
