import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { readConfig } from '../../infra/config';
import { BudgeteerStack } from '../../infra/stack';

/** Synthesizes the stack as `cdk synth` would, minus asset bundling (tests assert the template, not the bundle). */
export function synth(context: Record<string, unknown> = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new BudgeteerStack(app, 'Test', {
    config: readConfig(app.node),
    env: { account: '111122223333', region: 'us-east-1' },
  });
  return Template.fromStack(stack);
}

type Statement = { Action: string | string[]; Effect: string; Resource: unknown };

/** Every IAM action granted to the role of the function whose `budgeteer:entry` is `entry`. */
export function actionsGrantedTo(template: Template, entry: string): string[] {
  const functions = template.findResources('AWS::Lambda::Function', { Metadata: { 'budgeteer:entry': entry } });
  const fn = Object.values(functions)[0] as { Properties: { Role: { 'Fn::GetAtt': [string, string] } } };
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}
