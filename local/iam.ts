import { CreateRoleCommand, CreateUserCommand, EntityAlreadyExistsException, IAMClient } from '@aws-sdk/client-iam';
import type { LocalAws } from './aws';

const TRUST = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: 'sts:AssumeRole' }],
});

/**
 * Creates in the local IAM the users and roles that principal ids name (`user/alice`, `role/app`,
 * `role/AWSReservedSSO_X_0123/maria@example.com`), as they exist in a real account, so enforcement acts on real
 * IAM entities. Already existing ones are left as they are.
 */
export async function createPrincipals(
  local: Pick<LocalAws, 'clientConfig'>,
  principals: readonly string[],
): Promise<number> {
  const iam = new IAMClient(local.clientConfig);
  let created = 0;
  try {
    for (const name of new Set(principals.map(entityOf).filter((e) => e !== undefined))) {
      const [kind, entity] = name.split('/', 2) as [string, string];
      try {
        if (kind === 'user') await iam.send(new CreateUserCommand({ UserName: entity }));
        else await iam.send(new CreateRoleCommand({ RoleName: entity, AssumeRolePolicyDocument: TRUST }));
        created++;
      } catch (error) {
        if (!(error instanceof EntityAlreadyExistsException)) throw error;
      }
    }
  } finally {
    iam.destroy();
  }
  return created;
}

function entityOf(principal: string): string | undefined {
  const [kind, name] = principal.split('/');
  if ((kind === 'user' || kind === 'role') && name) return `${kind}/${name}`;
  return undefined;
}
