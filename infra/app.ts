import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfig } from './config';
import { BudgeteerMemberStack } from './organization/member';
import { BudgeteerStack } from './stack';

const app = new App();
const config = readConfig(app.node);
const stackName: string = app.node.tryGetContext('stackName') ?? 'Budgeteer';
new BudgeteerStack(app, stackName, {
  config,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: 'Bedrock budget enforcement: metering, alerts, suspension and emergency stop',
});
// An organization: the stack above is its central stack; this one is what each member account holds (the StackSet
// deploys the same template to the OUs; `cdk deploy` of it serves a single extra account).
if (config.organizationId) {
  new BudgeteerMemberStack(app, `${stackName}Member`, {
    config,
    description: 'Bedrock budget enforcement, member account: forwards usage to the budget account, lets it enforce',
  });
}
// cdk-nag's AWS Solutions rules run at synthesis: a finding not fixed nor acknowledged (next to its resource, with
// the reason) fails `cdk synth` and `cdk deploy`. test/infra/nag.test.ts runs the same pack on every configuration.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
