import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Bedrock's control plane as far as ingest reads it, which moto lacks: `GetInferenceProfile` and
 * `ListTagsForResource` of the application inference profiles a local scenario declares.
 */

/** An application inference profile as a local scenario declares it. */
export interface LocalInferenceProfile {
  readonly arn: string;
  readonly name: string;
  /** The model ARNs the profile routes to, as `GetInferenceProfile` lists them. */
  readonly models: readonly string[];
  readonly tags?: Readonly<Record<string, string>>;
}

const PROFILE_PATH = /^\/inference-profiles\/([^/?]+)$/;
const TAGS_PATH = '/listTagsForResource';
const APPLICATION_PROFILE = /^arn:[^:]+:bedrock:[^:]*:\d{12}:application-inference-profile\/([a-zA-Z0-9]+)$/;

export class LocalBedrock {
  private readonly profiles = new Map<string, LocalInferenceProfile>();

  /** Declares a profile (again: replaces it). */
  register(profile: LocalInferenceProfile): void {
    if (!APPLICATION_PROFILE.test(profile.arn)) {
      throw new Error(`${profile.arn} is not an application inference profile ARN`);
    }
    this.profiles.set(profile.arn, profile);
  }

  /**
   * Answers a request of these two operations and resolves to true; resolves to false for any other, which goes on
   * to moto (its Bedrock serves tags of other resources). `body` is the request's body, read already.
   */
  async answer(req: IncomingMessage, res: ServerResponse, body: () => Promise<Buffer>): Promise<boolean> {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const profilePath = req.method === 'GET' ? PROFILE_PATH.exec(path) : null;
    if (profilePath?.[1]) {
      const profile = this.find(decodeURIComponent(profilePath[1]));
      if (!profile) notFound(res, decodeURIComponent(profilePath[1]));
      else reply(res, 200, describe(profile));
      return true;
    }
    if (req.method !== 'POST' || path !== TAGS_PATH) return false;
    const raw = await body();
    const resourceArn = (JSON.parse(raw.toString('utf8') || '{}') as { resourceARN?: unknown }).resourceARN;
    if (typeof resourceArn !== 'string' || !APPLICATION_PROFILE.test(resourceArn)) return false;
    const profile = this.find(resourceArn);
    if (!profile) notFound(res, resourceArn);
    else reply(res, 200, { tags: Object.entries(profile.tags ?? {}).map(([key, value]) => ({ key, value })) });
    return true;
  }

  /** By ARN, or by id (Bedrock takes either). */
  private find(identifier: string): LocalInferenceProfile | undefined {
    return (
      this.profiles.get(identifier) ??
      [...this.profiles.values()].find((p) => APPLICATION_PROFILE.exec(p.arn)?.[1] === identifier)
    );
  }
}

const describe = (profile: LocalInferenceProfile) => ({
  inferenceProfileArn: profile.arn,
  inferenceProfileId: APPLICATION_PROFILE.exec(profile.arn)?.[1],
  inferenceProfileName: profile.name,
  models: profile.models.map((modelArn) => ({ modelArn })),
  status: 'ACTIVE',
  type: 'APPLICATION',
});

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function notFound(res: ServerResponse, identifier: string): void {
  reply(
    res,
    404,
    { message: `The inference profile ${identifier} does not exist` },
    { 'x-amzn-errortype': 'ResourceNotFoundException' },
  );
}
