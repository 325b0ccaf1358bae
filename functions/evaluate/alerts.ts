import type Big from 'big.js';
import { groupNameOf, isGroupPrincipal } from '../../shared/groups/groups';
import { formatUsd, type Usd } from '../../shared/money';
import { type AlertMessage, factTable } from '../../shared/notify';

export type { AlertMessage } from '../../shared/notify';

export type Severity = 'warning' | 'critical';

export interface ThresholdAlert {
  /** Unique per principal, period and threshold: subscribers can drop a repeat by it. */
  readonly alertId: string;
  readonly principal: string;
  readonly principalArn?: string;
  readonly period: string;
  /** Absent for a prepaid (`total`) budget: it never ends. */
  readonly periodEnd?: Date;
  readonly threshold: number;
  readonly skipped: readonly number[];
  readonly percent: Big;
  readonly spend: Usd;
  /** Of the spend, what CloudTrail confirmed; the rest is only logged. */
  readonly confirmed: Usd;
  readonly limit: Usd;
  readonly topModels: readonly { model: string; spend: Usd }[];
}

const describePrincipal = (principal: string) => {
  if (principal === 'ACCOUNT') return 'the whole account';
  if (!isGroupPrincipal(principal)) return principal;
  // An organization's account budget is the group of the account's principals: it is the account that is meant.
  const account = /^account-(\d{12})$/.exec(groupNameOf(principal))?.[1];
  return account ? `account ${account}` : `group ${groupNameOf(principal)}`;
};

/** Spend confirmed by CloudTrail (a sighting of the same call) and spend only logged, told apart. */
const confirmation = (spend: Usd, confirmed: Usd) =>
  `${formatUsd(confirmed)} confirmed by CloudTrail, ${formatUsd(spend.minus(confirmed))} only logged`;

/** What an admin reads in an e-mail or a chat channel, what a program reads, and what a subscriber filters on. */
export function thresholdAlertMessage(alert: ThresholdAlert): AlertMessage {
  const who = describePrincipal(alert.principal);
  const summary = `${who} has used ${alert.percent.toFixed(2)}% of its Bedrock budget for ${alert.period}.`;
  const facts = [
    { label: 'Principal', value: `${alert.principal}${alert.principalArn ? ` (${alert.principalArn})` : ''}` },
    {
      label: 'Spend',
      value: `${formatUsd(alert.spend)} (exactly ${alert.spend.toFixed()} USD)\n${confirmation(alert.spend, alert.confirmed)}`,
    },
    { label: 'Limit', value: formatUsd(alert.limit) },
    { label: 'Threshold', value: `${alert.threshold}%` },
    { label: 'Period ends', value: alert.periodEnd?.toISOString() ?? 'never (a prepaid total budget)' },
  ];
  const lines = [summary, '', ...factTable(facts)];
  if (alert.skipped.length > 0) {
    lines.push(
      '',
      `Spend jumped past ${[...alert.skipped, alert.threshold].join('%, ')}% at once; this one alert covers them all.`,
    );
  }
  if (alert.topModels.length > 0) {
    lines.push('', 'Top models by cost this period:');
    for (const { model, spend } of alert.topModels) lines.push(`  ${formatUsd(spend).padStart(10)}  ${model}`);
  }
  lines.push(
    '',
    alert.principal === 'ACCOUNT'
      ? 'At 100% every Bedrock call in the account is stopped until an admin resumes it or the period ends.'
      : `At 100% the principal is suspended (an explicit IAM deny) until an admin approves an override${alert.periodEnd ? ' or the period ends' : ' or the budget is raised'}.`,
  );
  return {
    subject: `Bedrock budget ${alert.threshold}% reached: ${who} (${alert.period})`,
    body: lines.join('\n'),
    summary,
    facts,
    // What an admin reading it in chat may run next: see the spend, or raise the limit before it suspends.
    commands:
      alert.principal === 'ACCOUNT'
        ? ['npx budgeteer status', 'npx budgeteer budget set account <higher USD>']
        : [
            `npx budgeteer status --principal ${alert.principal}`,
            `npx budgeteer budget set ${alert.principal} <higher USD>`,
          ],
    data: {
      ...(alert.principalArn ? { principalArn: alert.principalArn } : {}),
      threshold: alert.threshold,
      skippedThresholds: [...alert.skipped],
      percent: alert.percent.toFixed(2),
      spendUsd: alert.spend.toFixed(),
      confirmedSpendUsd: alert.confirmed.toFixed(),
      limitUsd: alert.limit.toFixed(),
      ...(alert.periodEnd ? { periodEnd: alert.periodEnd.toISOString() } : {}),
      topModels: alert.topModels.map(({ model, spend }) => ({ model, spendUsd: spend.toFixed() })),
    },
    attributes: {
      kind: 'threshold',
      severity: 'warning',
      principal: alert.principal,
      threshold: String(alert.threshold),
      period: alert.period,
      alertId: alert.alertId,
    },
  };
}

export interface ExhaustedNotice {
  readonly principal: string;
  readonly period: string;
  readonly spend: Usd;
  /** Of the spend, what CloudTrail confirmed; the rest is only logged. */
  readonly confirmed: Usd;
  readonly limit: Usd;
  /**
   * Only confirmed spend may suspend (or stop) here, and not enough of it is: nothing happens yet, and the sweep
   * escalates after this many minutes.
   */
  readonly awaitingMinutes?: number;
  /** Why no suspension follows (root, break-glass), if none does. */
  readonly exemptBecause?: string;
  readonly executionName?: string;
}

/**
 * What was spent against what limit. A zero limit is no budget at all (a principal that may not spend): said so,
 * rather than as a share of $0.00.
 */
function spentAgainstLimit(notice: ExhaustedNotice, who: string): string {
  if (notice.limit.eq(0)) {
    return `${who} may not spend on Bedrock (its limit for ${notice.period} is ${formatUsd(notice.limit)}) and was charged ${formatUsd(notice.spend)}`;
  }
  return `${who} has spent ${formatUsd(notice.spend)} of its ${formatUsd(notice.limit)} Bedrock budget for ${notice.period}`;
}

/** The amounts of a notice, exact, for programs. */
const noticeData = (notice: ExhaustedNotice) => ({
  spendUsd: notice.spend.toFixed(),
  confirmedSpendUsd: notice.confirmed.toFixed(),
  limitUsd: notice.limit.toFixed(),
  ...(notice.executionName ? { executionName: notice.executionName } : {}),
  ...(notice.exemptBecause ? { exemptBecause: notice.exemptBecause } : {}),
  ...(notice.awaitingMinutes !== undefined ? { awaitingMinutes: notice.awaitingMinutes } : {}),
});

/** High severity: a principal or the account reached 100%. */
export function exhaustedMessage(notice: ExhaustedNotice): AlertMessage {
  const who = describePrincipal(notice.principal);
  const account = notice.principal === 'ACCOUNT';
  if (notice.awaitingMinutes !== undefined) return awaitingConfirmationMessage(notice, notice.awaitingMinutes);
  const action = notice.exemptBecause
    ? `It is not suspended: ${notice.exemptBecause}. Alert only.`
    : account
      ? `The emergency stop was started (execution ${notice.executionName}).`
      : `Its suspension was started (execution ${notice.executionName}).`;
  return {
    subject: notice.limit.eq(0)
      ? `Bedrock use by a principal that may not spend: ${who} (${notice.period})`
      : `Bedrock budget exhausted: ${who} (${notice.period})`,
    body: [spentAgainstLimit(notice, who), `(${confirmation(notice.spend, notice.confirmed)}).`, '', action].join('\n'),
    data: noticeData(notice),
    attributes: {
      kind: account ? 'emergency-stop' : 'suspension',
      severity: 'critical',
      principal: notice.principal,
      threshold: '100',
      period: notice.period,
    },
  };
}

/** Past the limit on spend only logged, where only confirmed spend may suspend: waiting for CloudTrail. */
function awaitingConfirmationMessage(notice: ExhaustedNotice, minutes: number): AlertMessage {
  const who = describePrincipal(notice.principal);
  const account = notice.principal === 'ACCOUNT';
  return {
    subject: `Bedrock budget reached on logged spend, awaiting CloudTrail: ${who} (${notice.period})`,
    body: [
      spentAgainstLimit(notice, who),
      `(${confirmation(notice.spend, notice.confirmed)}).`,
      '',
      `Only spend CloudTrail confirmed may ${account ? 'stop the account' : 'suspend it'} here (requireCloudTrailConfirmation),`,
      `and that is still under the limit: ${account ? 'the emergency stop' : 'the suspension'} starts when CloudTrail's sightings`,
      `of the logged calls bring it there. If they have not within ${minutes} minutes, another alert says so: spend that`,
      'only an invocation log reports may have been written by someone other than Bedrock.',
    ].join('\n'),
    data: noticeData(notice),
    attributes: {
      kind: 'awaiting-confirmation',
      severity: 'critical',
      principal: notice.principal,
      threshold: '100',
      period: notice.period,
    },
  };
}

export function unknownModelMessage(model: string, requests: number): AlertMessage {
  return {
    subject: `Bedrock model missing from the price catalog: ${model}`,
    body: [
      `Calls to ${model} were charged at the catalog's conservative fallback price (${requests} so far).`,
      'Add the model to shared/pricing/catalog.json with its published prices and redeploy to charge it exactly.',
    ].join('\n'),
    data: { requests },
    attributes: { kind: 'unknown-model', severity: 'warning', model },
  };
}

/** One record of a conflict, as the alert shows it. */
export interface ConflictingRecord {
  readonly principal: string;
  readonly costUsd: Usd;
  readonly model: string;
  readonly source: string;
  readonly time: string;
}

export interface UsageConflict {
  readonly requestId: string;
  /** The request's first record, then the one that disagreed with it. */
  readonly first: ConflictingRecord;
  readonly arriving: ConflictingRecord;
  readonly outcome: 'replaced' | 'kept';
}

const exactly = (amount: Usd) => `$${amount.toFixed()}`;
const describeRecord = (record: ConflictingRecord) =>
  `${record.principal}, ${exactly(record.costUsd)} on ${record.model} (${record.source}, call at ${record.time})`;

const recordData = (record: ConflictingRecord) => ({ ...record, costUsd: record.costUsd.toFixed() });

/** Critical: two records of one request disagree; only AWS writes them, so one may be forged. */
export function usageConflictMessage(conflict: UsageConflict): AlertMessage {
  const { first, arriving } = conflict;
  const stands = conflict.outcome === 'replaced' ? arriving : first;
  const settled =
    conflict.outcome === 'replaced'
      ? first.principal === arriving.principal
        ? `The dearer record stands: ${arriving.principal} is charged ${exactly(arriving.costUsd)} in place of ${exactly(first.costUsd)}.`
        : `The dearer record stands: ${arriving.principal} is charged ${exactly(arriving.costUsd)}, and ${first.principal} is credited the ${exactly(first.costUsd)} it was charged.`
      : 'The first record is the dearer (or as dear) and stands; nothing was counted for the other.';
  return {
    subject: `Conflicting Bedrock usage records for request ${conflict.requestId}`,
    body: [
      `Two records of Bedrock request ${conflict.requestId} disagree. AWS writes one record per request, so one of`,
      'these was written by someone else: a forged record, sent to hide what a call cost or to charge another principal.',
      '',
      `  First:    ${describeRecord(first)}`,
      `  Arriving: ${describeRecord(arriving)}`,
      '',
      settled,
      '',
      'Check who may write to the invocation log group (logs:PutLogEvents) and invoke the ingest function; the',
      "README's threat model says which doors the stack closes and which an SCP must. Both records are in the",
      `audit entry usage.conflict of ${stands.principal} and on the request's Usage row.`,
    ].join('\n'),
    data: { outcome: conflict.outcome, first: recordData(first), arriving: recordData(arriving) },
    attributes: {
      kind: 'usage-conflict',
      severity: 'critical',
      principal: stands.principal,
      requestId: conflict.requestId,
    },
  };
}
