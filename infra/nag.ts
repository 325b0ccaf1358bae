import { Stack, Validations } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges cdk-nag's AwsSolutions-IAM5 finding for each wildcard resource ARN named here on `scope` (a role or
 * policy), and only for those: the finding's id is the ARN as cdk-nag renders it, so another wildcard granted on the
 * same role later is still reported.
 */
export function acknowledgeWildcardResources(scope: IConstruct, resources: readonly string[], reason: string): void {
  const stack = Stack.of(scope);
  for (const resource of resources) {
    const rendered = flattenCfnReference(stack.resolve(resource));
    Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${rendered}]`, reason });
  }
}
