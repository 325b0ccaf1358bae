import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { PERIOD_INDEX } from '../../shared/budgets';
import { GROUP_CACHE_SECONDS_ENV } from '../../shared/groups/membership';
import type { BudgeteerConfig } from '../config';
import { acknowledgeWildcardResources } from '../nag';
import { identityEnvironment } from './function';

/**
 * Lets a function that writes spend (ingest, the coverage sweep) count group budgets: it lists the groups (their
 * limit items `GROUP#…`, through the period index, then one BatchGetItem) and reads the IAM tags that make members.
 * Read only; it never scans the table.
 */
export function countsGroups(
  fn: lambda.Function,
  budgets: dynamodb.ITable,
  config: Pick<BudgeteerConfig, 'groupCacheSeconds' | 'perSessionRoles' | 'organizationId'>,
): void {
  fn.addEnvironment(GROUP_CACHE_SECONDS_ENV, String(config.groupCacheSeconds));
  // An account's group (`account:<id>`) names the deployment's own principals unqualified: the function must know
  // which account that is, as ingest does.
  for (const [name, value] of Object.entries(identityEnvironment(fn, config))) fn.addEnvironment(name, value);
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${budgets.tableArn}/index/${PERIOD_INDEX}`] }),
  );
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:BatchGetItem'], resources: [budgets.tableArn] }));
  const tagged = ['user', 'role'].map((resource) =>
    Stack.of(fn).formatArn({ service: 'iam', region: '', resource, resourceName: '*' }),
  );
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['iam:ListUserTags', 'iam:ListRoleTags'], resources: tagged }));
  acknowledgeWildcardResources(
    fn.role ?? fn,
    tagged,
    'Group membership by IAM tag: any user or role of the account may call Bedrock, so the tags of whichever calls ' +
      'are read (ListUserTags and ListRoleTags only: read-only, no other IAM action)',
  );
}
