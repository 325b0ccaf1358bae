import type { Memberships } from '../ledger';
import { groupsOf, needsTags } from './groups';
import type { GroupDirectory } from './store';
import type { TagReader } from './tags';

/**
 * The groups each principal of a batch is in, by its id, its user's or role's tags and the groups as ingest last
 * read them: what the ledger adds each group's counter by. Tags are read only when some group is by tag.
 */
export class GroupResolver {
  constructor(
    private readonly directory: Pick<GroupDirectory, 'memberships'>,
    private readonly tags: Pick<TagReader, 'tagsOf'>,
  ) {}

  async membershipsOf(principals: Iterable<string>): Promise<Memberships> {
    const groups = await this.directory.memberships();
    const memberships = new Map<string, readonly string[]>();
    if (groups.length === 0) return memberships;
    const byTag = needsTags(groups);
    await Promise.all(
      [...new Set(principals)].map(async (principal) => {
        const tags = byTag ? await this.tags.tagsOf(principal) : undefined;
        const names = groupsOf(principal, tags, groups);
        if (names.length > 0) memberships.set(principal, names);
      }),
    );
    return memberships;
  }
}
