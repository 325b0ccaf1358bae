import { IAMClient, type IAMClientConfig } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import { memberEnforcementRoleArn } from '../../shared/enforcement/organization';

/** Temporary credentials of an assumed role, as an SDK client takes them. */
export interface AssumedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

/** Assumed credentials are renewed this long before they expire: no call starts with credentials about to lapse. */
export const RENEW_BEFORE_MS = 5 * 60_000;
/** What CloudTrail in the member (or management) account shows as the session of the central suspend function. */
export const ENFORCEMENT_SESSION_NAME = 'budgeteer-enforcement';

export class AssumeRoleError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AssumeRoleError';
  }
}

/**
 * A credential provider for an SDK client that acts as `roleArn`: one AssumeRole, its credentials kept until
 * RENEW_BEFORE_MS before they expire, concurrent calls sharing one request.
 */
export function assumedRoleCredentials(
  sts: STSClient,
  roleArn: string,
  now: () => number = Date.now,
): () => Promise<AssumedCredentials> {
  let cached: AssumedCredentials | undefined;
  let pending: Promise<AssumedCredentials> | undefined;
  const assume = async (): Promise<AssumedCredentials> => {
    const { Credentials } = await sts.send(
      new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: ENFORCEMENT_SESSION_NAME }),
    );
    if (!Credentials?.AccessKeyId || !Credentials.SecretAccessKey || !Credentials.SessionToken) {
      throw new AssumeRoleError(`STS returned no credentials for ${roleArn}`);
    }
    cached = {
      accessKeyId: Credentials.AccessKeyId,
      secretAccessKey: Credentials.SecretAccessKey,
      sessionToken: Credentials.SessionToken,
      expiration: new Date(Credentials.Expiration ?? now()),
    };
    return cached;
  };
  return async () => {
    if (cached && cached.expiration.getTime() - RENEW_BEFORE_MS > now()) return cached;
    pending ??= assume().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

/**
 * The IAM clients of the organization's member accounts, each acting as that account's enforcement role
 * (`BudgeteerMember-Enforcement`): one client per account for the process's life, its credentials renewed as they
 * near expiry.
 */
export class MemberAccounts {
  private readonly clients = new Map<string, IAMClient>();

  /**
   * @param partition the partition of the organization (`aws`, `aws-us-gov`, ...)
   * @param clientConfig the settings of each member's IAM client besides its credentials (retries, region)
   */
  constructor(
    private readonly sts: STSClient,
    private readonly partition: string,
    private readonly clientConfig: IAMClientConfig = {},
    private readonly now: () => number = Date.now,
  ) {}

  /** The IAM client of `account`, acting as its enforcement role. */
  iam(account: string): IAMClient {
    let client = this.clients.get(account);
    if (!client) {
      const roleArn = memberEnforcementRoleArn(this.partition, account);
      client = new IAMClient({
        ...this.clientConfig,
        credentials: assumedRoleCredentials(this.sts, roleArn, this.now),
      });
      this.clients.set(account, client);
    }
    return client;
  }
}
