import * as z from 'zod';
import { limitUsdText } from '../money';
import { PERIOD_KINDS } from '../period';
import { priceEntriesSchema } from '../pricing/admin';
import { fetchedPricesSchema } from '../pricing/price-list';

/**
 * What an admin may ask of the admin function: one JSON object per request, the same names the CLI uses. The
 * caller is never part of it: who asks is the request's signature (`requestContext.authorizer.iam`).
 */
const reason = z.string().trim().min(1, 'a reason is required').max(500);
const principal = z.string().trim().min(1, 'a principal is required').max(1024);

export const adminRequest = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('budget set'),
    principal,
    limitUsd: limitUsdText,
    period: z.enum(PERIOD_KINDS).optional(),
    /** A prepaid (`total`) limit's first day: YYYY-MM-DD or an ISO time. */
    startsAt: z.string().max(40).optional(),
    /** The burn-rate guard: the most a rolling hour may cost, and what spend above it does (default alert). */
    maxUsdPerHour: limitUsdText.optional(),
    onRate: z.enum(['alert', 'suspend']).optional(),
    onAnomaly: z.enum(['alert', 'suspend']).optional(),
  }),
  /** A group: its limit and who is in it (members by id or pattern, an IAM tag), checked by shared/groups. */
  z.strictObject({
    action: z.literal('group set'),
    name: z.string().max(64),
    limitUsd: limitUsdText,
    period: z.enum(PERIOD_KINDS).optional(),
    startsAt: z.string().max(40).optional(),
    members: z.array(z.string().max(300)).max(200).optional(),
    tag: z.string().max(600).optional(),
    owners: z.array(z.string().trim().min(1).max(300)).max(20).optional(),
  }),
  z.strictObject({ action: z.literal('group delete'), name: z.string().max(64) }),
  z.strictObject({ action: z.literal('lift'), principal, reason, period: z.string().max(16).optional() }),
  z.strictObject({ action: z.literal('emergency-stop'), reason, period: z.string().max(16).optional() }),
  z.strictObject({ action: z.literal('resume'), reason, period: z.string().max(16).optional() }),
  z.strictObject({
    action: z.literal('override'),
    id: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'not a decision id'),
    decision: z.enum(['raise', 'lift', 'keep', 'resume']),
    reason,
    amountUsd: limitUsdText.optional(),
  }),
  z.strictObject({ action: z.literal('prices set'), prices: priceEntriesSchema }),
  /** Runs the Price List fetch now; with `fetched`, records those prices instead (air-gapped accounts, tests). */
  z.strictObject({ action: z.literal('prices refresh'), fetched: fetchedPricesSchema.optional() }),
  z.strictObject({
    action: z.literal('prices remove'),
    model: z.string().trim().min(1).max(256),
    effectiveFrom: z.iso.datetime({ offset: true }).optional(),
  }),
]);
export type AdminRequest = z.infer<typeof adminRequest>;

/** The request a body holds, or why it is not one. */
export function parseAdminRequest(body: unknown): { request: AdminRequest } | { error: string } {
  const parsed = adminRequest.safeParse(body);
  if (parsed.success) return { request: parsed.data };
  const issue = parsed.error.issues[0];
  return { error: `${issue?.path.length ? `${issue.path.join('.')}: ` : ''}${issue?.message ?? 'not a request'}` };
}
