import type { AdminRequest } from '../shared/admin/requests';
import { signedFetch } from '../shared/sigv4-fetch';
import { CommandError } from './args';
import { output, type Target } from './target';

/** What the admin function answered: its message and, for some actions, a result. */
export interface AdminReply {
  readonly message: string;
  readonly result?: Record<string, unknown>;
}

/** The region a function URL is served from (`<id>.lambda-url.<region>.on.aws`), else the target's or the SDK's. */
function regionOf(url: string, target: Target): string {
  const host = new URL(url).hostname;
  const match = /\.lambda-url\.([a-z0-9-]+)\.on\.aws$/.exec(host);
  return (
    match?.[1] ?? target.clientConfig.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1'
  );
}

/**
 * Sends an admin request to the stack's admin function, signed (SigV4) with the caller's AWS credentials: the
 * environment's, else (on the local stack) its admin user's. Who acts is whoever signed; nothing else names them.
 * A refusal (not an admin, acting on oneself, a bad request) is a CommandError with the function's reason.
 */
export async function callAdmin(
  target: Target,
  request: AdminRequest,
  /** Sign with these (the local run's admin); else the environment's, else the local stack's admin, else the SDK's. */
  signer?: { readonly accessKeyId: string; readonly secretAccessKey: string },
): Promise<AdminReply> {
  const url = output(target, 'AdminUrl');
  const fromEnvironment = process.env.AWS_ACCESS_KEY_ID !== undefined && process.env.AWS_ACCESS_KEY_ID !== '';
  const credentials = signer ?? (!fromEnvironment && target.admin ? target.admin : undefined);
  const response = await signedFetch(url, {
    method: 'POST',
    body: JSON.stringify(request),
    region: regionOf(url, target),
    ...(credentials ? { credentials } : {}),
  });
  let body: { message?: string; result?: Record<string, unknown>; error?: string; Message?: string };
  try {
    body = JSON.parse(response.text);
  } catch {
    body = { error: response.text };
  }
  if (response.status === 200) {
    return { message: body.message ?? 'done', ...(body.result ? { result: body.result } : {}) };
  }
  const why = body.error ?? body.Message ?? `HTTP ${response.status}`;
  throw new CommandError(
    response.status === 403 && !body.error
      ? `the admin function refused the request (${why}): sign in with credentials allowed to call it (stack output AdminPolicyArn)`
      : why,
  );
}
