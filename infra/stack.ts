import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { BudgeteerConfig } from './config';
import { Ingestion } from './constructs/ingestion';
import { Tables } from './constructs/tables';

export interface BudgeteerStackProps extends StackProps {
  readonly config: BudgeteerConfig;
}

export class BudgeteerStack extends Stack {
  public readonly tables: Tables;
  public readonly ingestion: Ingestion;

  constructor(scope: Construct, id: string, props: BudgeteerStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.tables = new Tables(this, 'Tables', { capacity: config.tableCapacity });
    this.ingestion = new Ingestion(this, 'Ingestion', {
      config,
      budgets: this.tables.budgets,
      usage: this.tables.usage,
    });
  }
}
