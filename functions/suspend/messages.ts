import type { AlertMessage } from '../../shared/notify';

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

export function suspendedMessage(event: EnforcementEvent & { target: string; until: string }): AlertMessage {
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
      'To lift it:',
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

export function stoppedMessage(event: EnforcementEvent & { denied: number; reason: string }): AlertMessage {
  return {
    subject: `EMERGENCY STOP: all Bedrock use in the account is stopped (${event.period})`,
    body: [
      `Every principal that used Bedrock in ${event.period} is denied (${event.denied} principals), and any principal`,
      'that spends while the stop is on is denied when first seen.',
      `  Reason: ${event.reason}`,
      event.spendUsd ? `  Account spend: ${event.spendUsd} USD of a ${event.limitUsd} USD limit` : '',
      '',
      'To resume: npx budgeteer resume --reason "…"   (or raise the account budget)',
      ...footer(event),
    ]
      .filter((line) => line !== '')
      .join('\n'),
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
