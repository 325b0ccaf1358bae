import { type IAMClient, ListRoleTagsCommand, ListUserTagsCommand, type Tag } from '@aws-sdk/client-iam';

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
 * fails (no such entity any more, throttled, denied) gives undefined: tag membership is then not counted for that
 * call, and the caller logs it; it never stops the charge.
 */
export class TagReader {
  private readonly cache = new Map<string, { at: number; tags: Promise<ReadonlyMap<string, string> | undefined> }>();
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
    const tags = this.read(entity).catch((error: unknown) => {
      this.onError(principal, error);
      // Not kept: the next call tries again.
      this.cache.delete(key);
      return undefined;
    });
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
