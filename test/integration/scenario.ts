import { CreateUserCommand, GetUserPolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { paginateListExecutions, SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import type { NumberValue } from '@aws-sdk/lib-dynamodb';
import Big from 'big.js';
import { seededRandom } from '../../bench/random';
import type { Notification } from '../../local/inbox';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { AdminActions } from '../../shared/decisions/admin';
import { Outbox } from '../../shared/decisions/outbox';
import { PendingWaits } from '../../shared/decisions/pending';
import { usd } from '../../shared/money';
import { priceCall } from '../../shared/pricing';
import { cloudTrailEvent, invocationLog } from '../fixtures';
import { documents, item, local, output } from './support';

/*
 * A small Bedrock scenario for the suites that prove exactness under duplicates, concurrency and faults: calls by a
 * few users, each priced here with the catalog directly (the oracle), delivered by the suites in their own ways.
 */

export const ACCOUNT = '111122223333';
export const OPUS = 'anthropic.claude-opus-4-20250514-v1:0'; // $15 per million input tokens, $75 per million output
export const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';

export const iam = new IAMClient(local.clientConfig);
export const sfn = new SFNClient(local.clientConfig);
export const audit = new AuditLog(documents, output('AuditTableName'));
export const store = new BudgetStore(documents, output('BudgetsTableName'), {
  configuredDefault: usd('50'),
  configuredAccount: usd('1000'),
});

export interface Call {
  readonly requestId: string;
  readonly user: string;
  readonly arn: string;
  readonly modelId: string;
  readonly input: number;
  readonly output: number;
  readonly timestamp: string;
}

export const principalOf = (user: string) => `user/${user}`;
export const arnOf = (user: string) => `arn:aws:iam::${ACCOUNT}:user/${user}`;

/** `count` calls by `user` in `month` (YYYY-MM), token counts varied by a seeded draw so prices differ. */
export function callsOf(
  user: string,
  count: number,
  month: string,
  options: { modelId?: string; input: number; output: number; seed?: number },
): Call[] {
  const random = seededRandom(options.seed ?? 7);
  return Array.from({ length: count }, (_, i) => ({
    requestId: `${user}-${i}`,
    user,
    arn: arnOf(user),
    modelId: options.modelId ?? OPUS,
    input: options.input + Math.floor(random() * 997),
    output: options.output + Math.floor(random() * 89),
    timestamp: `${month}-10T10:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z`,
  }));
}

/** The call's exact cost, from the catalog directly. */
export const priceOf = (call: Call) =>
  priceCall({
    modelId: call.modelId,
    region: 'us-east-1',
    tokens: { input: call.input, output: call.output, cacheRead: 0, cacheWrite: 0 },
  }).costUsd;

/** The single-delivery result: each call counted once, by user. */
export function expectedSpend(calls: readonly Call[]): Map<string, Big> {
  const spend = new Map<string, Big>();
  for (const call of calls) spend.set(call.user, (spend.get(call.user) ?? new Big(0)).plus(priceOf(call)));
  return spend;
}

export const total = (calls: readonly Call[]) => calls.reduce((sum, call) => sum.plus(priceOf(call)), new Big(0));

/** The call's invocation log record (what the CloudWatch Logs subscription delivers). */
export const logOf = (call: Call) =>
  invocationLog(call.requestId, call.arn, {
    timestamp: call.timestamp,
    modelId: call.modelId,
    input: { inputTokenCount: call.input },
    output: { outputTokenCount: call.output },
  });

/** The call's CloudTrail event (what EventBridge sends to the CloudTrail queue). */
export function eventOf(call: Call) {
  const event = cloudTrailEvent(call.requestId, call.arn, call.modelId) as { detail: Record<string, unknown> };
  event.detail.eventTime = call.timestamp;
  return event;
}

/** A seeded Fisher-Yates shuffle. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Splits `items` into chunks of `size`. */
export const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

const exact = (n: unknown) => {
  const raw = (n as NumberValue | undefined)?.value;
  return raw === undefined ? undefined : new Big(raw).toFixed();
};

/** A principal's counter in `period`: spend and requests, as exact decimal strings. */
export async function counterOf(user: string, period: string) {
  const counter = await item('BudgetsTableName', { principal: principalOf(user), period });
  return { spendUsd: exact(counter?.spendUsd), requests: exact(counter?.requests) };
}

/** The account's spend in `period`: its shards added up, as every reader sees it. */
export const accountSpend = async (period: string) => (await store.accountTotal(period)).spendUsd.toFixed();

/** The audit entries about `user` in `period`. */
export async function auditOf(user: string, period: string) {
  const entries = [];
  for await (const entry of audit.query({ subject: principalOf(user) }))
    if (entry.period === period) entries.push(entry);
  return entries;
}

/**
 * Thresholds alerted for `user` in `period`, by the audit log: `alerted` as each alert names it (a threshold alerted
 * twice shows twice), `covered` the distinct thresholds alerted or named as jumped past by an alert (how deliveries
 * are cut decides which are alerted on their own).
 */
export async function alertedThresholds(user: string, period: string) {
  const alerts = (await auditOf(user, period))
    .filter((e) => e.action === 'threshold.alerted')
    .map((e) => e.details as { threshold?: unknown; skipped?: unknown[] });
  const numeric = (values: unknown[]) => values.map(Number).sort((a, b) => a - b);
  return {
    alerted: numeric(alerts.map((a) => a.threshold)),
    covered: numeric([...new Set(alerts.flatMap((a) => [...(a.skipped ?? []), a.threshold]).map(Number))]),
  };
}

/** The alerts SNS must have delivered for `alerted` thresholds and a suspension: one decision each. */
export const oneDecisionEach = (alerted: readonly number[], suspended: boolean) =>
  Object.fromEntries([...alerted, ...(suspended ? [100] : [])].map((t) => [String(t), 1]));

/** How often each audit action was appended for `user` in `period`. */
export async function actionCounts(user: string, period: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const entry of await auditOf(user, period)) counts[entry.action] = (counts[entry.action] ?? 0) + 1;
  return counts;
}

/** Alerts SNS delivered about `user`, counted per threshold by their decision ids (SNS delivers at least once). */
export function alertDecisions(notifications: readonly Notification[], user: string) {
  const byThreshold: Record<string, Set<string>> = {};
  for (const n of notifications) {
    if (n.attributes.principal !== principalOf(user) || n.attributes.threshold === undefined) continue;
    const seen = byThreshold[n.attributes.threshold] ?? new Set();
    seen.add(n.attributes.decisionId ?? '');
    byThreshold[n.attributes.threshold] = seen;
  }
  return Object.fromEntries(Object.entries(byThreshold).map(([threshold, ids]) => [threshold, ids.size]));
}

export const createUsers = (users: readonly string[]) =>
  Promise.all(users.map((user) => iam.send(new CreateUserCommand({ UserName: user }))));

/** The BudgeteerDeny policy's statements on `user`, or undefined when there is none. */
export async function denyStatements(user: string): Promise<unknown[] | undefined> {
  try {
    const { PolicyDocument } = await iam.send(
      new GetUserPolicyCommand({ UserName: user, PolicyName: 'BudgeteerDeny' }),
    );
    return (JSON.parse(decodeURIComponent(PolicyDocument ?? '{}')) as { Statement: unknown[] }).Statement;
  } catch (error) {
    if ((error as Error).name === 'NoSuchEntityException' || (error as Error).name === 'NoSuchEntity') return undefined;
    throw error;
  }
}

/** Suspension workflow executions for `user` (their names end with the principal's name). */
export async function suspensionsOf(user: string) {
  const found = [];
  for await (const page of paginateListExecutions(
    { client: sfn },
    { stateMachineArn: output('SuspendStateMachineArn') },
  ))
    found.push(...(page.executions ?? []).filter((e) => e.name?.endsWith(user)));
  return found;
}

/** The decisions' outbox on the local stack's tables, topics and workflows, as the functions build it. */
export const outbox = new Outbox(
  {
    table: output('BudgetsTableName'),
    alertsTopicArn: output('AlertsTopicArn'),
    criticalTopicArn: output('CriticalTopicArn'),
    suspendStateMachineArn: output('SuspendStateMachineArn'),
    emergencyStopStateMachineArn: output('EmergencyStopStateMachineArn'),
  },
  { documents, sns: new SNSClient(local.clientConfig), sfn, audit },
);

/** The admin commands (lift, emergency stop) as the admin function runs them, on the local stack. */
export const admin = new AdminActions({
  documents,
  table: output('BudgetsTableName'),
  waits: new PendingWaits(documents, sfn, output('PendingTableName')),
  audit,
  outbox,
  emergencyStopStateMachineArn: output('EmergencyStopStateMachineArn'),
});
