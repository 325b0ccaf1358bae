import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { HttpRequest } from '@smithy/core/protocols';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';

/** Long-term or temporary AWS credentials. */
export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SignedFetchOptions {
  /** @default 'GET' */
  readonly method?: string;
  readonly body?: string;
  /** Region of the function URL; the signature is only valid there. */
  readonly region: string;
  /** The service the request is signed for (an AWS JSON API such as `pricing`). @default 'lambda' */
  readonly service?: string;
  /** @default the SDK's default provider chain (environment, SSO, shared files, container, instance metadata) */
  readonly credentials?: SigningCredentials;
  /** Sent and signed. @default `content-type: application/json` when there is a body */
  readonly headers?: Readonly<Record<string, string>>;
  /** Aborts the request (e.g. `AbortSignal.timeout(ms)`). @default none */
  readonly signal?: AbortSignal;
}

export interface SignedResponse {
  readonly status: number;
  /** The body as text; callers parse it, as an error answer is not always JSON. */
  readonly text: string;
}

// Built once: the chain caches what it resolves until the credentials near expiry.
let defaultCredentials: ReturnType<typeof defaultProvider> | undefined;

function defaultChain(): ReturnType<typeof defaultProvider> {
  defaultCredentials ??= defaultProvider();
  return defaultCredentials;
}

/**
 * Sends a request to a Lambda function URL whose AuthType is AWS_IAM, SigV4-signed for service `lambda` by the SDK's
 * signer, and reads the whole answer.
 */
export async function signedFetch(url: string, options: SignedFetchOptions): Promise<SignedResponse> {
  const target = new URL(url);
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = {
    ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    ...options.headers,
    // fetch sends this host; the SDK's middleware, not the signer, would otherwise add it.
    host: target.host,
  };
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of target.searchParams) {
    const seen = query[name];
    query[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  const signer = new SignatureV4({
    service: options.service ?? 'lambda',
    region: options.region,
    credentials: options.credentials ?? defaultChain(),
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.sign(
    new HttpRequest({
      method,
      protocol: target.protocol,
      hostname: target.hostname,
      ...(target.port ? { port: Number(target.port) } : {}),
      path: target.pathname,
      query,
      headers,
      ...(options.body === undefined ? {} : { body: options.body }),
    }),
  );
  const { host: _, ...sent } = signed.headers;
  const response = await fetch(url, {
    method,
    headers: sent,
    ...(options.body === undefined ? {} : { body: options.body }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { status: response.status, text: await response.text() };
}

/**
 * The signed options of one AWS JSON 1.1 call (the Price List's GetProducts, Cost Explorer's GetCostAndUsage):
 * a POST of `body` to the operation `target` names, for `service` in `region`.
 */
export const awsJsonCall = (region: string, service: string, target: string, body: unknown): SignedFetchOptions => ({
  method: 'POST',
  region,
  service,
  headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
  body: JSON.stringify(body),
});
