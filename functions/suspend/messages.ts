import { raiseOffers } from '../../shared/decisions/approvals';
import { formatUsd, usd } from '../../shared/money';
import type { AlertMessage } from '../../shared/notify';

/** A pending decision: its id, when it expires, and the signed link to its page (when approvals are deployed). */
export interface DecisionLinks {
  readonly id: string;
  readonly expiresAt: string;
  readonly url?: string;
}

/** The links of a decision, one per choice (each opens the confirmation page with that choice selected). */
function decisionLines(decide: DecisionLinks, choices: 'suspension' | 'emergency-stop', limitUsd?: string): string[] {
  const lines: string[] = [];
  if (decide.url) {
    const link = (query: string) => `${decide.url}&${query}`;
    lines.push('Decide here (each link opens a confirmation page; nothing changes until you confirm there):');
    if (choices === 'suspension') {
      const offers = limitUsd === undefined ? [] : raiseOffers(usd(limitUsd));
      for (const { amount, label } of offers) {
        lines.push(`  Raise the limit by ${formatUsd(amount)} (${label}): ${link(`d=raise&a=${amount.toFixed(2)}`)}`);
      }
      if (offers.length === 0) lines.push(`  Raise the limit:          ${link('d=raise')}`);
      lines.push(`  Lift until the period ends: ${link('d=lift')}`, `  Keep suspended:           ${link('d=keep')}`);
    } else {
      lines.push(`  Resume Bedrock use:       ${link('d=resume')}`, `  Keep it stopped:          ${link('d=keep')}`);
    }
    lines.push(`The links work once and expire at ${decide.expiresAt}.`, '');
  }
  const options = choices === 'suspension' ? 'raise|lift|keep' : 'resume|keep';
  lines.push(
    'From a terminal (as an admin):',
    `  npx budgeteer override ${decide.id} ${options} --reason "…"${choices === 'suspension' ? ' [--amount USD]' : ''}`,
  );
  return lines;
}

export interface EnforcementEvent {
  readonly decisionId: string;
  readonly principal: string;
  readonly principalArn?: string;
  readonly period: string;
  readonly spendUsd?: string;
  readonly limitUsd?: string;
}

const attributes = (event: EnforcementEvent, kind: string): Record<string, string> => ({
  kind,
  severity: 'critical',
  principal: event.principal,
  period: event.period,
  decisionId: event.decisionId,
});

const footer = (event: EnforcementEvent) => ['', `Decision id: ${event.decisionId}`];

export function suspendedMessage(
  event: EnforcementEvent & { target: string; until: string; decide?: DecisionLinks },
): AlertMessage {
  return {
    subject: `Bedrock suspended: ${event.principal} (${event.period})`,
    body: [
      `${event.principal} has reached its Bedrock budget for ${event.period} and is suspended.`,
      '',
      `  Principal: ${event.principal}${event.principalArn ? ` (${event.principalArn})` : ''}`,
      `  Spend:     ${event.spendUsd ?? '?'} USD of a ${event.limitUsd ?? '?'} USD limit`,
      `  Deny:      inline policy BudgeteerDeny on ${event.target}`,
      `  Until:     ${event.until} (the period end), unless an admin decides sooner`,
      '',
      ...(event.decide ? [...decisionLines(event.decide, 'suspension', event.limitUsd), ''] : []),
      'Or, as an admin, at any time:',
      `  npx budgeteer budget set ${event.principal} <higher USD>   (raise the limit: lifted at once)`,
      `  npx budgeteer lift ${event.principal} --reason "…"          (allow until the period ends)`,
      ...footer(event),
    ].join('\n'),
    attributes: attributes(event, 'suspended'),
  };
}

export function liftedMessage(event: EnforcementEvent & { reason: string; actor: string }): AlertMessage {
  return {
    subject: `Bedrock suspension lifted: ${event.principal} (${event.period})`,
    body: [
      `The suspension of ${event.principal} for ${event.period} was lifted (${event.reason}, by ${event.actor}).`,
      'The BudgeteerDeny policy was removed; its access is what it was before.',
      ...footer(event),
    ].join('\n'),
    attributes: attributes(event, 'lifted'),
  };
}

export function skippedMessage(event: EnforcementEvent & { why: string }): AlertMessage {
  return {
    subject: `Bedrock budget exhausted, not suspended: ${event.principal} (${event.period})`,
    body: [
      `${event.principal} would be suspended, but ${event.why}: it is never denied. Nothing was changed in IAM.`,
      ...footer(event),
    ].join('\n'),
    attributes: attributes(event, 'suspension-skipped'),
  };
}

export function failedMessage(event: EnforcementEvent & { step: string; error: string }): AlertMessage {
  return {
    subject: `Bedrock enforcement FAILED: ${event.principal} (${event.period})`,
    body: [
      `The ${event.step} step for ${event.principal} failed after retries and was not done:`,
      `  ${event.error}`,
      '',
      'Check the workflow execution and IAM; the principal may still be able to spend.',
      ...footer(event),
    ].join('\n'),
    attributes: attributes(event, 'enforcement-failed'),
  };
}

export function stoppedMessage(
  event: EnforcementEvent & { denied: number; reason: string; decide?: DecisionLinks },
): AlertMessage {
  return {
    subject: `EMERGENCY STOP: all Bedrock use in the account is stopped (${event.period})`,
    body: [
      `Every principal that used Bedrock in ${event.period} is denied (${event.denied} principals), and any principal`,
      'that spends while the stop is on is denied when first seen.',
      `  Reason: ${event.reason}`,
      ...(event.spendUsd ? [`  Account spend: ${event.spendUsd} USD of a ${event.limitUsd} USD limit`] : []),
      '',
      ...(event.decide ? [...decisionLines(event.decide, 'emergency-stop'), ''] : []),
      'Or, as an admin, at any time: npx budgeteer resume --reason "…"   (or raise the account budget)',
      ...footer(event),
    ].join('\n'),
    attributes: attributes(event, 'emergency-stop'),
  };
}

export function resumedMessage(
  event: EnforcementEvent & { reason: string; actor: string; lifted: number },
): AlertMessage {
  return {
    subject: `Bedrock emergency stop lifted (${event.period})`,
    body: [
      `The emergency stop was lifted (${event.reason}, by ${event.actor}); ${event.lifted} denies it applied were removed.`,
      'Principals suspended on their own budget stay suspended.',
      ...footer(event),
    ].join('\n'),
    attributes: attributes(event, 'emergency-stop-resumed'),
  };
}
