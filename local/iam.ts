import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  EntityAlreadyExistsException,
  GetUserCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import { type LocalAws, LocalAwsError } from './aws';
import type { LocalIdentity } from './sigv4';

export type { LocalIdentity } from './sigv4';

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
  /** Tags by entity (`user/<name>`, `role/<name>`), given at creation: what group membership by tag reads. */
  tags: Readonly<Record<string, Readonly<Record<string, string>>>> = {},
): Promise<number> {
  const iam = new IAMClient(local.clientConfig);
  let created = 0;
  try {
    for (const name of new Set(principals.map(entityOf).filter((e) => e !== undefined))) {
      const [kind, entity] = name.split('/', 2) as [string, string];
      const Tags = Object.entries(tags[name] ?? {}).map(([Key, Value]) => ({ Key, Value }));
      try {
        if (kind === 'user') await iam.send(new CreateUserCommand({ UserName: entity, Tags }));
        else await iam.send(new CreateRoleCommand({ RoleName: entity, AssumeRolePolicyDocument: TRUST, Tags }));
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

/**
 * Issues an access key for the local IAM user `userName` (created if missing) and registers it with the local
 * Lambda, so requests signed with it pass AWS_IAM function URLs as that user.
 */
export async function createAccessKeyFor(
  local: Pick<LocalAws, 'clientConfig' | 'accountId' | 'registerIdentity'>,
  userName: string,
): Promise<LocalIdentity> {
  const iam = new IAMClient(local.clientConfig);
  try {
    let userId: string | undefined;
    try {
      userId = (await iam.send(new CreateUserCommand({ UserName: userName }))).User?.UserId;
    } catch (error) {
      if (!(error instanceof EntityAlreadyExistsException)) throw error;
      userId = (await iam.send(new GetUserCommand({ UserName: userName }))).User?.UserId;
    }
    const { AccessKey: key } = await iam.send(new CreateAccessKeyCommand({ UserName: userName }));
    if (!key?.AccessKeyId || !key.SecretAccessKey) {
      throw new LocalAwsError(`CreateAccessKey for ${userName} returned no key`);
    }
    const identity: LocalIdentity = {
      accessKeyId: key.AccessKeyId,
      secretAccessKey: key.SecretAccessKey,
      arn: `arn:aws:iam::${local.accountId}:user/${userName}`,
      ...(userId ? { userId } : {}),
    };
    local.registerIdentity(identity);
    return identity;
  } finally {
    iam.destroy();
  }
}

function entityOf(principal: string): string | undefined {
  const [kind, name] = principal.split('/');
  if ((kind === 'user' || kind === 'role') && name) return `${kind}/${name}`;
  return undefined;
}
