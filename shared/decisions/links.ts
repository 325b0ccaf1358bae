import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Approval links: `<base>/d/<id>?e=<expiry, epoch seconds>&s=<signature>`. The link is the credential, so it
 * carries a short random id, never the task token, and an HMAC-SHA256 over the id and the expiry: an altered id,
 * expiry or signature fails the check. The form on the page carries a second HMAC bound to the id (domain
 * separated from the link's), so a POST needs a page that was served for that link.
 */
export interface SignedLink {
  readonly id: string;
  /** Epoch seconds after which the link is refused. */
  readonly expires: number;
  readonly signature: string;
}

export type LinkCheck = { readonly ok: true } | { readonly ok: false; readonly reason: 'forged' | 'expired' };

const ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
const LINK_PATH = /^\/d\/([A-Za-z0-9_-]{8,64})\/?$/;

const mac = (secret: string, purpose: string, text: string) =>
  createHmac('sha256', secret).update(`${purpose}\n${text}`).digest('base64url');

/** Compares in constant time; strings of another length are simply unequal. */
function same(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function signLink(secret: string, id: string, expires: number): SignedLink {
  if (!ID_PATTERN.test(id)) throw new RangeError(`not a decision id: ${id}`);
  return { id, expires, signature: mac(secret, 'link', `${id}.${expires}`) };
}

export function linkUrl(base: string, link: SignedLink): string {
  return `${base.replace(/\/+$/, '')}/d/${link.id}?e=${link.expires}&s=${link.signature}`;
}

/** The signed link for a decision, as it goes into a message. */
export function approvalUrl(base: string, secret: string, id: string, expiresAt: string): string {
  return linkUrl(base, signLink(secret, id, Math.floor(Date.parse(expiresAt) / 1000)));
}

/** The decision id a request path names, or undefined. */
export function idOfPath(path: string): string | undefined {
  return LINK_PATH.exec(path)?.[1];
}

/** Checks a link's signature first (a forged link learns nothing, not even whether it expired), then its expiry. */
export function checkLink(
  secret: string,
  link: { id: string; expires?: string; signature?: string },
  now: Date,
): LinkCheck {
  const expires = Number(link.expires);
  // Only the expiry as signed (no leading zero): a link altered in any character is refused, even to the same value.
  if (!link.signature || !link.expires || !/^[1-9]\d{0,11}$/.test(link.expires)) return { ok: false, reason: 'forged' };
  if (!same(mac(secret, 'link', `${link.id}.${expires}`), link.signature)) return { ok: false, reason: 'forged' };
  if (now.getTime() >= expires * 1000) return { ok: false, reason: 'expired' };
  return { ok: true };
}

/** The anti-forgery field of the page's form, bound to the decision id. */
export const formToken = (secret: string, id: string) => mac(secret, 'form', id);

export const checkFormToken = (secret: string, id: string, token: string | undefined) =>
  token !== undefined && same(formToken(secret, id), token);
