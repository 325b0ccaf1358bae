import { bedrockEndpoint, bedrockProfileSource } from '../../shared/pricing/profile-client';
import {
  applicationProfileOf,
  type InferenceProfileAnswer,
  InferenceProfileCache,
  type ProfileRef,
  type ProfileSource,
  pricedAsOf,
} from '../../shared/pricing/profiles';
import type { signedFetch } from '../../shared/sigv4-fetch';

const ACCOUNT = '111122223333';
const ARN = `arn:aws:bedrock:us-east-1:${ACCOUNT}:application-inference-profile/hq2of259skzs`;
const CALL = { region: 'us-east-1', accountId: ACCOUNT };
const HAIKU_4_5 = 'anthropic.claude-haiku-4-5-20251001-v1:0';
const modelArn = (region: string, model = HAIKU_4_5) => `arn:aws:bedrock:${region}::foundation-model/${model}`;

describe('applicationProfileOf', () => {
  it('reads the ARN an invocation log names', () => {
    expect(applicationProfileOf(ARN, CALL)).toEqual({
      arn: ARN,
      id: 'hq2of259skzs',
      region: 'us-east-1',
      accountId: ACCOUNT,
    });
  });

  it('reads the ARN URL-encoded, as a request path carries it', () => {
    expect(applicationProfileOf(encodeURIComponent(ARN), CALL)?.arn).toBe(ARN);
  });

  it("completes a profile's id alone with the call's Region and account (another Region's ARN keeps its own)", () => {
    expect(applicationProfileOf('hq2of259skzs', { region: 'eu-west-1', accountId: ACCOUNT })).toEqual({
      arn: `arn:aws:bedrock:eu-west-1:${ACCOUNT}:application-inference-profile/hq2of259skzs`,
      id: 'hq2of259skzs',
      region: 'eu-west-1',
      accountId: ACCOUNT,
    });
    expect(applicationProfileOf(ARN, { region: 'eu-west-1', accountId: ACCOUNT })?.region).toBe('us-east-1');
  });

  it.each([
    'anthropic.claude-3-haiku-20240307-v1:0',
    `us.${HAIKU_4_5}`,
    `arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/us.${HAIKU_4_5}`,
    modelArn('us-east-1'),
    `arn:aws:bedrock:us-east-1:${ACCOUNT}:provisioned-model/abc123def456`,
    'gpt-oss-120b',
  ])('names no application profile in %s', (modelId) => {
    expect(applicationProfileOf(modelId, CALL)).toBeUndefined();
  });
});

describe('pricedAsOf', () => {
  it('prices a single-Region profile as its model', () => {
    expect(pricedAsOf([modelArn('us-east-1')])).toBe(HAIKU_4_5);
  });

  it('prices a copy of a geographic profile (one model in several Regions) as its model', () => {
    expect(pricedAsOf([modelArn('us-east-1'), modelArn('us-east-2'), modelArn('us-west-2')])).toBe(HAIKU_4_5);
  });

  it('prices a copy of a global profile (a Region-less ARN among them) as a global call', () => {
    expect(pricedAsOf([modelArn('us-east-1'), modelArn(''), modelArn('eu-west-1')])).toBe(`global.${HAIKU_4_5}`);
  });

  it('refuses a profile that lists several models or no foundation model', () => {
    expect(() => pricedAsOf([modelArn('us-east-1'), modelArn('us-west-2', 'amazon.nova-pro-v1:0')])).toThrow(
      /several models/,
    );
    expect(() => pricedAsOf([`arn:aws:bedrock:us-east-1:${ACCOUNT}:custom-model/x`])).toThrow(/not a foundation/);
    expect(() => pricedAsOf([])).toThrow(/no model/);
  });
});

const REF: ProfileRef = { arn: ARN, id: 'hq2of259skzs', region: 'us-east-1', accountId: ACCOUNT };
const answer = (models: string[] = [modelArn('us-east-1'), modelArn('us-west-2')]): InferenceProfileAnswer => ({
  inferenceProfileArn: ARN,
  inferenceProfileId: 'hq2of259skzs',
  inferenceProfileName: 'support-bot',
  type: 'APPLICATION',
  models: models.map((m) => ({ modelArn: m })),
});

/** A stand-in for Bedrock that counts what it is asked and fails as told. */
function fakeBedrock(options: { profile?: () => InferenceProfileAnswer; tags?: () => Record<string, string> } = {}) {
  const asked = { profiles: 0, tags: 0 };
  const source: ProfileSource = {
    getInferenceProfile: async () => {
      asked.profiles++;
      return (options.profile ?? answer)();
    },
    listTags: async () => {
      asked.tags++;
      return (options.tags ?? (() => ({ team: 'support' })))();
    },
  };
  return { source, asked };
}

describe('InferenceProfileCache', () => {
  it('resolves a profile to its model and tags, and answers again from the cache within the TTL', async () => {
    const { source, asked } = fakeBedrock();
    let now = 0;
    const cache = new InferenceProfileCache(source, { ttlMs: 600_000, now: () => now });

    const first = await cache.resolve(REF);
    now = 599_999;
    const second = await cache.resolve(REF);

    expect(first).toEqual({
      resolved: true,
      profile: {
        ...REF,
        name: 'support-bot',
        pricedAs: HAIKU_4_5,
        modelArns: [modelArn('us-east-1'), modelArn('us-west-2')],
        tags: { team: 'support' },
      },
    });
    expect(second).toEqual(first);
    expect(asked).toEqual({ profiles: 1, tags: 1 });
  });

  it('asks again once the TTL has passed, so tag changes and deletions show', async () => {
    const { source, asked } = fakeBedrock();
    let now = 0;
    const cache = new InferenceProfileCache(source, { ttlMs: 600_000, now: () => now });
    await cache.resolve(REF);
    now = 600_000;
    await cache.resolve(REF);
    expect(asked).toEqual({ profiles: 2, tags: 2 });
  });

  it('shares one request among calls in flight for the same profile', async () => {
    const { source, asked } = fakeBedrock();
    const cache = new InferenceProfileCache(source);
    await Promise.all([cache.resolve(REF), cache.resolve(REF), cache.resolve(REF)]);
    expect(asked.profiles).toBe(1);
  });

  it('reports a failure with its reason, keeps it for the failure TTL only, then asks again', async () => {
    let deleted = true;
    const { source, asked } = fakeBedrock({
      profile: () => {
        if (deleted) throw new Error('answered 404: ResourceNotFoundException');
        return answer();
      },
    });
    const failures: string[] = [];
    let now = 0;
    const cache = new InferenceProfileCache(source, {
      failureTtlMs: 60_000,
      now: () => now,
      onFailure: (arn, reason) => failures.push(`${arn} ${reason}`),
    });

    expect(await cache.resolve(REF)).toEqual({
      resolved: false,
      reason: 'GetInferenceProfile: answered 404: ResourceNotFoundException',
    });
    now = 59_999;
    await cache.resolve(REF);
    expect(asked.profiles).toBe(1);
    deleted = false;
    now = 60_000;
    expect((await cache.resolve(REF)).resolved).toBe(true);
    expect(failures).toEqual([`${ARN} GetInferenceProfile: answered 404: ResourceNotFoundException`]);
    expect(asked.tags).toBe(1);
  });

  it('refuses a system-defined profile and one routing to several models', async () => {
    const system = fakeBedrock({ profile: () => ({ ...answer(), type: 'SYSTEM_DEFINED' }) });
    expect(await new InferenceProfileCache(system.source).resolve(REF)).toMatchObject({ resolved: false });
    const mixed = fakeBedrock({ profile: () => answer([modelArn('us-east-1'), modelArn('us-east-1', 'x.y-v1:0')]) });
    expect(await new InferenceProfileCache(mixed.source).resolve(REF)).toMatchObject({
      resolved: false,
      reason: expect.stringMatching(/several models/),
    });
  });

  it('keeps the model when the tags cannot be read, and reads the tags again after the failure TTL', async () => {
    let denied = true;
    const { source, asked } = fakeBedrock({
      tags: () => {
        if (denied) throw new Error('answered 403: AccessDeniedException');
        return { team: 'support' };
      },
    });
    let now = 0;
    const cache = new InferenceProfileCache(source, { ttlMs: 600_000, failureTtlMs: 60_000, now: () => now });

    const first = await cache.resolve(REF);
    expect(first).toMatchObject({ resolved: true, profile: { pricedAs: HAIKU_4_5 } });
    expect(first.resolved && first.profile.tags).toBeUndefined();
    denied = false;
    now = 60_000;
    const second = await cache.resolve(REF);
    expect(second.resolved && second.profile.tags).toEqual({ team: 'support' });
    expect(asked).toEqual({ profiles: 2, tags: 2 });
  });
});

describe('bedrockProfileSource', () => {
  function recording(answers: Record<string, { status: number; text: string }>) {
    const sent: { url: string; options: Parameters<typeof signedFetch>[1] }[] = [];
    const send: typeof signedFetch = async (url, options) => {
      sent.push({ url, options });
      return answers[new URL(url).pathname.split('/')[1] ?? ''] ?? { status: 500, text: 'unexpected' };
    };
    return { send, sent };
  }

  it("asks GetInferenceProfile and ListTagsForResource of Bedrock's control plane in the profile's Region", async () => {
    const { send, sent } = recording({
      'inference-profiles': { status: 200, text: JSON.stringify({ ...answer(), status: 'ACTIVE' }) },
      listTagsForResource: {
        status: 200,
        text: JSON.stringify({
          tags: [
            { key: 'team', value: 'support' },
            { key: 'cost-center', value: '42' },
          ],
        }),
      },
    });
    const source = bedrockProfileSource(send);
    const ref = { ...REF, region: 'eu-west-1' };
    delete process.env.AWS_ENDPOINT_URL;

    expect((await source.getInferenceProfile(ref)).inferenceProfileName).toBe('support-bot');
    expect(await source.listTags(ref)).toEqual({ team: 'support', 'cost-center': '42' });
    expect(sent.map((s) => [s.url, s.options.method, s.options.service, s.options.region, s.options.body])).toEqual([
      [
        `https://bedrock.eu-west-1.amazonaws.com/inference-profiles/${encodeURIComponent(ARN)}`,
        'GET',
        'bedrock',
        'eu-west-1',
        undefined,
      ],
      [
        'https://bedrock.eu-west-1.amazonaws.com/listTagsForResource',
        'POST',
        'bedrock',
        'eu-west-1',
        JSON.stringify({ resourceARN: ARN }),
      ],
    ]);
  });

  it('throws on an error answer, with its status', async () => {
    const { send } = recording({
      'inference-profiles': { status: 429, text: '{"message":"Too many requests"}' },
    });
    await expect(bedrockProfileSource(send).getInferenceProfile(REF)).rejects.toThrow(/answered 429/);
  });

  it('uses the local endpoint when AWS_ENDPOINT_URL is set, as the SDK does', () => {
    expect(bedrockEndpoint('us-east-1', { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566/' })).toBe('http://127.0.0.1:4566');
    expect(bedrockEndpoint('cn-north-1', {})).toBe('https://bedrock.cn-north-1.amazonaws.com.cn');
  });
});
