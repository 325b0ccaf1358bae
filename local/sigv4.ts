import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpRequest } from '@smithy/core/protocols';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';

/** An access key the local IAM issued, and whose it is. */
export interface LocalIdentity {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The key's owner, `arn:aws:iam::<account>:user/<name>`. */
  readonly arn: string;
  /** The owner's unique id (`AIDA...` for a user), which Lambda reports as `userId` and `callerId`. @default accessKeyId */
  readonly userId?: string;
}

/** `requestContext.authorizer.iam` as Lambda sets it for a function URL whose AuthType is AWS_IAM. */
export interface IamAuthorizer {
  readonly accessKey: string;
  readonly accountId: string;
  readonly callerId: string;
  readonly cognitoIdentity: null;
  readonly principalOrgId: null;
  readonly userArn: string;
  readonly userId: string;
}

export interface SignatureCheck {
  /** The region and service the credential scope must name. */
  readonly region: string;
  readonly service: string;
  readonly identityOf: (accessKeyId: string) => LocalIdentity | undefined;
  /** @default the current time */
  readonly now?: Date;
}

/** As AWS: a signature dated further than this from the service's clock is refused. */
const MAX_SKEW_MS = 15 * 60 * 1000;
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const CONTENT_SHA256 = 'x-amz-content-sha256';
const sha256 = Hash.bind(null, 'sha256');

/**
 * The identity that signed a SigV4 request, or undefined when the request is not signed, its signature is malformed,
 * for another region or service, too far from now, by an unknown key, over a body other than the one received, or
 * simply wrong. The signature is recomputed with the SDK's signer over what was received and compared in constant time.
 */
export async function verifySignature(
  req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>,
  body: Buffer,
  check: SignatureCheck,
): Promise<LocalIdentity | undefined> {
  const parsed = AUTHORIZATION.exec(single(req.headers.authorization) ?? '');
  const amzDate = single(req.headers['x-amz-date']) ?? '';
  const signedAt = dateOf(amzDate);
  if (!parsed || !signedAt) return undefined;
  const [, accessKeyId = '', scopeDate, region, service, signedHeaderList = '', signature = ''] = parsed;
  if (scopeDate !== amzDate.slice(0, 8) || region !== check.region || service !== check.service) return undefined;
  if (Math.abs((check.now ?? new Date()).getTime() - signedAt.getTime()) > MAX_SKEW_MS) return undefined;
  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host')) return undefined;
  // A declared payload hash must be the received body's, or the body could be swapped under a valid signature.
  const declaredHash = single(req.headers[CONTENT_SHA256]);
  if (declaredHash !== undefined && declaredHash !== createHash('sha256').update(body).digest('hex')) return undefined;
  const identity = check.identityOf(accessKeyId);
  if (!identity) return undefined;

  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = single(req.headers[name]);
    if (value === undefined) return undefined;
    headers[name] = value;
  }
  const [path = '/', rawQuery] = (req.url ?? '/').split('?', 2);
  const query = queryOf(rawQuery);
  if (!query) return undefined;
  const signer = new SignatureV4({
    service,
    region,
    credentials: { accessKeyId, secretAccessKey: identity.secretAccessKey },
    sha256,
    applyChecksum: false,
  });
  const expected = await signer.sign(
    new HttpRequest({ method: req.method ?? 'GET', hostname: 'localhost', path, query, headers, body }),
    { signingDate: signedAt, signingRegion: region, signingService: service, signableHeaders: new Set(signedHeaders) },
  );
  const recomputed = /Signature=([0-9a-f]{64})$/.exec(single(expected.headers.authorization) ?? '')?.[1] ?? '';
  return recomputed.length === signature.length && timingSafeEqual(Buffer.from(recomputed), Buffer.from(signature))
    ? identity
    : undefined;
}

/** What Lambda tells the function about the caller of an IAM-authenticated function URL. */
export function iamAuthorizerOf(identity: LocalIdentity): IamAuthorizer {
  const userId = identity.userId ?? identity.accessKeyId;
  return {
    accessKey: identity.accessKeyId,
    accountId: identity.arn.split(':')[4] ?? '',
    callerId: userId,
    cognitoIdentity: null,
    principalOrgId: null,
    userArn: identity.arn,
    userId,
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

function dateOf(amzDate: string): Date | undefined {
  const [, year, month, day, hour, minute, second] = AMZ_DATE.exec(amzDate) ?? [];
  if (!second) return undefined;
  const date = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * The query as the signer wants it: decoded names and values, repeated names as lists (it sorts and re-encodes);
 * undefined when the query is not valid percent-encoding.
 */
function queryOf(raw: string | undefined): Record<string, string | string[]> | undefined {
  const query: Record<string, string | string[]> = {};
  for (const pair of raw ? raw.split('&') : []) {
    if (!pair) continue;
    let name: string;
    let value: string;
    try {
      [name = '', value = ''] = pair.split(/=(.*)/s, 2).map((part) => decodeURIComponent(part));
    } catch {
      return undefined;
    }
    const seen = query[name];
    query[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  return query;
}
