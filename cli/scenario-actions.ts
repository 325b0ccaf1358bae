import * as z from 'zod';
import { limitUsdText } from '../shared/money';

/**
 * A scenario line whose top-level key is `budgeteer` is an admin action, applied at its place in the replay once
 * everything before it has settled: `{"budgeteer": "budget set", "principal": "alice", "usd": "100"}`,
 * `{"budgeteer": "lift", "principal": "alice", "reason": "…"}`, `{"budgeteer": "emergency-stop", "reason": "…"}`,
 * `{"budgeteer": "resume", "reason": "…"}`, `{"budgeteer": "override", "principal": "alice", "decision": "raise",
 * "amountUsd": "50"}`. An optional `at` (ISO time) places it in the timeline.
 */
const reason = z.string().trim().min(1, 'reason is required').max(500);
const principal = z.string().trim().min(1, 'principal is required').max(1024);
export const scenarioAction = z.discriminatedUnion('budgeteer', [
  z.strictObject({
    budgeteer: z.literal('budget set'),
    principal,
    usd: limitUsdText,
    at: z.iso.datetime({ offset: true }).optional(),
  }),
  z.strictObject({ budgeteer: z.literal('lift'), principal, reason, at: z.iso.datetime({ offset: true }).optional() }),
  z.strictObject({ budgeteer: z.literal('emergency-stop'), reason, at: z.iso.datetime({ offset: true }).optional() }),
  z.strictObject({ budgeteer: z.literal('resume'), reason, at: z.iso.datetime({ offset: true }).optional() }),
  // Decides the pending override of a suspended principal (or, without a principal, of the emergency stop), as an
  // admin following the link in the message would.
  z.strictObject({
    budgeteer: z.literal('override'),
    principal: principal.optional(),
    decision: z.enum(['raise', 'lift', 'keep', 'resume']),
    amountUsd: limitUsdText.optional(),
    reason: reason.optional(),
    at: z.iso.datetime({ offset: true }).optional(),
  }),
]);
export type ScenarioAction = z.infer<typeof scenarioAction>;

export const isScenarioAction = (body: unknown): boolean =>
  typeof body === 'object' && body !== null && !Array.isArray(body) && 'budgeteer' in body;

/** The action a line holds, or why it is not one (a malformed action is rejected like a malformed record). */
export function parseScenarioAction(body: unknown): { action: ScenarioAction } | { error: string } {
  const parsed = scenarioAction.safeParse(body);
  if (parsed.success) return { action: parsed.data };
  const issue = parsed.error.issues[0];
  return {
    error: `invalid scenario action: ${issue?.path.length ? `${issue.path.join('.')}: ` : ''}${issue?.message ?? 'not an action'} (actions: budget set, lift, emergency-stop, resume, override)`,
  };
}

/** One line of the timeline for an applied action. */
export function describeAction(action: ScenarioAction, principalId?: string): string {
  switch (action.budgeteer) {
    case 'budget set':
      return `admin: budget set ${principalId ?? action.principal} $${action.usd}`;
    case 'lift':
      return `admin: lift ${principalId ?? action.principal} (${action.reason})`;
    case 'emergency-stop':
      return `admin: emergency-stop (${action.reason})`;
    case 'resume':
      return `admin: resume (${action.reason})`;
    case 'override':
      return `admin: override ${principalId ?? action.principal ?? 'emergency stop'} ${action.decision}${action.amountUsd ? ` +$${action.amountUsd}` : ''} (by link)`;
  }
}
