import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_CONFIG } from '../infra/config';
import { LOCAL_ACCOUNT_ID } from '../local/aws';
import { createPrincipals } from '../local/iam';
import { drainQueue, openInbox } from '../local/inbox';
import { MANAGEMENT_ACCOUNT_ID, ORGANIZATION_STOP_ROLE_ARN } from '../local/organization';
import { LocalStack } from '../local/stack';
import { DEFAULT_BUDGETS, defaultScenario, INFERENCE_PROFILES, PRINCIPAL_TAGS } from '../scenarios/default';
import { ORGANIZATION_BUDGETS, organizationScenario } from '../scenarios/organization';
import type { AdminRequest } from '../shared/admin/requests';
import { ONCE_PREFIX } from '../shared/audit/log';
import { BudgetStore, usedPercent } from '../shared/budgets';
import { parseRecord } from '../shared/events/parse';
import { type GroupDefinition, GroupStore } from '../shared/groups/store';
import { ACCOUNT_PRINCIPAL, accountOfId, type IdentityRules } from '../shared/identity';
import { formatUsd, toDecimalString, type Usd, usd } from '../shared/money';
import { type PeriodKind, periodKey, periodKindOfKey } from '../shared/period';
import { callAdmin } from './admin-client';
import { type BudgetEntry, type BudgetsFile, parseBudgets, resolveBudgetKey } from './budgets-file';
import { readInput, recordsFromText } from './documents';
import { type ApprovalLink, approvalLinks, approvalsFor } from './enforcement';
import { parseJsonFile } from './json-file';
import {
  type AccountSummary,
  createOrganizationPrincipals,
  type OrganizationRoutes,
  type OrganizationSummary,
  organizationRoutes,
  summarizeOrganization,
} from './local-organization';
import { parsePricesFile } from './prices';
import { ReplayProgress } from './progress';
import { spendReportOf, writeReport } from './report';
import { describeAction, isScenarioAction, parseScenarioAction, type ScenarioAction } from './scenario-actions';
import { publishLocalState, withdrawLocalState } from './target';

export interface LocalRunOptions {
  readonly scenario?: string;
  readonly budgets?: string;
  /** A `prices set` file: price versions applied before the replay, so a scenario can straddle a price change. */
  readonly prices?: string;
  readonly json?: boolean;
  readonly serve?: boolean;
  readonly verbose?: boolean;
  /** Deploy with the daily digest on (CDK context `digest`): the scheduled run sends yesterday's digest too. */
  readonly digest?: boolean;
  /**
   * Run as the central stack of a local AWS Organization (a management account, the budget account, two member
   * accounts), replaying the organization scenario unless `scenario` is given.
   */
  readonly organization?: boolean;
}

/** One line of the replay: a record to deliver, or a line that could not be read. */
interface ReplayItem {
  readonly line: number;
  readonly body?: unknown;
  readonly error?: string;
  /** An admin action, applied once everything before it has settled. */
  readonly action?: ScenarioAction;
  readonly at: number;
}

interface SummaryRow {
  readonly spendUsd: string;
  readonly limitUsd: string;
  /** Percent of the limit used, two places; `blocked` under a zero limit (the principal may not spend). */
  readonly percent: string;
  readonly alerts: readonly number[];
  /** `active` or `suspended` for a principal; `active` or `stopped` for the account. */
  readonly state: string;
  /**
   * Why a principal is suspended: `budget`, `rate` (its rolling hour), `anomaly`, `emergency-stop` while the account
   * is stopped, or `group:<name>` while a group it is counted in is.
   */
  readonly reason?: string;
  /** The decisions' generation (a limit change or a lift starts a new one). */
  readonly generation: number;
}

/** A group in one period: its spend (its members' summed), limit and state, and the members counted in it. */
export interface GroupSummary {
  readonly group: string;
  readonly spendUsd: string;
  readonly limitUsd: string;
  readonly percent: string;
  /** `active`, or `stopped` while its exhaustion denies its members. */
  readonly state: string;
  readonly members: readonly string[];
}

/** What one period of the replay counted. */
export interface PeriodSummary {
  readonly period: string;
  /** In an organization each carries the account it is of. */
  readonly principals: ({ principal: string; account?: string } & SummaryRow)[];
  readonly account: SummaryRow;
  /** The groups budgeted in this kind of period (absent when none is). */
  readonly groups?: readonly GroupSummary[];
}

/**
 * `period`, `principals` and `account` are the latest period's (absent when nothing was counted); `periods` holds
 * every period the replay counted spend in, oldest first.
 */
export interface Summary extends Partial<PeriodSummary> {
  readonly periods: readonly PeriodSummary[];
  /** With --organization: the latest period's spend by account, and the organization's. */
  readonly accounts?: readonly AccountSummary[];
  readonly organization?: OrganizationSummary;
  readonly rejected: { line: number; error: string }[];
  readonly auditEntries: number;
  /** Decisions the workflows wait for when the replay ends, with their signed links (live while --serve runs). */
  readonly approvals: readonly ApprovalLink[];
  /** The spend report of the latest period (`budgeteer report`), written as one HTML page. */
  readonly report?: string;
}

/** Where the replay's spend report is written. */
export const LOCAL_REPORT_FILE = join(process.cwd(), '.local', 'report.html');

const STEPS = 8;
/**
 * Records per CloudWatch Logs delivery. CloudWatch Logs batches a busy log group's records into large deliveries; each
 * delivery adds one counter update per principal in it, so larger ones mean fewer counter writes and evaluator runs.
 */
const LOG_BATCH = 500;
/** Settling waits for all that was delivered: a step of thousands of records takes minutes on a busy machine. */
const SETTLE_MS = 10 * 60_000;

const timeOf = (body: unknown): number | undefined => {
  const record = body as { timestamp?: unknown; detail?: { eventTime?: unknown }; eventTime?: unknown } | undefined;
  const raw = record?.timestamp ?? record?.detail?.eventTime ?? record?.eventTime;
  const at = typeof raw === 'string' ? Date.parse(raw) : Number.NaN;
  return Number.isNaN(at) ? undefined : at;
};

function loadScenario(options: LocalRunOptions, now: Date, periodStart: Date): ReplayItem[] {
  const file = options.scenario;
  const bundled = options.organization ? organizationScenario : defaultScenario;
  // An action without a time of its own takes the time of the line before it, so it stays where it was written.
  let last = 0;
  const itemOf = (line: number, body: unknown, at?: number): ReplayItem => {
    if (!isScenarioAction(body)) {
      last = at ?? timeOf(body) ?? last;
      return { line, body, at: at ?? timeOf(body) ?? 0 };
    }
    const parsed = parseScenarioAction(body);
    if ('error' in parsed) return { line, error: parsed.error, at: last };
    const when = parsed.action.at ? Date.parse(parsed.action.at) : (at ?? last);
    return { line, action: parsed.action, at: when };
  };
  const items: ReplayItem[] = file
    ? recordsFromText(readInput(file), file).map((input, index) =>
        'error' in input ? { line: input.line, error: input.error, at: index } : itemOf(input.line, input.record.body),
      )
    : bundled(periodStart, now).map((event, index) => itemOf(index + 1, event.document, Date.parse(event.at)));
  // Events may come in any order; they are replayed in the order they happened.
  return items.sort((a, b) => a.at - b.at || a.line - b.line);
}

/**
 * The limits to set before the replay. The bundled budgets name the bundled scenario's principals, so they go with it
 * only: a scenario of one's own without `--budgets` runs with the configured default and account budgets.
 */
function readBudgets(options: LocalRunOptions): BudgetsFile {
  if (options.budgets) return parseBudgets(parseJsonFile(readInput(options.budgets), options.budgets), options.budgets);
  if (options.scenario) return { limits: {}, groups: {} };
  return parseBudgets(options.organization ? ORGANIZATION_BUDGETS : DEFAULT_BUDGETS, 'the bundled budgets');
}

function principalsIn(items: readonly ReplayItem[], rules: IdentityRules): string[] {
  const ids = new Set<string>();
  for (const item of items) {
    const parsed = item.body === undefined || item.action ? undefined : parseRecord(item.body, rules);
    if (parsed?.status === 'call') ids.add(parsed.call.principal.id);
  }
  return [...ids].sort();
}

const isCloudTrail = (body: unknown) => typeof body === 'object' && body !== null && 'detail-type' in body;

export async function runLocal(options: LocalRunOptions): Promise<Summary> {
  let progress: ReplayProgress | undefined;
  const say = options.json
    ? () => {}
    : (line: string) => {
        progress?.clear();
        process.stdout.write(`${line}\n`);
      };
  const started = Date.now();
  // Handlers log JSON and metrics to stdout in Lambda; here the timeline is the output.
  if (!options.verbose)
    Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' });
  const periodKind: PeriodKind = DEFAULT_CONFIG.period;
  const periodOf = (at: number) => periodKey(periodKind, new Date(at));
  // In an organization, the principals of every account but the budget account's are account-qualified.
  const rules: IdentityRules = {
    perSessionRoles: DEFAULT_CONFIG.perSessionRoles,
    ...(options.organization ? { homeAccount: LOCAL_ACCOUNT_ID } : {}),
  };
  const now = new Date();
  const periodStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const items = loadScenario(options, now, periodStart);
  const recordCount = items.filter((i) => !i.action).length;
  const budgets = readBudgets(options);
  const prices = options.prices ? parsePricesFile(readInput(options.prices), options.prices) : [];
  const principals = principalsIn(items, rules);
  const limits = Object.entries(budgets.limits).map(([key, entry]) => ({
    principal: resolveBudgetKey(key, principals),
    limit: usd(entry.usd),
    entry,
  }));
  // Identifies this run in the local state file, so that only this run removes what it wrote there.
  const runId = randomUUID();

  say('▸ starting a local AWS on loopback (moto server + Lambda front)…');
  const stack = await LocalStack.start({
    context: {
      ...(options.digest ? { digest: true } : {}),
      // The organization's stop attaches its SCP from the management account, through the role it holds for that.
      ...(options.organization
        ? { organizationManagementRoleArn: ORGANIZATION_STOP_ROLE_ARN, managementAccountId: MANAGEMENT_ACCOUNT_ID }
        : {}),
    },
    ...(options.organization ? { organization: true } : {}),
    ...(options.verbose ? { log: (l: string) => process.stderr.write(`  ${l}\n`) } : {}),
  });
  const cleanup = async () => {
    progress?.stop();
    // Only a serving run writes the file, and a later serving run may have replaced it: that one's stays.
    if (options.serve) withdrawLocalState(runId);
    await stack.stop();
  };
  try {
    // moto has no Bedrock control plane: the local front describes the bundled scenario's profiles (a scenario
    // file of one's own may call through them too).
    for (const profile of INFERENCE_PROFILES) stack.local.registerInferenceProfile(profile);
    const { deployment } = stack;
    const count = (type: string) => deployment.filter(type).length;
    say(
      `▸ deployed the synthesized stack: ${count('AWS::DynamoDB::Table')} tables, ${count('AWS::SQS::Queue')} queues, ` +
        `${Object.keys(deployment.functions).length} functions (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    const documents = DynamoDBDocumentClient.from(new DynamoDBClient(stack.local.clientConfig), {
      unmarshallOptions: { wrapNumbers: true },
    });
    const budgetsTable = stack.output('BudgetsTableName');
    const store = new BudgetStore(documents, budgetsTable, {
      configuredDefault: usd(DEFAULT_CONFIG.defaultBudgetUsd),
      configuredAccount: usd(DEFAULT_CONFIG.accountBudgetUsd),
    });
    // Set as an admin would: `budgeteer budget set`, signed by the local admin, through the admin function.
    const target = { clientConfig: stack.local.clientConfig, outputs: deployment.outputs, admin: stack.admin };
    const asAdmin = (request: AdminRequest) => callAdmin(target, request, stack.admin);
    for (const { principal, limit, entry } of limits) {
      await asAdmin({
        action: 'budget set',
        principal,
        limitUsd: toDecimalString(limit),
        ...(entry.maxUsdPerHour ? { maxUsdPerHour: entry.maxUsdPerHour } : {}),
        ...(entry.onRate ? { onRate: entry.onRate } : {}),
        ...(entry.onAnomaly ? { onAnomaly: entry.onAnomaly } : {}),
      });
    }
    const rateOf = (entry: BudgetEntry) =>
      entry.maxUsdPerHour ? ` (at most ${formatUsd(usd(entry.maxUsdPerHour))}/h: ${entry.onRate ?? 'alert'})` : '';
    if (limits.length)
      say(`▸ budgets set: ${limits.map((l) => `${l.principal} ${formatUsd(l.limit)}${rateOf(l.entry)}`).join(', ')}`);
    else
      say(
        `▸ budgets: the configured ones, ${formatUsd(usd(DEFAULT_CONFIG.defaultBudgetUsd))} a principal and ` +
          `${formatUsd(usd(DEFAULT_CONFIG.accountBudgetUsd))} for the account (--budgets sets others)`,
      );
    if (prices.length) {
      await asAdmin({ action: 'prices set', prices });
      say(`▸ prices set: ${prices.length} version(s) from ${options.prices}, each from its effectiveFrom on`);
    }
    const groups = Object.entries(budgets.groups);
    for (const [name, group] of groups) {
      await asAdmin({
        action: 'group set',
        name,
        limitUsd: group.usd,
        members: [...group.members],
        ...(group.tag ? { tag: group.tag } : {}),
        owners: [...group.owners],
      });
    }
    if (groups.length) {
      const membersOf = (group: BudgetsFile['groups'][string]) =>
        [...group.members, ...(group.tag ? [`tag ${group.tag}`] : [])].join(', ');
      say(
        `▸ groups set: ${groups.map(([name, g]) => `${name} ${formatUsd(usd(g.usd))} (${membersOf(g)})`).join('; ')}`,
      );
    }
    const { organization } = stack;
    const routes: OrganizationRoutes = organization ? organizationRoutes(stack, organization) : stack;
    const entities = organization
      ? await createOrganizationPrincipals(stack, organization, principals)
      : await createPrincipals(stack.local, principals, options.scenario ? {} : PRINCIPAL_TAGS);
    if (organization) {
      say(
        `▸ organization ${organization.organizationId}: management account ${organization.managementAccountId}, ` +
          `budget account ${organization.budgetAccountId} (this stack), members ${organization.memberAccountIds.join(', ')} ` +
          `in OU ${organization.workloadsOuId}`,
      );
    }
    say(`▸ created ${entities} IAM users and roles that the scenario's principals name`);

    // The periods the scenario's lines fall in (a line without a time of its own has none).
    const spanned = [...new Set(items.filter((i) => !i.error && i.at > 0).map((i) => periodOf(i.at)))].sort();
    const multiPeriod = spanned.length > 1;
    const periodsText =
      spanned.length === 0
        ? ''
        : multiPeriod
          ? `, periods ${spanned[0]} to ${spanned[spanned.length - 1]}`
          : `, period ${spanned[0]}`;
    const rejected: { line: number; error: string }[] = [];
    const lineOfMessage = new Map<string, number>();
    say(`▸ replaying ${items.length} events (${options.scenario ?? 'bundled scenario'})${periodsText}\n`);

    const criticalTopic = stack.output('CriticalTopicArn');
    const inbox = await openInbox(stack.local.clientConfig, [stack.output('AlertsTopicArn'), criticalTopic]);
    const width = Math.max(20, ...principals.map((p) => p.length));
    /** The periods of what was delivered or applied so far: where spend can have moved. */
    const touched = new Set<string>();
    /** Per period, the counters as last reported. */
    const previous = new Map<string, Map<string, CounterView>>();
    /** Prints what moved since the last report: spend per principal, then the alerts the inbox received. */
    const report = async (stamp: string) => {
      for (const period of [...touched].sort()) {
        const before = previous.get(period) ?? new Map<string, CounterView>();
        const counters = await countersOf(store, period);
        const moved = [...counters].filter(([p, c]) => !p.includes('#') && !before.get(p)?.spend.eq(c.spend));
        const label = multiPeriod ? `${period} ` : '';
        for (const [principal, { spend }] of moved.sort(([a], [b]) => byAccountLast(a, b))) {
          const limit = await store.limitOf(principal);
          const delta = formatUsd(spend.minus(before.get(principal)?.spend ?? 0), 4);
          say(
            `  ${stamp}  ${label}${principal.padEnd(width)} +${delta.padStart(9)}  ${formatUsd(spend).padStart(9)} of ${formatUsd(limit).padEnd(9)} ${shownPercent(percentUsed(spend, limit)).padStart(8)}`,
          );
        }
        previous.set(period, counters);
      }
      for (const { topicArn, subject } of await inbox.read()) {
        say(`  ${stamp}  ${topicArn === criticalTopic ? '⛔' : '⚠'}  ${subject}`);
      }
    };
    progress = new ReplayProgress(recordCount, process.stdout, process.stdout.isTTY === true && !options.json);
    const deliver = async (step: readonly ReplayItem[]) => {
      // A line no account of the run could have sent (in an organization, an account outside it) is refused too.
      const refusal = (item: ReplayItem) => item.error ?? (item.action ? undefined : routes.refuse?.(item.body));
      const unreadable = step.filter((i) => refusal(i) !== undefined);
      for (const item of unreadable) rejected.push({ line: item.line, error: refusal(item) as string });
      progress?.advance(unreadable.length);
      const readable = step.filter((i) => refusal(i) === undefined);
      const cloudTrail = readable.filter((i) => isCloudTrail(i.body));
      const logs = readable.filter((i) => !isCloudTrail(i.body));
      for (const item of [...cloudTrail, ...logs]) touched.add(periodOf(item.at));
      const ids = await routes.putEvents(cloudTrail.map((i) => i.body));
      progress?.advance(cloudTrail.length);
      cloudTrail.forEach((item, index) => {
        const id = ids[index];
        if (id) lineOfMessage.set(id, item.line);
        else
          rejected.push({
            line: item.line,
            error: 'not a Bedrock CloudTrail event: the EventBridge rule does not match it',
          });
      });
      for (const batch of chunk(logs, LOG_BATCH)) {
        await routes.deliverLogs(
          batch.map((i) => i.body),
          batch.map((i) => `line-${i.line}`),
        );
        progress?.advance(batch.length);
      }
    };
    /** Applies a scenario's admin action as the local admin would from the CLI: a signed request to the admin function. */
    const applyAction = async (item: ReplayItem): Promise<{ description?: string; error?: string }> => {
      const action = item.action as ScenarioAction;
      const actionPeriod = periodKey(periodKind, new Date(item.at));
      try {
        switch (action.budgeteer) {
          case 'budget set': {
            const principal = resolveBudgetKey(action.principal, principals);
            await asAdmin({ action: 'budget set', principal, limitUsd: action.usd });
            return { description: describeAction(action, principal) };
          }
          case 'lift': {
            const principal = resolveBudgetKey(action.principal, principals);
            await asAdmin({ action: 'lift', principal, reason: action.reason, period: actionPeriod });
            return { description: describeAction(action, principal) };
          }
          case 'emergency-stop':
            await asAdmin({ action: 'emergency-stop', reason: action.reason, period: actionPeriod });
            return { description: describeAction(action) };
          case 'resume':
            await asAdmin({ action: 'resume', reason: action.reason, period: actionPeriod });
            return { description: describeAction(action) };
          case 'override': {
            const principal =
              action.principal === undefined ? ACCOUNT_PRINCIPAL : resolveBudgetKey(action.principal, principals);
            const { approvals, close } = approvalsFor(documents, target);
            const wait = await approvals.pending().finally(close);
            const pending = wait.find((w) => w.principal === principal);
            if (!pending) throw new Error(`no decision is pending for ${principal}`);
            await asAdmin({
              action: 'override',
              id: pending.id,
              decision: action.decision,
              reason: action.reason ?? 'scenario',
              ...(action.amountUsd ? { amountUsd: action.amountUsd } : {}),
            });
            return { description: describeAction(action, principal) };
          }
        }
      } catch (error) {
        return { error: `scenario action ${action.budgeteer}: ${(error as Error).message}` };
      }
    };
    const steps = chunk(items, Math.ceil(items.length / STEPS));
    for (const step of steps) {
      // Records up to each admin action are delivered and settled first; then the action is applied.
      for (const run of runsBetweenActions(step)) {
        await deliver(run.records);
        if (run.action) {
          await stack.settle(SETTLE_MS);
          const at = new Date(run.action.at).toISOString().slice(5, 16).replace('T', ' ');
          await report(at);
          touched.add(periodOf(run.action.at));
          const applied = await applyAction(run.action);
          if (applied.error) rejected.push({ line: run.action.line, error: applied.error });
          else say(`  ${at}  ✎  ${applied.description}`);
          await stack.settle(SETTLE_MS);
        }
      }
      await stack.settle(SETTLE_MS);
      const last = step[step.length - 1];
      await report(new Date(last?.at ?? now.getTime()).toISOString().slice(5, 16).replace('T', ' '));
    }

    // What EventBridge Scheduler would do every few minutes: the coverage sweep finds the calls whose
    // invocation log never came (older than its delay) and charges them at the estimate.
    progress.stop();
    say(
      options.digest
        ? '  ▸ the scheduled coverage sweep and daily digest run'
        : '  ▸ the scheduled coverage sweep runs',
    );
    await stack.runScheduled();
    await stack.settle(SETTLE_MS);
    await report(now.toISOString().slice(5, 16).replace('T', ' '));

    inbox.close();
    const rejectedQueue = new SQSClient(stack.local.clientConfig);
    for (const message of await drainQueue(rejectedQueue, stack.output('RejectedQueueUrl'))) {
      const { recordId, error } = JSON.parse(message) as { recordId: string; error: string };
      const line = recordId.startsWith('line-') ? Number(recordId.slice(5)) : lineOfMessage.get(recordId);
      rejected.push({ line: line ?? -1, error });
    }
    rejectedQueue.destroy();
    rejected.sort((a, b) => a.line - b.line);

    const auditEntries = await auditEntryCount(documents, stack.output('AuditTableName'));
    const approvals = await approvalLinks(documents, target, deployment.environment.SIGNING_SECRET_ARN ?? '');
    const groupStore = new GroupStore(documents, budgetsTable);
    const groupsRead = { store: groupStore, defined: await groupStore.list() };
    const periods = await summarizePeriods(store, previous, groupsRead, periodKind);
    const latest = periods[periods.length - 1];
    const reportFile = latest
      ? writeReport(LOCAL_REPORT_FILE, await spendReportOf(documents, target, { period: latest.period }))
      : undefined;
    const byAccount =
      organization && latest ? await summarizeOrganization(organization, LOCAL_ACCOUNT_ID, latest) : undefined;
    const summary: Summary = {
      ...(byAccount?.period ?? latest),
      // The latest period as the organization sees it: each principal's account, and the SCP's stop.
      periods: byAccount ? [...periods.slice(0, -1).map(withAccounts), byAccount.period] : periods,
      ...(byAccount ? { accounts: byAccount.accounts, organization: byAccount.organization } : {}),
      rejected,
      auditEntries,
      approvals,
      ...(reportFile ? { report: reportFile } : {}),
    };
    // Written before the summary: whoever reads the summary can use the stack at once.
    if (options.serve) publishLocalState(target, runId);
    if (options.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else printSummary(summary, say, (Date.now() - started) / 1000, options.serve === true);
    if (!latest && options.json) {
      const lines = `${recordCount} line${recordCount === 1 ? '' : 's'}`;
      process.stderr.write(`budgeteer: nothing was counted: none of the scenario's ${lines} was charged\n`);
    }

    if (options.serve) {
      say(
        `\n▸ serving at ${stack.local.endpoint}; try \`npx budgeteer inspect\`, or other commands with --local. Ctrl-C stops.`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
    return summary;
  } finally {
    await cleanup();
  }
}

interface CounterView {
  readonly spend: Usd;
  /** Thresholds alerted this period, in the order they were sent. */
  readonly alerts: readonly number[];
  readonly state: string;
  readonly stopDenied: boolean;
  /** The groups it was counted in, and those whose stop denied it (shared/groups). */
  readonly groups: readonly string[];
  readonly groupStops: readonly string[];
  readonly generation: number;
  /** Why a suspension in force was decided (`budget`, `rate`), as its record on the counter says. */
  readonly suspensionReason?: string;
}

async function countersOf(store: BudgetStore, period: string): Promise<Map<string, CounterView>> {
  const { counters } = await store.periodBudgets(period);
  return new Map(
    counters.map((c) => [
      c.principal,
      {
        spend: c.spendUsd,
        alerts: c.alerts,
        state: c.state,
        stopDenied: c.stopDenied,
        groups: c.groups,
        groupStops: c.groupStops,
        generation: c.generation,
        ...(c.suspension ? { suspensionReason: c.suspension.reason } : {}),
      },
    ]),
  );
}

async function auditEntryCount(documents: DynamoDBDocumentClient, table: string): Promise<number> {
  let count = 0;
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    // Once-markers (which make a decision's entry unique) are not entries.
    const page = await documents.send(
      new ScanCommand({
        TableName: table,
        Select: 'COUNT',
        FilterExpression: 'NOT begins_with(#subject, :once)',
        ExpressionAttributeNames: { '#subject': 'subject' },
        ExpressionAttributeValues: { ':once': ONCE_PREFIX },
        ExclusiveStartKey,
      }),
    );
    count += page.Count ?? 0;
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return count;
}

/** The groups as the summary reads them: their definitions, and the store of their counters. */
interface GroupsRead {
  readonly store: Pick<GroupStore, 'counterIn'>;
  readonly defined: readonly GroupDefinition[];
}

/** Each period's summary, oldest first; a period is in it when some counter of it was written. */

async function summarizePeriods(
  store: BudgetStore,
  countersByPeriod: ReadonlyMap<string, Map<string, CounterView>>,
  groups: GroupsRead,
  deploymentKind: PeriodKind,
): Promise<PeriodSummary[]> {
  const periods: PeriodSummary[] = [];
  for (const [period, counters] of [...countersByPeriod].sort(([a], [b]) => a.localeCompare(b))) {
    if (counters.size === 0) continue;
    const budgeted = groups.defined.filter((g) => (g.periodKind ?? deploymentKind) === periodKindOfKey(period));
    periods.push(await summarize(store, counters, period, await summarizeGroups(groups, budgeted, counters, period)));
  }
  return periods;
}

/** Each group's counter in the period, and the principals counted in it (from their counters). */
async function summarizeGroups(
  { store }: GroupsRead,
  groups: readonly GroupDefinition[],
  counters: Map<string, CounterView>,
  period: string,
): Promise<GroupSummary[]> {
  return Promise.all(
    groups.map(async (group) => {
      const { spend, state } = await store.counterIn(group.name, period);
      return {
        group: group.name,
        spendUsd: toDecimalString(spend),
        limitUsd: toDecimalString(group.limitUsd),
        percent: percentUsed(spend, group.limitUsd),
        state,
        members: [...counters]
          .filter(([, c]) => c.groups.includes(group.name))
          .map(([p]) => p)
          .sort(),
      };
    }),
  );
}

async function summarize(
  store: BudgetStore,
  counters: Map<string, CounterView>,
  period: string,
  groups: readonly GroupSummary[],
): Promise<PeriodSummary> {
  const stoppedGroups = new Set(groups.filter((g) => g.state === 'stopped').map((g) => g.group));
  const row = async (principal: string) => {
    const counter = counters.get(principal);
    const spend = counter?.spend ?? usd('0');
    const limit = await store.limitOf(principal);
    const accountStopped = counters.get(ACCOUNT_PRINCIPAL)?.state === 'stopped';
    const ownState = counter?.state ?? 'active';
    const stopped = principal !== ACCOUNT_PRINCIPAL && accountStopped && counter?.stopDenied === true;
    // Denied by the stop of a group it is counted in, while that stop lasts.
    const byGroup = principal === ACCOUNT_PRINCIPAL ? undefined : counter?.groupStops.find((g) => stoppedGroups.has(g));
    const state = ownState === 'suspended' || stopped || byGroup ? 'suspended' : ownState;
    const reason =
      ownState === 'suspended'
        ? (counter?.suspensionReason ?? 'budget')
        : stopped
          ? 'emergency-stop'
          : `group:${byGroup}`;
    return {
      spendUsd: toDecimalString(spend),
      limitUsd: toDecimalString(limit),
      percent: percentUsed(spend, limit),
      alerts: counter?.alerts ?? [],
      state,
      ...(state === 'suspended' ? { reason } : {}),
      generation: counter?.generation ?? 0,
    };
  };
  const principals = [];
  for (const principal of [...counters.keys()].filter((p) => p !== ACCOUNT_PRINCIPAL && !p.includes('#')).sort()) {
    principals.push({ principal, ...(await row(principal)) });
  }
  return { period, principals, account: await row(ACCOUNT_PRINCIPAL), ...(groups.length ? { groups } : {}) };
}

function printSummary(summary: Summary, say: (line: string) => void, seconds: number, serving: boolean) {
  const width = Math.max(20, ...summary.periods.flatMap((s) => s.principals.map((p) => p.principal.length)));
  const line = (name: string, row: SummaryRow) =>
    say(
      `  ${name.padEnd(width)} ${formatUsd(usd(row.spendUsd)).padStart(10)} ${formatUsd(usd(row.limitUsd)).padStart(10)} ${shownPercent(row.percent).padStart(8)}  ${row.state.padEnd(10)} ${row.alerts.map((t) => `${t}%`).join(' ') || '-'}`,
    );
  for (const period of summary.periods) {
    say(`\nSummary for ${period.period}`);
    say(
      `  ${'principal'.padEnd(width)} ${'spend'.padStart(10)} ${'limit'.padStart(10)} ${'used'.padStart(8)}  ${'state'.padEnd(10)} alerts`,
    );
    for (const p of period.principals) line(p.principal, p);
    line('account', period.account);
    for (const g of period.groups ?? []) {
      const members = `${g.members.length} member${g.members.length === 1 ? '' : 's'} counted`;
      say(
        `  ${`group ${g.group}`.padEnd(width)} ${formatUsd(usd(g.spendUsd)).padStart(10)} ${formatUsd(usd(g.limitUsd)).padStart(10)} ${shownPercent(g.percent).padStart(8)}  ${g.state.padEnd(10)} ${members}`,
      );
    }
  }
  if (summary.organization) {
    const { organization } = summary;
    say(
      `\nOrganization: ${formatUsd(usd(organization.spendUsd))} of ${formatUsd(usd(organization.limitUsd))}, ${organization.state}${organization.scps.length ? ` (SCP ${organization.scps.join(', ')} attached)` : ''}`,
    );
    for (const a of summary.accounts ?? []) {
      say(
        `  account ${a.account.padEnd(14)} ${formatUsd(usd(a.spendUsd)).padStart(10)} ${(a.limitUsd === null ? '-' : formatUsd(usd(a.limitUsd))).padStart(10)}  ${a.state}`,
      );
    }
  }
  if (summary.periods.length === 0) say('\nNothing was counted: no record of the scenario was charged.');
  if (summary.rejected.length) {
    say(`\n${summary.rejected.length} record(s) rejected, not counted:`);
    for (const r of summary.rejected) say(`  line ${r.line}: ${r.error}`);
  }
  if (summary.approvals.length > 0) {
    say(
      `\n${summary.approvals.length} decision(s) waiting; each link opens a confirmation page (nothing changes until you confirm):`,
    );
    for (const a of summary.approvals) say(`  ${a.principal} (${a.kind}): ${a.url}`);
    say(
      serving
        ? '  The links work until Ctrl-C.'
        : '  The local stack stops now: run with --serve to keep the links working.',
    );
  }
  if (summary.report) say(`\nSpend report with charts: ${summary.report}`);
  say(`\n${summary.auditEntries} audit entries written. Done in ${seconds.toFixed(1)} s.`);
}

/** An earlier period of an organization's replay: each principal with the account it is of. */
function withAccounts(period: PeriodSummary): PeriodSummary {
  const account = (principal: string) => accountOfId(principal, LOCAL_ACCOUNT_ID);
  return { ...period, principals: period.principals.map((p) => ({ ...p, account: account(p.principal) })) };
}

/** A step split at its admin actions: the records before each action, then the action. */
function runsBetweenActions(step: readonly ReplayItem[]): { records: ReplayItem[]; action?: ReplayItem }[] {
  const runs: { records: ReplayItem[]; action?: ReplayItem }[] = [{ records: [] }];
  for (const item of step) {
    const current = runs[runs.length - 1] as { records: ReplayItem[]; action?: ReplayItem };
    if (item.action) {
      current.action = item;
      runs.push({ records: [] });
    } else current.records.push(item);
  }
  return runs;
}

const byAccountLast = (a: string, b: string) =>
  a === ACCOUNT_PRINCIPAL ? 1 : b === ACCOUNT_PRINCIPAL ? -1 : a.localeCompare(b);

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += Math.max(1, size)) out.push(items.slice(i, i + Math.max(1, size)));
  return out;
}

/** The percent of a limit used, two places, or `blocked` for a zero limit (no share of it: see usedPercent). */
const percentUsed = (spend: Usd, limit: Usd) => usedPercent(spend, limit)?.toFixed(2) ?? 'blocked';
const shownPercent = (percent: string) => (percent === 'blocked' ? percent : `${percent}%`);
