import { ATTRIBUTES, reconcileKey } from '../../shared/budgets/items';
import type { Effects, Outbox } from '../../shared/decisions/outbox';
import { splitPrincipalId } from '../../shared/identity';
import { toDecimalString, type Usd, usd, ZERO } from '../../shared/money';
import type { AlertMessage } from '../../shared/notify';
import { type Bill, drifted, type ReconciledPrincipal, type Reconciliation } from '../../shared/reconcile/reconcile';

/**
 * What the budget account's own bill can be compared with. Cost Explorer in an account other than the payer sees that
 * account's costs alone, so in an organization's deployment only its own (unqualified) principals are compared: a
 * member's metered spend against a bill that cannot hold it would be drift every day. Members are reconciled from the
 * payer's CUR with `budgeteer reconcile`.
 */
export function ownAccountOnly(reconciliation: Reconciliation, organization: boolean): Reconciliation {
  if (!organization) return reconciliation;
  const own = reconciliation.principals.filter((p) => splitPrincipalId(p.principal).account === undefined);
  return { ...reconciliation, principals: own };
}

export const RECONCILE_ACTOR = 'system:reconcile';
/** The subject of a day's `reconcile.checked` entry: it is about no one principal. */
export const RECONCILE_SUBJECT = 'SYSTEM';

export const driftDecisionId = (day: string, principal: string) => `reconcile|${day}|${principal}`;
export const checkedDecisionId = (day: string) => `reconcile|${day}`;

const totalOf = (amounts: Iterable<Usd>) => [...amounts].reduce((a, b) => a.plus(b), ZERO);

/**
 * Why the day's bill cannot be compared with what was metered, or undefined when it can: a bill with no Bedrock cost
 * while calls were metered is one Cost Explorer has not got yet (it lags a day or two), and Bedrock cost that names
 * no principal at all means the account has no IAM principal data. Either would read as every principal drifting.
 */
export function unavailableReason(reconciliation: Reconciliation, bill: Bill): string | undefined {
  const billed = totalOf(bill.map((line) => line.usd));
  const metered = totalOf(reconciliation.principals.map((p) => usd(p.meteredUsd)));
  if (billed.eq(0) && metered.gt(0)) {
    return `no Bedrock cost is billed for ${reconciliation.date} yet, while ${metered.toFixed()} USD was metered`;
  }
  if (billed.gt(0) && bill.every((line) => line.arn === '')) {
    return (
      `the bill of ${reconciliation.date} names no IAM principal for its Bedrock cost: IAM principal cost ` +
      'allocation is not enabled, or the configured principal group is not the one Cost Explorer fills'
    );
  }
  return undefined;
}

const modelDetails = (principal: ReconciledPrincipal) =>
  principal.models.map((m) => ({
    model: m.model,
    billedAs: m.billedAs,
    meteredUsd: m.meteredUsd,
    billedUsd: m.billedUsd,
    differenceUsd: m.differenceUsd,
  }));

function driftAlert(day: string, p: ReconciledPrincipal, tolerance: Usd): AlertMessage {
  const more = usd(p.differenceUsd).gt(0);
  const models = p.models.map(
    (m) =>
      `- ${m.model ?? `(no model: billed as ${m.billedAs ?? 'nothing named'})`}: metered ${m.meteredUsd ?? '-'}, ` +
      `billed ${m.billedUsd ?? '-'}, difference ${m.differenceUsd ?? '-'}`,
  );
  const facts = [
    { label: 'Day', value: day },
    { label: 'Metered', value: `${p.meteredUsd} USD` },
    { label: 'Billed', value: `${p.billedUsd} USD` },
    { label: 'Difference', value: `${p.differenceUsd} USD (tolerance ${tolerance.toFixed()})` },
  ];
  const summary =
    `AWS billed ${p.principal} ${more ? 'more' : 'less'} for Bedrock on ${day} than Budgeteer metered: ` +
    `${p.billedUsd} against ${p.meteredUsd} USD.`;
  return {
    subject: `Bedrock bill differs from metered spend: ${p.principal} on ${day}`,
    summary,
    body:
      `${summary}\n\n${facts.map((f) => `${f.label}: ${f.value}`).join('\n')}\n\nPer model:\n${models.join('\n')}` +
      (p.modelsAttributed ? '' : '\n(The bill names no model for some of this cost: those models are not met.)') +
      `\n\nA price that is wrong, a model charged at the fallback, or calls that never reached Budgeteer show here. ` +
      `See it with: budgeteer reconcile --date ${day} --from <bill>.`,
    facts,
    commands: [`budgeteer reconcile --date ${day} --from <CUR CSV or GetCostAndUsage JSON>`],
    attributes: {
      kind: 'reconcile-drift',
      severity: 'warning',
      principal: p.principal,
      day,
      ...(p.principalArn ? { principalArn: p.principalArn } : {}),
    },
    data: {
      day,
      meteredUsd: p.meteredUsd,
      billedUsd: p.billedUsd,
      differenceUsd: p.differenceUsd,
      toleranceUsd: tolerance.toFixed(),
    },
  };
}

/** A principal's drift: one alert on the alerts topic and one `reconcile.drift` entry, under one decision id. */
export function driftEffects(day: string, p: ReconciledPrincipal, tolerance: Usd, now: Date): Effects {
  const decisionId = driftDecisionId(day, p.principal);
  return {
    decisionId,
    messages: [{ topic: 'alerts', message: driftAlert(day, p, tolerance) }],
    audit: {
      subject: p.principal,
      actor: RECONCILE_ACTOR,
      action: 'reconcile.drift',
      period: day,
      at: now.toISOString(),
      details: {
        decisionId,
        day,
        principal: p.principal,
        principalArn: p.principalArn,
        meteredUsd: p.meteredUsd,
        billedUsd: p.billedUsd,
        differenceUsd: p.differenceUsd,
        toleranceUsd: tolerance.toFixed(),
        modelsAttributed: p.modelsAttributed,
        models: modelDetails(p),
      },
    },
  };
}

/** A day without drift: one `reconcile.checked` entry with the day's totals, no message. */
export function checkedEffects(reconciliation: Reconciliation, tolerance: Usd, now: Date): Effects {
  const decisionId = checkedDecisionId(reconciliation.date);
  const metered = totalOf(reconciliation.principals.map((p) => usd(p.meteredUsd)));
  const billed = totalOf(reconciliation.principals.map((p) => usd(p.billedUsd)));
  return {
    decisionId,
    audit: {
      subject: RECONCILE_SUBJECT,
      actor: RECONCILE_ACTOR,
      action: 'reconcile.checked',
      period: reconciliation.date,
      at: now.toISOString(),
      details: {
        decisionId,
        day: reconciliation.date,
        principals: reconciliation.principals.length,
        meteredUsd: toDecimalString(metered),
        billedUsd: toDecimalString(billed),
        differenceUsd: toDecimalString(billed.minus(metered)),
        toleranceUsd: tolerance.toFixed(),
      },
    },
  };
}

export interface SettledDay {
  readonly day: string;
  /** The principals above the tolerance. */
  readonly drifted: readonly string[];
  /** Decisions this run claimed (0 when an earlier run had: it only completed what that one left owed). */
  readonly claimed: number;
}

/**
 * Each drift (or the day's check, when nothing drifted) is claimed once, through the outbox like every decision:
 * one conditional write on its RECONCILE#<day> item records the alert and audit entry owed, then they are
 * delivered. A second run of the day claims nothing and completes what a crash left.
 */
export async function settleDay(
  outbox: Pick<Outbox, 'claim' | 'deliver' | 'deliverPending'>,
  reconciliation: Reconciliation,
  tolerance: Usd,
  now: Date,
): Promise<SettledDay> {
  const day = reconciliation.date;
  const drifts = drifted(reconciliation, tolerance);
  const decisions =
    drifts.length > 0
      ? drifts.map((p) => ({ key: reconcileKey(day, p.principal), effects: driftEffects(day, p, tolerance, now) }))
      : [{ key: reconcileKey(day), effects: checkedEffects(reconciliation, tolerance, now) }];
  let claimed = 0;
  for (const { key, effects } of decisions) {
    const won = await outbox.claim(
      key,
      {
        UpdateExpression: 'SET #at = :at',
        ConditionExpression: 'attribute_not_exists(#principal)',
        ExpressionAttributeNames: { '#at': ATTRIBUTES.reconciledAt, '#principal': ATTRIBUTES.principal },
        ExpressionAttributeValues: { ':at': now.toISOString() },
      },
      effects,
    );
    if (won) {
      claimed++;
      await outbox.deliver(key, effects);
    } else {
      await outbox.deliverPending(key);
    }
  }
  return { day, drifted: drifts.map((p) => p.principal), claimed };
}
