import { type LocalAws, startLocalAws } from '../../local/aws';
import { bedrockProfileSource } from '../../shared/pricing/profile-client';
import { signedFetch } from '../../shared/sigv4-fetch';

jest.setTimeout(30_000);

const ARN = 'arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/sb4h7k2m9x1q';
const REF = { arn: ARN, id: 'sb4h7k2m9x1q', region: 'us-east-1', accountId: '111122223333' };
const MODELS = ['us-east-1', 'us-west-2'].map(
  (region) => `arn:aws:bedrock:${region}::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0`,
);

describe("the local front's Bedrock inference profiles (moto has none)", () => {
  let local: LocalAws;
  let endpoint: string | undefined;

  beforeAll(async () => {
    local = await startLocalAws();
    local.registerInferenceProfile({ arn: ARN, name: 'support-bot', models: MODELS, tags: { team: 'support' } });
    endpoint = process.env.AWS_ENDPOINT_URL;
    // What ingest's client reads: the local endpoint and any key (the front does not check signatures).
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: local.endpoint,
      AWS_ACCESS_KEY_ID: local.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: local.credentials.secretAccessKey,
    });
  });

  afterAll(async () => {
    if (endpoint === undefined) delete process.env.AWS_ENDPOINT_URL;
    else process.env.AWS_ENDPOINT_URL = endpoint;
    await local.stop();
  });

  it('answers GetInferenceProfile and ListTagsForResource for a declared profile, as ingest asks them', async () => {
    const source = bedrockProfileSource();

    expect(await source.getInferenceProfile(REF)).toEqual({
      inferenceProfileArn: ARN,
      inferenceProfileId: 'sb4h7k2m9x1q',
      inferenceProfileName: 'support-bot',
      type: 'APPLICATION',
      models: MODELS.map((modelArn) => ({ modelArn })),
    });
    expect(await source.listTags(REF)).toEqual({ team: 'support' });
  });

  it('finds a profile by its id too, as Bedrock does', async () => {
    const answer = await signedFetch(`${local.endpoint}/inference-profiles/sb4h7k2m9x1q`, {
      region: 'us-east-1',
      service: 'bedrock',
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toMatchObject({ inferenceProfileArn: ARN, status: 'ACTIVE' });
  });

  it('answers a profile not declared with ResourceNotFoundException (a deleted profile)', async () => {
    const other = { ...REF, arn: ARN.replace('sb4h7k2m9x1q', 'zzzzzzzzzzzz'), id: 'zzzzzzzzzzzz' };
    await expect(bedrockProfileSource().getInferenceProfile(other)).rejects.toThrow(/answered 404/);
    await expect(bedrockProfileSource().listTags(other)).rejects.toThrow(/answered 404/);
  });

  it("sends ListTagsForResource of any other resource on to moto's Bedrock, body and all", async () => {
    const custom = 'arn:aws:bedrock:us-east-1:123456789012:custom-model/abc';
    const answer = await signedFetch(`${local.endpoint}/listTagsForResource`, {
      method: 'POST',
      region: 'us-east-1',
      service: 'bedrock',
      body: JSON.stringify({ resourceARN: custom }),
    });
    // moto read the ARN from the body the front had read already.
    expect(answer.text).toContain(`Resource ${custom} not found`);
  });
});
