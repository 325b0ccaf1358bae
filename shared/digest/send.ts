import { ATTRIBUTES } from '../budgets/items';
import type { Outbox } from '../decisions/outbox';
import { type DigestData, type DigestOptions, digestEffects, digestKey } from './digest';

export interface DigestOutcome {
  readonly day: string;
  /** This run claimed the day and delivered its digest; false: an earlier run had (what it left owed is completed). */
  readonly sent: boolean;
}

/**
 * Sends a day's digest exactly once, through the outbox like every decision: one conditional write on the day's
 * digest item (it must not exist yet) claims it and records the messages and audit entry owed; delivery completes
 * them and clears them. A second run of the same day claims nothing and only completes what a crash left owed (the
 * sweep would too). `data` is read before the claim, so what is claimed is what is delivered, whoever delivers it.
 */
export async function sendDigest(
  outbox: Outbox,
  gather: () => Promise<DigestData>,
  day: string,
  options: DigestOptions = {},
): Promise<DigestOutcome> {
  const key = digestKey(day);
  const data = await gather();
  const effects = digestEffects(data, options);
  const claimed = await outbox.claim(
    key,
    {
      UpdateExpression: 'SET #sentAt = :at',
      ConditionExpression: 'attribute_not_exists(#principal)',
      ExpressionAttributeNames: { '#sentAt': ATTRIBUTES.sentAt, '#principal': ATTRIBUTES.principal },
      ExpressionAttributeValues: { ':at': data.now.toISOString() },
    },
    effects,
  );
  if (!claimed) {
    await outbox.deliverPending(key);
    return { day, sent: false };
  }
  await outbox.deliver(key, effects);
  return { day, sent: true };
}
