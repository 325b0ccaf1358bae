import type { IAMClient } from '@aws-sdk/client-iam';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { identityRulesFromEnv, positiveIntFromEnv } from '../config';
import type { MembershipSource, Memberships } from '../ledger';
import { groupsOf, isProfileMember, needsTags } from './groups';
import { GroupDirectory, GroupStore } from './store';
import { TagReader } from './tags';

/** The variable that says how long a function counts by the groups it read before reading them again (seconds). */
export const GROUP_CACHE_SECONDS_ENV = 'GROUP_CACHE_SECONDS';

/**
 * The groups each principal of a batch is in, by its id, its user's or role's tags and the groups as ingest last
 * read them: what the ledger adds each group's counter by. Tags are read only when some group is by tag.
 */
export class GroupResolver implements MembershipSource {
  constructor(
    private readonly directory: Pick<GroupDirectory, 'memberships'>,
    private readonly tags: Pick<TagReader, 'tagsOf'>,
    /** The deployment's own account in an organization: whose principals an `account:<id>` member names unqualified. */
    private readonly home?: string,
  ) {}

  async membershipsOf(
    principals: Iterable<string>,
    profileTags: ReadonlyMap<string, Readonly<Record<string, string>>> = new Map(),
  ): Promise<Memberships> {
    const groups = await this.directory.memberships();
    const memberships = new Map<string, readonly string[]>();
    if (groups.length === 0) return memberships;
    const byTag = needsTags(groups);
    // A profile's tags come with its call (ingest read them with the profile); a user's or role's from IAM.
    const tagsOf = async (principal: string): Promise<ReadonlyMap<string, string> | undefined> => {
      const ofProfile = profileTags.get(principal);
      if (ofProfile) return new Map(Object.entries(ofProfile));
      return isProfileMember(principal) ? undefined : this.tags.tagsOf(principal);
    };
    await Promise.all(
      [...new Set(principals)].map(async (principal) => {
        const tags = byTag ? await tagsOf(principal) : undefined;
        const names = groupsOf(principal, tags, groups, this.home);
        if (names.length > 0) memberships.set(principal, names);
      }),
    );
    return memberships;
  }
}

/**
 * What every writer of spend (ingest, the coverage sweep) counts groups by: the groups read from the Budgets table
 * once per GROUP_CACHE_SECONDS (default 60), and principals' IAM tags once per 5 minutes, per warm environment.
 */
export function groupResolverFor(
  documents: DynamoDBDocumentClient,
  budgetsTable: string,
  iam: Pick<IAMClient, 'send'>,
  onTagError: (principal: string, error: unknown) => void,
  env: Readonly<Record<string, string | undefined>> = process.env,
): GroupResolver {
  return new GroupResolver(
    new GroupDirectory(
      new GroupStore(documents, budgetsTable),
      positiveIntFromEnv(GROUP_CACHE_SECONDS_ENV, 60, env) * 1000,
    ),
    new TagReader(iam, undefined, undefined, onTagError),
    identityRulesFromEnv(env).homeAccount,
  );
}
