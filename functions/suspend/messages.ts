import { raiseOffers } from '../../shared/decisions/approvals';
import { SCP_NAME } from '../../shared/enforcement/scp';
import { formatUsd, usd } from '../../shared/money';
import { type AlertLink, type AlertMessage, factTable } from '../../shared/notify';
import { TOTAL_PERIOD } from '../../shared/period';

/** A pending decision: its id, when it expires, and the signed link to its page (when approvals are deployed). */
export interface DecisionLinks {
  readonly id: string;
  readonly expiresAt: string;
  readonly url?: string;
}

/** The links of a decision, one per choice (each opens the confirmation page with that choice selected). */
export function decisionLinks(
  decide: DecisionLinks,
  choices: 'suspension' | 'emergency-stop',
  limitUsd?: string,
  /** A prepaid (TOTAL) grant has no period end: its lift lasts until its limit is next set. */
  prepaid = false,
): AlertLink[] {
  const { url } = decide;
  if (!url) return [];
  const link = (label: string, choice: string, amount?: string): AlertLink => ({
    label,
    url: `${url}&d=${choice}${amount ? `&a=${amount}` : ''}`,
    choice,
    ...(amount ? { amountUsd: amount } : {}),
  });
  if (choices === 'emergency-stop') return [link('Resume Bedrock use', 'resume'), link('Keep it stopped', 'keep')];
  const offers = limitUsd === undefined ? [] : raiseOffers(usd(limitUsd));
  return [
    ...offers.map(({ amount, label }) =>
      link(`Raise the limit by ${formatUsd(amount)} (${label})`, 'raise', amount.toFixed(2)),
    ),
    ...(offers.length === 0 ? [link('Raise the limit', 'raise')] : []),
    link(prepaid ? 'Lift until its limit is next set' : 'Lift until the period ends', 'lift'),
    link('Keep suspended', 'keep'),
  ];
}

/** The command that decides from a terminal, beside the links. */
const overrideCommand = (decide: DecisionLinks, choices: 'suspension' | 'emergency-stop') =>
  choices === 'suspension'
    ? `npx budgeteer override ${decide.id} raise|lift|keep --reason "…" [--amount USD]`
    : `npx budgeteer override ${decide.id} resume|keep --reason "…"`;

/** The decision's part of the e-mail: its links, aligned, then the command. */
function decisionLines(decide: DecisionLinks, links: readonly AlertLink[], command: string): string[] {
  const lines: string[] = [];
  if (links.length > 0) {
    const width = Math.max(...links.map((link) => link.label.length + 1)) + 1;
    lines.push(
      'Decide here (each link opens a confirmation page; nothing changes until you confirm there):',
      ...links.map((link) => `  ${`${link.label}:`.padEnd(width)}${link.url}`),
      `The links work once and expire at ${decide.expiresAt}.`,
      '',
    );
  }
  lines.push('From a terminal (as an admin):', `  ${command}`);
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

/** The amounts an enforcement message names, for programs. */
const amounts = (event: EnforcementEvent) => ({
  ...(event.principalArn ? { principalArn: event.principalArn } : {}),
  ...(event.spendUsd ? { spendUsd: event.spendUsd } : {}),
  ...(event.limitUsd ? { limitUsd: event.limitUsd } : {}),
});

/** The links and commands of a decision, in every channel alike. */
function decision(
  decide: DecisionLinks | undefined,
  choices: 'suspension' | 'emergency-stop',
  limitUsd?: string,
  prepaid = false,
): { links: AlertLink[]; linksNote?: string; commands: string[]; lines: string[]; data: Record<string, string> } {
  if (!decide) return { links: [], commands: [], lines: [], data: {} };
  const links = decisionLinks(decide, choices, limitUsd, prepaid);
  const command = overrideCommand(decide, choices);
  return {
    links,
    linksNote: `Each link opens a confirmation page (nothing changes until you confirm there); they work once and expire at ${decide.expiresAt}.`,
    commands: [command],
    lines: [...decisionLines(decide, links, command), ''],
    data: { approvalId: decide.id, decisionExpiresAt: decide.expiresAt },
  };
}

export function suspendedMessage(
  event: EnforcementEvent & { target: string; until: string; decide?: DecisionLinks },
): AlertMessage {
  const summary = `${event.principal} has reached its Bedrock budget for ${event.period} and is suspended.`;
  // A prepaid grant never ends: the suspension lasts until a raise or an admin's decision, a lift until a new limit.
  const prepaid = event.period === TOTAL_PERIOD;
  const facts = [
    { label: 'Principal', value: `${event.principal}${event.principalArn ? ` (${event.principalArn})` : ''}` },
    { label: 'Spend', value: `${event.spendUsd ?? '?'} USD of a ${event.limitUsd ?? '?'} USD limit` },
    { label: 'Deny', value: `inline policy BudgeteerDeny on ${event.target}` },
    {
      label: 'Until',
      value: prepaid
        ? 'the limit is raised or an admin decides (a prepaid budget has no period end)'
        : `${event.until} (the period end), unless an admin decides sooner`,
    },
  ];
  const decide = decision(event.decide, 'suspension', event.limitUsd, prepaid);
  return {
    subject: `Bedrock suspended: ${event.principal} (${event.period})`,
    body: [
      summary,
      '',
      ...factTable(facts),
      '',
      ...decide.lines,
      'Or, as an admin, at any time:',
      `  npx budgeteer budget set ${event.principal} <higher USD>   (raise the limit: lifted at once)`,
      `  npx budgeteer lift ${event.principal} --reason "…"          (allow until ${prepaid ? 'its limit is next set' : 'the period ends'})`,
      ...footer(event),
    ].join('\n'),
    summary,
    facts,
    links: decide.links,
    ...(decide.linksNote ? { linksNote: decide.linksNote } : {}),
    commands: decide.commands,
    data: { ...amounts(event), target: event.target, until: event.until, ...decide.data },
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
    data: { ...amounts(event), reason: event.reason, actor: event.actor },
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
    data: { ...amounts(event), why: event.why },
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
    data: { ...amounts(event), step: event.step, error: event.error },
    attributes: attributes(event, 'enforcement-failed'),
  };
}

/** Where an organization stop attached its service control policy. */
export interface ScpAttachment {
  readonly policyId: string;
  /** The targets (roots, OUs, accounts) this stop attached the policy to. */
  readonly attached?: readonly string[];
}

export function stoppedMessage(
  event: EnforcementEvent & {
    denied: number;
    reason: string;
    decide?: DecisionLinks;
    group?: string;
    /** An organization stop: where its SCP is attached. */
    scp?: ScpAttachment;
  },
): AlertMessage {
  const { group, scp } = event;
  const scpTargets = scp?.attached ?? [];
  const summary = group
    ? `Every member of group ${group} that used Bedrock in ${event.period} is denied (${event.denied} principals), and\n` +
      'any member that spends while the group is stopped is denied when first seen.'
    : scp
      ? `The service control policy ${SCP_NAME} is attached to ${scpTargets.join(', ') || 'no target (see the audit)'}:\n` +
        "every principal of the accounts under it is stopped, except each account's root, the system's roles and break\n" +
        'glass. SCPs never apply to the management account: its principals, and those of accounts outside these\n' +
        `targets, that used Bedrock in ${event.period} are denied one by one (${event.denied} principals), and any that\n` +
        'spends while the stop is on is denied when first seen.'
      : `Every principal that used Bedrock in ${event.period} is denied (${event.denied} principals), and any principal\n` +
        'that spends while the stop is on is denied when first seen.';
  const facts = [
    { label: 'Reason', value: event.reason },
    ...(scp
      ? [{ label: 'SCP', value: `${SCP_NAME} (${scp.policyId}) attached to ${scpTargets.join(', ') || '-'}` }]
      : []),
    ...(event.spendUsd
      ? [
          {
            label: group ? 'Group spend' : 'Account spend',
            value: `${event.spendUsd} USD of a ${event.limitUsd} USD limit`,
          },
        ]
      : []),
  ];
  const decide = decision(event.decide, 'emergency-stop');
  return {
    subject: group
      ? `GROUP STOPPED: Bedrock use by the members of ${group} is stopped (${event.period})`
      : `EMERGENCY STOP: all Bedrock use in the ${scp ? 'organization' : 'account'} is stopped (${event.period})`,
    body: [
      summary,
      ...facts.map((fact) => `  ${fact.label}: ${fact.value}`),
      '',
      ...decide.lines,
      ...(scp
        ? [`Resuming detaches the policy from ${scpTargets.join(', ') || 'nothing'} and removes the denies.`, '']
        : []),
      group
        ? `Or, as an admin, at any time: npx budgeteer group set ${group} --limit <USD>   (a limit above the spend resumes)`
        : 'Or, as an admin, at any time: npx budgeteer resume --reason "…"   (or raise the account budget)',
      ...footer(event),
    ].join('\n'),
    summary,
    facts,
    links: decide.links,
    ...(decide.linksNote ? { linksNote: decide.linksNote } : {}),
    commands: decide.commands,
    data: {
      ...amounts(event),
      denied: event.denied,
      reason: event.reason,
      ...(scp ? { scpPolicyId: scp.policyId, scpTargets: scpTargets.join(' ') } : {}),
      ...decide.data,
    },
    attributes: attributes(event, 'emergency-stop'),
  };
}

export function resumedMessage(
  event: EnforcementEvent & {
    reason: string;
    actor: string;
    lifted: number;
    group?: string;
    /** An organization stop: the targets its SCP was detached from. */
    scpDetached?: readonly string[];
  },
): AlertMessage {
  const what = event.group ? `The stop of group ${event.group}` : 'The emergency stop';
  return {
    subject: event.group
      ? `Bedrock stop of group ${event.group} lifted (${event.period})`
      : `Bedrock emergency stop lifted (${event.period})`,
    body: [
      `${what} was lifted (${event.reason}, by ${event.actor}); ${event.lifted} denies it applied were removed.`,
      ...(event.scpDetached
        ? [`The service control policy ${SCP_NAME} was detached from ${event.scpDetached.join(', ')}.`]
        : []),
      'Principals suspended on their own budget stay suspended.',
      ...footer(event),
    ].join('\n'),
    data: {
      ...amounts(event),
      reason: event.reason,
      actor: event.actor,
      lifted: event.lifted,
      ...(event.scpDetached ? { scpDetachedFrom: event.scpDetached.join(' ') } : {}),
    },
    attributes: attributes(event, 'emergency-stop-resumed'),
  };
}
