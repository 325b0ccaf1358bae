import { signedFetch } from '../sigv4-fetch';
import {
  type InferenceProfileAnswer,
  inferenceProfileAnswer,
  type ProfileRef,
  type ProfileSource,
  tagsAnswer,
} from './profiles';

const REQUEST_TIMEOUT_MS = 5_000;

export class InferenceProfileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InferenceProfileError';
  }
}

/** Bedrock's control plane in the profile's Region; AWS_ENDPOINT_URL (the local stack's front) wins, as in the SDK. */
export function bedrockEndpoint(region: string, env: NodeJS.ProcessEnv = process.env): string {
  const local = env.AWS_ENDPOINT_URL;
  if (local) return local.replace(/\/$/, '');
  return `https://bedrock.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/**
 * `GetInferenceProfile` (GET /inference-profiles/{id}) and `ListTagsForResource` (POST /listTagsForResource) of
 * Bedrock's REST API, signed with the function's role. The SDK's Bedrock client is not used: it would be one more
 * client of a large service package for two request shapes, and shared/sigv4-fetch.ts signs them already.
 */
export function bedrockProfileSource(send: typeof signedFetch = signedFetch): ProfileSource {
  const call = async (ref: ProfileRef, path: string, body?: unknown): Promise<unknown> => {
    const response = await send(`${bedrockEndpoint(ref.region)}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      region: ref.region,
      service: 'bedrock',
      // A slow control plane must not hold the batch: the call is then priced as today (fallback) and retried later.
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status !== 200) {
      throw new InferenceProfileError(`answered ${response.status}: ${response.text.slice(0, 300)}`);
    }
    try {
      return JSON.parse(response.text) as unknown;
    } catch (error) {
      throw new InferenceProfileError('answered something other than JSON', { cause: error });
    }
  };
  return {
    async getInferenceProfile(ref): Promise<InferenceProfileAnswer> {
      const parsed = inferenceProfileAnswer.safeParse(
        await call(ref, `/inference-profiles/${encodeURIComponent(ref.arn)}`),
      );
      if (!parsed.success) throw new InferenceProfileError(`unexpected answer: ${parsed.error.message}`);
      return parsed.data;
    },
    async listTags(ref): Promise<Record<string, string>> {
      const parsed = tagsAnswer.safeParse(await call(ref, '/listTagsForResource', { resourceARN: ref.arn }));
      if (!parsed.success) throw new InferenceProfileError(`unexpected answer: ${parsed.error.message}`);
      return Object.fromEntries(parsed.data.tags.map((tag) => [tag.key, tag.value]));
    },
  };
}
