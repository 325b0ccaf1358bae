import type { APIGatewayProxyStructuredResultV2, LambdaFunctionURLEvent } from 'aws-lambda';
import { parseAdminRequest } from '../../shared/admin/requests';
import type { AdminService, Caller } from '../../shared/admin/service';

/**
 * The admin function's endpoint: a function URL with AWS_IAM auth, so Lambda has checked the SigV4 signature and
 * names the caller in `requestContext.authorizer.iam`. One POST of a JSON request per action; the answer is JSON
 * `{ message, result? }` or `{ error }` with the status saying what happened.
 */
const MAX_BODY_BYTES = 16 * 1024;

const json = (status: number, body: Record<string, unknown>): APIGatewayProxyStructuredResultV2 => ({
  statusCode: status,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});

/** The caller as the function URL authenticated it; undefined when the request was not signed (never with AWS_IAM). */
export function callerOf(event: LambdaFunctionURLEvent): Caller | undefined {
  const iam = (event.requestContext as { authorizer?: { iam?: { userArn?: unknown } } }).authorizer?.iam;
  if (typeof iam?.userArn !== 'string' || iam.userArn === '') return undefined;
  return {
    arn: iam.userArn,
    sourceIp: event.requestContext.http.sourceIp,
    userAgent: event.requestContext.http.userAgent ?? '',
  };
}

export async function answer(
  event: LambdaFunctionURLEvent,
  service: Pick<AdminService, 'handle'>,
): Promise<APIGatewayProxyStructuredResultV2> {
  const caller = callerOf(event);
  // Defence in depth: the URL's auth type is AWS_IAM, so an unsigned request never gets here.
  if (!caller) return json(403, { error: 'sign the request with your AWS credentials (SigV4)' });
  if (event.requestContext.http.method !== 'POST') return json(405, { error: 'POST a JSON request' });
  const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
  if (Buffer.byteLength(raw) > MAX_BODY_BYTES) return json(413, { error: 'the request is too large' });
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return json(400, { error: 'the body is not JSON' });
  }
  const parsed = parseAdminRequest(body);
  if ('error' in parsed) return json(400, { error: parsed.error });
  const outcome = await service.handle(caller, parsed.request);
  return outcome.status === 200
    ? json(200, { message: outcome.message, ...(outcome.result ? { result: outcome.result } : {}) })
    : json(outcome.status, { error: outcome.message });
}
