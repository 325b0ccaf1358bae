import type { APIGatewayProxyStructuredResultV2, LambdaFunctionURLEvent } from 'aws-lambda';
import { type Approvals, fitsKind, OverrideError } from '../../shared/decisions/approvals';
import { checkFormToken, checkLink, formToken, idOfPath } from '../../shared/decisions/links';
import { DecisionError } from '../../shared/decisions/pending';
import {
  alreadyDecidedPage,
  CONTENT_SECURITY_POLICY,
  confirmationPage,
  decidedPage,
  type FormState,
  type Page,
  refusalPage,
} from './page';

/**
 * The approval link's endpoint (a function URL, auth NONE: the signed link is the credential). A GET only shows
 * the confirmation page, so a mail scanner that opens every link decides nothing; only the page's POST, carrying
 * the anti-forgery field bound to the link, decides. Every refusal is a page and changes nothing.
 */
export interface ApproveDeps {
  readonly approvals: Pick<Approvals, 'view' | 'decide'>;
  readonly secret: () => Promise<string>;
  readonly now?: () => Date;
}

/** A form body larger than this is no answer to our page. */
const MAX_BODY_BYTES = 16 * 1024;

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

const respond = (page: Page, extra: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 => ({
  statusCode: page.status,
  headers: { ...HEADERS, ...extra },
  body: page.html,
});

const REFUSALS = {
  forged: () =>
    refusalPage(
      403,
      'This link is not valid',
      'The link was altered or is not one we sent. Use the link from the message as it is.',
    ),
  unknown: () => refusalPage(404, 'No such decision', 'There is no pending decision for this link.'),
  expired: () =>
    refusalPage(
      410,
      'This link has expired',
      'The link is past its expiry. An admin can still decide from the CLI: npx budgeteer overrides.',
    ),
  method: () =>
    refusalPage(405, 'Method not allowed', 'Open the link in a browser, then confirm with the button on the page.'),
  csrf: () =>
    refusalPage(
      403,
      'The form could not be verified',
      'Submit the decision from the page this link opens, not from elsewhere.',
    ),
};

function formOf(event: LambdaFunctionURLEvent): URLSearchParams | undefined {
  const raw = event.body ?? '';
  const body = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(body) > MAX_BODY_BYTES) return undefined;
  const type = (event.headers?.['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  return new URLSearchParams(body);
}

export async function answer(
  event: LambdaFunctionURLEvent,
  deps: ApproveDeps,
): Promise<APIGatewayProxyStructuredResultV2> {
  const now = deps.now?.() ?? new Date();
  const method = event.requestContext.http.method.toUpperCase();
  if (method !== 'GET' && method !== 'POST') return respond(REFUSALS.method(), { allow: 'GET, POST' });
  const id = idOfPath(event.rawPath);
  if (!id) return respond(REFUSALS.unknown());
  const query = event.queryStringParameters ?? {};
  const secret = await deps.secret();
  const link = checkLink(secret, { id, expires: query.e, signature: query.s }, now);
  if (!link.ok && link.reason === 'forged') return respond(REFUSALS.forged());
  const view = await deps.approvals.view(id);
  if (!view) return respond(REFUSALS.unknown());
  if (view.wait.decided) return respond(alreadyDecidedPage(view.wait));
  if (!link.ok || Date.parse(view.wait.expiresAt) <= now.getTime()) return respond(REFUSALS.expired());
  const action = `/d/${id}?e=${encodeURIComponent(query.e ?? '')}&s=${encodeURIComponent(query.s ?? '')}`;
  const token = formToken(secret, id);

  if (method === 'GET') {
    return respond(confirmationPage(view, action, token, { decision: query.d, amountUsd: query.a }));
  }
  const form = formOf(event);
  if (!form || !checkFormToken(secret, id, form.get('csrf') ?? undefined)) return respond(REFUSALS.csrf());
  const state: FormState = {
    decision: form.get('decision') ?? '',
    amountUsd: form.get('amountUsd') ?? '',
    reason: form.get('reason') ?? '',
    approver: form.get('approver') ?? '',
  };
  const decision = state.decision ?? '';
  if (!fitsKind(view.wait.kind, decision)) {
    return respond(
      refusalPage(400, 'Not a decision for this link', `“${decision}” is not one of the choices this link offers.`),
    );
  }
  try {
    const decided = await deps.approvals.decide(id, {
      decision,
      reason: state.reason ?? '',
      approver: state.approver ?? '',
      ...(decision === 'raise' ? { amountUsd: state.amountUsd ?? '' } : {}),
      via: 'link',
      sourceIp: event.requestContext.http.sourceIp,
      userAgent: event.requestContext.http.userAgent,
    });
    return respond(decidedPage(decided));
  } catch (error) {
    if (error instanceof OverrideError) {
      return respond(confirmationPage(view, action, token, { ...state, error: error.message }));
    }
    if (error instanceof DecisionError) return respond(await refusalFor(error, id, deps));
    throw error;
  }
}

/** A decision refused by the store (a race lost, an expiry crossed): the page for what happened. */
async function refusalFor(error: DecisionError, id: string, deps: ApproveDeps): Promise<Page> {
  switch (error.code) {
    case 'decided': {
      const view = await deps.approvals.view(id);
      return view ? alreadyDecidedPage(view.wait) : REFUSALS.unknown();
    }
    case 'expired':
      return REFUSALS.expired();
    case 'unknown':
      return REFUSALS.unknown();
    case 'not-allowed':
      return refusalPage(400, 'Not a decision for this link', error.message);
  }
}
