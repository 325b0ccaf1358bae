import { createHash } from 'node:crypto';
import type { ApprovalView } from '../../shared/decisions/approvals';
import { approverOf, type DecisionName, type PendingWait } from '../../shared/decisions/pending';
import { SCP_NAME } from '../../shared/enforcement/scp';
import { groupNameOf, isGroupPrincipal } from '../../shared/groups/groups';
import { escapeHtml } from '../../shared/html';
import { formatUsd, type Usd } from '../../shared/money';
import { periodEndOfKey, TOTAL_PERIOD } from '../../shared/period';

/**
 * The approval pages: server-rendered HTML, no script, no external asset, one inline style sheet allowed by its
 * hash. Every value from the table or the request is escaped.
 */
export interface Page {
  readonly status: number;
  readonly title: string;
  readonly html: string;
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--bg:#fff;--card:#f6f8fa;--line:#d0d7de;--accent:#0b5cad;--bad:#b42318}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9da7b3;--bg:#0d1117;--card:#161b22;--line:#30363d;--accent:#4493f8;--bad:#f85149}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:40rem;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;line-height:1.3;margin:.5rem 0 1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem .75rem;margin:0 0 1rem}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:0 0 1rem}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid var(--line)}td.num{text-align:right;font-variant-numeric:tabular-nums}
fieldset{border:1px solid var(--line);border-radius:.5rem;margin:0 0 1rem;padding:.5rem .75rem}
legend{font-weight:600;padding:0 .25rem}
.choice{display:block;padding:.5rem 0;border-bottom:1px solid var(--line)}.choice:last-child{border-bottom:0}
.choice input{margin-right:.5rem}.effect{display:block;color:var(--muted);margin-left:1.6rem;font-size:.95rem}
label.field{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=text],input[type=email],textarea{width:100%;font:inherit;padding:.5rem;border:1px solid var(--line);border-radius:.375rem;background:var(--bg);color:var(--fg)}
textarea{min-height:4.5rem}
button{font:inherit;font-weight:600;padding:.75rem 1.25rem;border:0;border-radius:.5rem;background:var(--accent);color:#fff;width:100%;margin-top:1rem;cursor:pointer}
.note{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.75rem;margin:0 0 1rem}
.error{border-color:var(--bad);color:var(--bad)}
small{color:var(--muted)}
caption{text-align:left;font-weight:600;padding:.25rem 0}
`;

/** The page's Content-Security-Policy: nothing but this style sheet, and forms only to this origin. */
export const CONTENT_SECURITY_POLICY = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;

function document(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body><main>
${body}
</main></body>
</html>
`;
}

const usdText = (amount: Usd) => `${formatUsd(amount)} <small>(${escapeHtml(amount.toFixed())} USD)</small>`;

/** A zero limit is no budget but a principal that may not spend (suspended at its first charged call): said so. */
const limitText = (limit: Usd) =>
  limit.eq(0) ? `${usdText(limit)}: may not spend, suspended at its first charged call` : usdText(limit);

/** Whose stop a stop's wait is: a group's (its name), or the account's (undefined). */
const stoppedGroupOf = (wait: PendingWait): string | undefined =>
  wait.kind !== 'suspension' && isGroupPrincipal(wait.principal) ? groupNameOf(wait.principal) : undefined;

/** What a stop's wait stops, in words (an organization's stop is the one that attached its SCP). */
const stopScope = (view: ApprovalView): string => {
  const group = stoppedGroupOf(view.wait);
  if (group !== undefined) return `the members of group ${group}`;
  return view.scpTargets ? 'every account of the organization' : 'the whole account';
};

/** The budget a stop's wait is about, as its row is labelled. */
const stopBudget = (view: ApprovalView): string =>
  stoppedGroupOf(view.wait) !== undefined ? 'Group budget' : view.scpTargets ? 'Organization budget' : 'Account budget';

function summary(view: ApprovalView): string {
  const { wait } = view;
  const rows: [string, string][] = [
    [
      wait.kind === 'suspension' ? 'Principal' : 'Scope',
      escapeHtml(wait.kind === 'suspension' ? wait.principal : stopScope(view)),
    ],
    ...(view.scpTargets
      ? ([['SCP', escapeHtml(`${SCP_NAME} attached to ${view.scpTargets.join(', ')}`)]] as [string, string][])
      : []),
    ...(view.principalArn ? ([['ARN', escapeHtml(view.principalArn)]] as [string, string][]) : []),
    ['Period', escapeHtml(wait.period)],
    ['Spend', usdText(view.spendUsd)],
    [wait.kind === 'suspension' ? 'Limit' : stopBudget(view), limitText(view.limitUsd)],
    ['Link expires', escapeHtml(wait.expiresAt)],
  ];
  const models =
    view.topModels.length === 0
      ? ''
      : `<table><caption>Top models by cost this period</caption><thead><tr><th scope="col">Model</th><th scope="col">Spend</th></tr></thead><tbody>${view.topModels
          .map(({ model, spend }) => `<tr><td>${escapeHtml(model)}</td><td class="num">${formatUsd(spend)}</td></tr>`)
          .join('')}</tbody></table>`;
  return `<dl>${rows.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join('')}</dl>${models}`;
}

interface Choice {
  readonly decision: DecisionName;
  readonly label: string;
  readonly effect: string;
}

function choicesFor(view: ApprovalView): Choice[] {
  const { wait } = view;
  const who = escapeHtml(wait.principal);
  // A prepaid (TOTAL) grant has no period end: a lift lasts until its limit is next set, a keep until a decision.
  const prepaid = wait.period === TOTAL_PERIOD;
  const end = prepaid
    ? 'its limit is next set'
    : escapeHtml(periodEndOfKey(wait.period)?.toISOString() ?? 'the period end');
  if (wait.kind === 'suspension') {
    return [
      {
        decision: 'raise',
        label: 'Raise the limit',
        effect: `The limit of ${who} goes up by the amount below (from ${formatUsd(view.limitUsd)}); the deny is removed at once and the 80/90/95% alerts re-arm for the new limit. At the new limit ${who} is suspended again.${
          view.limitUsd.eq(0) ? ' A share of a zero limit is nothing: type the amount it may spend this period.' : ''
        }`,
      },
      {
        decision: 'lift',
        label: prepaid ? 'Lift until its limit is next set' : 'Lift until the period ends',
        effect: `The limit stays ${formatUsd(view.limitUsd)}; the deny is removed and ${who} is not suspended again before ${end}. The account budget still applies.`,
      },
      {
        decision: 'keep',
        label: 'Keep suspended',
        effect: `Nothing changes: ${who} stays denied until ${end}. This link is then spent; an admin can still lift from the CLI.`,
      },
    ];
  }
  const group = stoppedGroupOf(wait);
  const stop = group === undefined ? 'this emergency stop' : `the stop of group ${escapeHtml(group)}`;
  return [
    {
      decision: 'resume',
      label: 'Resume Bedrock use',
      effect: `Every deny ${stop} applied is removed${
        view.scpTargets
          ? `, the service control policy is detached from ${escapeHtml(view.scpTargets.join(', '))},`
          : ''
      } and no automatic stop follows before ${end}. Principals suspended on their own budget stay suspended.`,
    },
    {
      decision: 'keep',
      label: 'Keep it stopped',
      effect: `Nothing changes: ${escapeHtml(group === undefined ? 'all Bedrock use stays' : `the members of group ${group} stay`)} stopped until ${end} or an admin resumes it. This link is then spent.`,
    },
  ];
}

export interface FormState {
  readonly decision?: string;
  readonly amountUsd?: string;
  readonly reason?: string;
  readonly approver?: string;
  readonly error?: string;
}

/** The confirmation page a GET shows: what is at stake, the choices with their effects, then the button. */
export function confirmationPage(view: ApprovalView, action: string, formToken: string, form: FormState = {}): Page {
  const { wait } = view;
  const choices = choicesFor(view);
  const selected = choices.some((c) => c.decision === form.decision) ? form.decision : undefined;
  const group = stoppedGroupOf(wait);
  const title =
    wait.kind === 'suspension'
      ? `Suspended: ${wait.principal} (${wait.period})`
      : group !== undefined
        ? `Group stopped: ${group} (${wait.period})`
        : view.scpTargets
          ? `Emergency stop: all Bedrock use in the organization (${wait.period})`
          : `Emergency stop: all Bedrock use (${wait.period})`;
  const offers = view.raiseOffers;
  const amount = form.amountUsd ?? offers[0]?.amount.toFixed(2) ?? '';
  const raiseField =
    wait.kind === 'suspension'
      ? `<label class="field" for="amountUsd">Amount to raise by, in USD</label>
<input type="text" id="amountUsd" name="amountUsd" inputmode="decimal" autocomplete="off" list="offers" value="${escapeHtml(amount)}" aria-describedby="offers-hint">
<datalist id="offers">${offers.map((o) => `<option value="${o.amount.toFixed(2)}">${o.label} of the limit</option>`).join('')}</datalist>
<small id="offers-hint">${offers.length > 0 ? `Suggested: ${offers.map((o) => `${formatUsd(o.amount)} (${o.label})`).join(', ')}. Any amount may be typed.` : 'Any amount may be typed.'}</small>`
      : '';
  const body = `<h1>${escapeHtml(title)}</h1>
${form.error ? `<p class="note error" role="alert">${escapeHtml(form.error)}</p>` : ''}
${summary(view)}
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="csrf" value="${escapeHtml(formToken)}">
<fieldset><legend>Your decision</legend>
${choices
  .map(
    (c) =>
      `<label class="choice"><input type="radio" name="decision" value="${c.decision}" required${c.decision === selected ? ' checked' : ''}>${escapeHtml(c.label)}<span class="effect">${c.effect}</span></label>`,
  )
  .join('\n')}
</fieldset>
${raiseField}
<label class="field" for="reason">Reason (recorded in the audit log)</label>
<textarea id="reason" name="reason" required maxlength="500">${escapeHtml(form.reason ?? '')}</textarea>
<label class="field" for="approver">Your name or e-mail</label>
<input type="text" id="approver" name="approver" required maxlength="200" autocomplete="email" value="${escapeHtml(form.approver ?? '')}">
<button type="submit">Confirm decision</button>
</form>
<p><small>Nothing changes until you confirm. The first decision on this link wins; the link then stops working.</small></p>`;
  return { status: form.error ? 400 : 200, title, html: document(title, body) };
}

const DONE: Record<DecisionName, string> = {
  raise: 'The limit was raised; the deny is being removed now.',
  lift: 'The suspension is lifted until the period ends; the deny is being removed now.',
  keep: 'Nothing was changed: it stays as it is.',
  resume: 'The stop is ending; the denies it applied are being removed now.',
};

/** After a POST that decided. */
export function decidedPage(wait: PendingWait): Page {
  const decided = wait.decided;
  const group = stoppedGroupOf(wait);
  const what =
    wait.kind === 'suspension'
      ? wait.principal
      : group === undefined
        ? 'the emergency stop'
        : `the stop of group ${group}`;
  const title = `Decided: ${decided?.decision ?? '?'} for ${what}`;
  const amount = decided?.amountUsd ? ` by ${formatUsdText(decided.amountUsd)}` : '';
  const limit = decided?.override?.limitTo ? ` The limit is now ${formatUsdText(decided.override.limitTo)}.` : '';
  const body = `<h1>${escapeHtml(title)}</h1>
<p class="note" role="status">${escapeHtml(`${decided?.decision ?? ''}${amount}`)}, by ${escapeHtml(approverOf(decided))} at ${escapeHtml(decided?.at ?? '?')}. ${escapeHtml(decided ? DONE[decided.decision] : '')}${escapeHtml(limit)}</p>
<p>The decision is in the audit log, and the admins are told of the outcome on the critical topic.</p>`;
  return { status: 200, title, html: document(title, body) };
}

const formatUsdText = (amount: string) => `${amount} USD`;

/** A link that was decided before: who decided what, and when. */
export function alreadyDecidedPage(wait: PendingWait): Page {
  const d = wait.decided;
  const title = 'Already decided';
  const body = `<h1>${title}</h1>
<p class="note" role="status">Already decided: ${escapeHtml(d?.decision ?? '?')}${d?.amountUsd ? ` by ${escapeHtml(formatUsdText(d.amountUsd))}` : ''} by ${escapeHtml(approverOf(d))} at ${escapeHtml(d?.at ?? '?')}.</p>
<p>This link works once. To change the outcome now, an admin uses the CLI (<code>npx budgeteer lift</code>, <code>npx budgeteer resume</code>, <code>npx budgeteer budget set</code>).</p>`;
  return { status: 409, title, html: document(title, body) };
}

/** Any refusal: a clear page, and nothing changed. */
export function refusalPage(status: number, title: string, explanation: string): Page {
  const body = `<h1>${escapeHtml(title)}</h1>
<p class="note error" role="alert">${escapeHtml(explanation)}</p>
<p>Nothing was changed.</p>`;
  return { status, title, html: document(title, body) };
}
