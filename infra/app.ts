import { App } from 'aws-cdk-lib';
import { readConfig } from './config';
import { BudgeteerStack } from './stack';

const app = new App();
new BudgeteerStack(app, app.node.tryGetContext('stackName') ?? 'Budgeteer', {
  config: readConfig(app.node),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: 'Bedrock budget enforcement: metering, alerts, suspension and emergency stop',
});
