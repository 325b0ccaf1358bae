import { ListRoleTagsCommand, ListUserTagsCommand } from '@aws-sdk/client-iam';
import { kindOfKey } from '../../shared/budgets/items';
import {
  checkGroupName,
  checkMember,
  GroupError,
  groupsOf,
  matchesMember,
  parseGroupTag,
  stillMember,
} from '../../shared/groups/groups';
import { GroupResolver } from '../../shared/groups/membership';
import { type GroupDefinition, GroupDirectory } from '../../shared/groups/store';
import { TagReader, taggedEntityOf } from '../../shared/groups/tags';
import { usd } from '../../shared/money';

const DS = { name: 'data-science', members: ['user/alice', 'role/ds-*'], tag: { key: 'team', value: 'ds' } };
const APP = { name: 'chatbot', members: ['role/chatbot-prod'] };

describe('group membership', () => {
  it.each([
    ['user/alice', undefined, ['data-science']],
    ['role/ds-training', undefined, ['data-science']],
    // A session of a pattern's role is in the group too: `*` matches any run, slashes included.
    ['role/ds-notebooks/maria', undefined, ['data-science']],
    ['role/chatbot-prod', undefined, ['chatbot']],
    ['user/bob', undefined, []],
    ['user/bob', new Map([['team', 'ds']]), ['data-science']],
    ['user/bob', new Map([['team', 'finance']]), []],
    // A principal may be in several groups; each counts it, in name order.
    ['role/chatbot-prod', new Map([['team', 'ds']]), ['chatbot', 'data-science']],
  ] as const)('%s with tags %p is in %p', (principal, tags, expected) => {
    expect(groupsOf(principal, tags, [DS, APP])).toEqual(expected);
  });

  it('matches an id exactly and a pattern only where its * stands', () => {
    expect(matchesMember('user/alice2', 'user/alice')).toBe(false);
    expect(matchesMember('user/xds-1', 'user/ds-*')).toBe(false);
    expect(matchesMember('user/a.b', 'user/a*b')).toBe(true);
    // A dot in a pattern is a dot, not any character.
    expect(matchesMember('user/aXb', 'user/a.b')).toBe(false);
  });

  it.each(['', '-lead', 'a b', 'x'.repeat(65), 'GROUP#x', 42])('refuses the group name %p', (name) => {
    expect(() => checkGroupName(name)).toThrow(GroupError);
  });

  it.each(['root', 'alice', 'user/', 'arn:aws:iam::1:user/a', 'group/x', 'user//a'])('refuses the member %p', (m) => {
    expect(() => checkMember(m)).toThrow(GroupError);
  });

  it('reads a tag as key=value, and refuses what IAM would not take', () => {
    expect(parseGroupTag('team=data-science')).toEqual({ key: 'team', value: 'data-science' });
    expect(parseGroupTag('cost-center=4=2')).toEqual({ key: 'cost-center', value: '4=2' });
    for (const bad of ['team', '=ds', 'team=', 'te|am=ds']) expect(() => parseGroupTag(bad)).toThrow(GroupError);
  });

  it("keys a group's counters as a kind of their own, never a principal's", () => {
    expect(kindOfKey('GROUP#data-science', '2026-12')).toBe('group');
    expect(kindOfKey('GROUP#data-science', 'LIMIT')).toBe('limit');
    expect(kindOfKey('GROUP#', '2026-12')).toBeUndefined();
  });
});

describe('group membership across an organization', () => {
  it('takes account-qualified members and patterns, and a whole account, and refuses a malformed account', () => {
    expect(checkMember('222233334444:user/alice')).toBe('222233334444:user/alice');
    expect(checkMember('*:role/ds-*')).toBe('*:role/ds-*');
    expect(checkMember('account:222233334444')).toBe('account:222233334444');
    expect(() => checkMember('account:2222')).toThrow(GroupError);
    expect(() => checkMember('22223333444:user/alice')).toThrow(GroupError);
  });

  it('matches a qualified member only in its account, and a pattern over accounts in every account', () => {
    expect(matchesMember('222233334444:user/alice', '222233334444:user/alice')).toBe(true);
    expect(matchesMember('333344445555:user/alice', '222233334444:user/alice')).toBe(false);
    expect(matchesMember('user/alice', '222233334444:user/alice')).toBe(false);
    expect(matchesMember('333344445555:role/ds-1', '*:role/ds-*')).toBe(true);
  });

  it("puts every principal of an account, and only those, in that account's group", () => {
    const groups = [{ name: 'account-222233334444', members: ['account:222233334444'] }];

    expect(groupsOf('222233334444:role/app/s', undefined, groups)).toEqual(['account-222233334444']);
    expect(groupsOf('333344445555:role/app', undefined, groups)).toEqual([]);
    // The deployment's own principals are unqualified: of the home account, when it is known.
    expect(groupsOf('user/alice', undefined, groups)).toEqual([]);
    expect(groupsOf('user/alice', undefined, groups, '222233334444')).toEqual(['account-222233334444']);
    expect(stillMember('222233334444:user/bob', { members: ['account:222233334444'] })).toBe(true);
    expect(stillMember('333344445555:user/bob', { members: ['account:222233334444'] })).toBe(false);
  });
});

describe('TagReader', () => {
  const iamAnswering = (tags: Record<string, string>) => {
    const send = jest.fn(async (command: unknown) => {
      if (!(command instanceof ListUserTagsCommand || command instanceof ListRoleTagsCommand)) throw new Error('?');
      return { Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })), IsTruncated: false };
    });
    return { send } as unknown as { send: jest.Mock };
  };

  it("reads a user's tags for its API key and a role's for its sessions; none for root", () => {
    expect(taggedEntityOf('user/BedrockAPIKey-x')).toEqual({ kind: 'user', name: 'BedrockAPIKey-x' });
    expect(taggedEntityOf('role/ds/maria@example.com')).toEqual({ kind: 'role', name: 'ds' });
    expect(taggedEntityOf('root')).toBeUndefined();
    expect(taggedEntityOf('federated-user/x')).toBeUndefined();
  });

  it('reads an entity once per TTL, and again after it', async () => {
    let now = 0;
    const iam = iamAnswering({ team: 'ds' });
    const reader = new TagReader(iam, 300_000, () => now);
    expect((await reader.tagsOf('role/ds/a'))?.get('team')).toBe('ds');
    await reader.tagsOf('role/ds/b');
    expect(iam.send).toHaveBeenCalledTimes(1);
    now = 300_000;
    await reader.tagsOf('role/ds/a');
    expect(iam.send).toHaveBeenCalledTimes(2);
    expect(iam.send.mock.calls[0]?.[0]).toBeInstanceOf(ListRoleTagsCommand);
  });

  it('keeps the tags last read when a re-read fails, and has none for an entity that is gone', async () => {
    let now = 0;
    const send = jest
      .fn()
      .mockResolvedValueOnce({ Tags: [{ Key: 'team', Value: 'ds' }] })
      .mockRejectedValueOnce(new Error('throttled'))
      .mockRejectedValueOnce(Object.assign(new Error('gone'), { name: 'NoSuchEntityException' }));
    const reader = new TagReader({ send } as never, 1000, () => now);
    expect((await reader.tagsOf('user/alice'))?.get('team')).toBe('ds');
    now = 1000;
    expect((await reader.tagsOf('user/alice'))?.get('team')).toBe('ds');
    expect(await reader.tagsOf('user/bob')).toEqual(new Map());
  });

  it('gives undefined when IAM fails, tells why, and tries again at the next call', async () => {
    const errors: string[] = [];
    const send = jest.fn().mockRejectedValueOnce(new Error('throttled')).mockResolvedValue({ Tags: [] });
    const reader = new TagReader(
      { send } as never,
      300_000,
      () => 0,
      (p, e) => errors.push(`${p}: ${e}`),
    );
    expect(await reader.tagsOf('user/alice')).toBeUndefined();
    expect(errors).toEqual(['user/alice: Error: throttled']);
    expect(await reader.tagsOf('user/alice')).toEqual(new Map());
  });
});

describe('GroupResolver', () => {
  const definition = (group: Omit<GroupDefinition, 'limitUsd' | 'owners'>): GroupDefinition => ({
    ...group,
    limitUsd: usd('10'),
    owners: [],
  });

  it('reads no tags when no group is by tag, and leaves non-members out', async () => {
    const tags = { tagsOf: jest.fn() };
    const resolver = new GroupResolver(new GroupDirectory({ list: async () => [definition(APP)] }), tags);
    const memberships = await resolver.membershipsOf(['role/chatbot-prod', 'user/alice', 'role/chatbot-prod']);
    expect([...memberships]).toEqual([['role/chatbot-prod', ['chatbot']]]);
    expect(tags.tagsOf).not.toHaveBeenCalled();
  });

  it("counts a profile in a group by the tags its call came with, never asking IAM for a profile's", async () => {
    const tags = { tagsOf: jest.fn(async () => new Map<string, string>()) };
    const resolver = new GroupResolver(new GroupDirectory({ list: async () => [definition(DS)] }), tags);
    const memberships = await resolver.membershipsOf(
      ['profile/abc123', 'profile/zzz999'],
      new Map([['profile/abc123', { team: 'ds' }]]),
    );
    expect(memberships).toEqual(new Map([['profile/abc123', ['data-science']]]));
    expect(tags.tagsOf).not.toHaveBeenCalled();
  });

  it("counts tag membership by each principal's tags", async () => {
    const tags = { tagsOf: async (p: string) => new Map(p === 'user/bob' ? [['team', 'ds']] : []) };
    const resolver = new GroupResolver(new GroupDirectory({ list: async () => [definition(DS)] }), tags);
    expect(await resolver.membershipsOf(['user/bob', 'user/carol'])).toEqual(new Map([['user/bob', ['data-science']]]));
  });
});

describe('GroupDirectory', () => {
  it('reads the groups once per TTL, and keeps the last it read when a re-read fails', async () => {
    let now = 0;
    const list = jest
      .fn()
      .mockResolvedValueOnce([{ ...APP, limitUsd: usd('1'), owners: [] }])
      .mockRejectedValueOnce(new Error('throttled'));
    const directory = new GroupDirectory({ list }, 60_000, () => now);
    expect(await directory.memberships()).toEqual([{ name: 'chatbot', members: ['role/chatbot-prod'] }]);
    await directory.memberships();
    expect(list).toHaveBeenCalledTimes(1);
    now = 60_000;
    expect(await directory.memberships()).toEqual([{ name: 'chatbot', members: ['role/chatbot-prod'] }]);
    expect(list).toHaveBeenCalledTimes(2);
  });

  it('fails a first read that fails: ingest retries the batch rather than count no group', async () => {
    const directory = new GroupDirectory({ list: jest.fn().mockRejectedValue(new Error('denied')) });
    await expect(directory.memberships()).rejects.toThrow('denied');
  });
});
