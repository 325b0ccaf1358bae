import { type IAMClient, ListRoleTagsCommand, ListUserTagsCommand, type Tag } from '@aws-sdk/client-iam';

const NO_TAGS: ReadonlyMap<string, string> = new Map();

/** How long ingest trusts the tags it read of a user or role before reading them again. */
export const TAG_CACHE_TTL_MS = 300_000;

/**
 * The IAM entity whose tags decide a principal's tag membership: the user of `user/<name>` (API keys included),
 * the role of `role/<role>` and of its sessions `role/<role>/<session>`; none for root or federated users.
 */
export function taggedEntityOf(principal: string): { kind: 'user' | 'role'; name: string } | undefined {
  const [type, name] = principal.split('/');
  if (!name) return undefined;
  if (type === 'user') return { kind: 'user', name };
  if (type === 'role') return { kind: 'role', name };
  return undefined;
}

/**
 * Reads the tags of principals' users and roles from IAM, cached per entity for `ttlMs`, so a user tagged
 * `team=data-science` counts in that group from their first call, and a tag change within minutes. A read that
 * fails (throttled, denied) keeps the tags last read, if any; with none it gives undefined: tag membership is then
 * not counted for that call, and the caller logs it. It never stops the charge. A user or role that no longer exists
 * has no tags.
 */
export class TagReader {
  private readonly cache = new Map<string, { at: number; tags: Promise<ReadonlyMap<string, string> | undefined> }>();
  /** The tags last read of each entity: what a failed re-read falls back to. */
  private readonly lastRead = new Map<string, ReadonlyMap<string, string>>();
  private readonly now: () => number;

  constructor(
    private readonly iam: Pick<IAMClient, 'send'>,
    private readonly ttlMs = TAG_CACHE_TTL_MS,
    now?: () => number,
    private readonly onError: (principal: string, error: unknown) => void = () => {},
  ) {
    this.now = now ?? Date.now;
  }

  tagsOf(principal: string): Promise<ReadonlyMap<string, string> | undefined> {
    const entity = taggedEntityOf(principal);
    if (!entity) return Promise.resolve(undefined);
    const key = `${entity.kind}/${entity.name}`;
    const cached = this.cache.get(key);
    if (cached && this.now() - cached.at < this.ttlMs) return cached.tags;
    const tags = this.read(entity).then(
      (read) => {
        this.lastRead.set(key, read);
        return read;
      },
      (error: unknown) => {
        // IAM's error name (moto's server says NoSuchEntity).
        const name = (error as { name?: string } | undefined)?.name;
        if (name === 'NoSuchEntityException' || name === 'NoSuchEntity') return NO_TAGS;
        this.onError(principal, error);
        // Not kept: the next call tries again.
        this.cache.delete(key);
        return this.lastRead.get(key);
      },
    );
    this.cache.set(key, { at: this.now(), tags });
    return tags;
  }

  private async read(entity: { kind: 'user' | 'role'; name: string }): Promise<ReadonlyMap<string, string>> {
    const tags: Tag[] = [];
    let Marker: string | undefined;
    do {
      const page =
        entity.kind === 'user'
          ? await this.iam.send(new ListUserTagsCommand({ UserName: entity.name, Marker }))
          : await this.iam.send(new ListRoleTagsCommand({ RoleName: entity.name, Marker }));
      tags.push(...(page.Tags ?? []));
      Marker = page.IsTruncated ? page.Marker : undefined;
    } while (Marker);
    return new Map(tags.flatMap((tag) => (tag.Key === undefined ? [] : [[tag.Key, tag.Value ?? '']])));
  }
}
