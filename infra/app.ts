import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfig } from './config';
import { BudgeteerStack } from './stack';

const app = new App();
new BudgeteerStack(app, app.node.tryGetContext('stackName') ?? 'Budgeteer', {
  config: readConfig(app.node),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: 'Bedrock budget enforcement: metering, alerts, suspension and emergency stop',
});
// cdk-nag's AWS Solutions rules run at synthesis: a finding not fixed nor acknowledged (next to its resource, with
// the reason) fails `cdk synth` and `cdk deploy`. test/infra/nag.test.ts runs the same pack on every configuration.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
