import { identityRulesOf } from '../../cli/reconcile';
import { type Inbox, type Notification, openInbox } from '../../local/inbox';
import { AuditLog } from '../../shared/audit/log';
import { reconcileKey } from '../../shared/budgets/items';
import { usd } from '../../shared/money';
import { reconcileDay } from '../../shared/reconcile/day';
import { billFromCur, drifted } from '../../shared/reconcile/reconcile';
import { invocationLog } from '../fixtures';
import { deliverLogs, documents, invoke, item, local, output, unique } from './support';

const ACCOUNT = '111122223333';
const userArn = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const HEADER =
  'line_item_usage_start_date,line_item_product_code,line_item_iam_principal,line_item_unblended_cost,line_item_usage_type';

describe('reconciliation on the local stack', () => {
  it('reports what each principal was metered and billed for the day, and the drift injected into one bill', async () => {
    // A day no other suite charges in.
    const day = `2095-0${1 + Math.floor(Math.random() * 9)}-1${Math.floor(Math.random() * 9)}`;
    const [alice, bob] = [`rec-alice-${unique()}`, `rec-bob-${unique()}`];
    const id = unique();
    // Claude 3 Haiku: 1000 x 0.25 + 100 x 1.25 per million = 0.000375 a call.
    await deliverLogs([
      invocationLog(`${id}-1`, userArn(alice), { timestamp: `${day}T01:00:00Z` }),
      invocationLog(`${id}-2`, userArn(alice), { timestamp: `${day}T23:59:59Z` }),
      invocationLog(`${id}-3`, userArn(bob), { timestamp: `${day}T12:00:00Z` }),
    ]);
    const cur = [
      HEADER,
      `${day}T01:00:00Z,AmazonBedrockFoundationModels,${userArn(alice)},0.00075,USE1-MP:USE1_InputTokenCount-Units`,
      // Injected drift: AWS bills bob ten times what was metered.
      `${day}T12:00:00Z,AmazonBedrockFoundationModels,${userArn(bob)},0.00375,USE1-MP:USE1_InputTokenCount-Units`,
    ].join('\n');

    // The deployment's own per-session role patterns, from its PerSessionRoles output, as the CLI reads them.
    const rules = identityRulesOf({ clientConfig: local.clientConfig, outputs: local.outputs });
    expect(rules.perSessionRoles).toEqual(['AWSReservedSSO_*']);
    const result = await reconcileDay(
      documents,
      { usageTable: output('UsageTableName') },
      day,
      billFromCur(cur, day),
      rules,
    );

    const ours = result.principals.filter((p) => [`user/${alice}`, `user/${bob}`].includes(p.principal));
    expect(ours.map(({ models: _, modelsAttributed: __, ...totals }) => totals)).toEqual([
      {
        principal: `user/${bob}`,
        principalArn: userArn(bob),
        meteredUsd: '0.000375',
        billedUsd: '0.00375',
        differenceUsd: '0.003375',
      },
      {
        principal: `user/${alice}`,
        principalArn: userArn(alice),
        meteredUsd: '0.00075',
        billedUsd: '0.00075',
        differenceUsd: '0',
      },
    ]);
    // This CUR has no product columns: the bill names no model, so none is met and none is made up.
    expect(ours[0]?.modelsAttributed).toBe(false);
    expect(ours[0]?.models).toEqual([
      {
        model: 'anthropic.claude-3-haiku-20240307-v1:0',
        billedAs: null,
        meteredUsd: '0.000375',
        billedUsd: null,
        differenceUsd: null,
      },
      { model: null, billedAs: null, meteredUsd: null, billedUsd: '0.00375', differenceUsd: null },
    ]);
    expect(drifted({ ...result, principals: ours }, usd('0.001')).map((p) => p.principal)).toEqual([`user/${bob}`]);
  });
});

const RECONCILE = 'functions/reconcile/handler.ts';
/** The day local/cost-explorer bills (no other suite charges in 2094): recon-drift billed 0.5 USD more than a call. */
const BILLED_DAY = '2094-06-15';
const audit = new AuditLog(documents, output('AuditTableName'));

/** EventBridge's Scheduled Event as the daily rule delivers it (06:00 UTC; the day reconciled is 2 days back). */
const scheduledAt = (time: string) => ({
  version: '0',
  id: unique(),
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: ACCOUNT,
  time,
  region: 'us-east-1',
  resources: [`arn:aws:events:us-east-1:${ACCOUNT}:rule/reconcile`],
  detail: {},
});

async function entries(subject: string, action: 'reconcile.drift' | 'reconcile.checked', day: string) {
  const found = [];
  for await (const entry of audit.query({ subject, action })) if (entry.details.day === day) found.push(entry);
  return found;
}

describe('the daily reconciliation function on the local stack', () => {
  let inbox: Inbox;
  beforeAll(async () => {
    inbox = await openInbox(local.clientConfig, [output('AlertsTopicArn')]);
  });
  afterAll(() => inbox.close());
  const driftAlerts = (notifications: readonly Notification[], day: string) =>
    notifications.filter((n) => n.attributes.kind === 'reconcile-drift' && n.attributes.day === day);

  it("alerts and audits a principal's drift once however often it runs, and leaves a matching principal alone", async () => {
    const id = unique();
    // Claude 3 Haiku, 0.000375 USD a call: recon-match's two calls are what the saved bill says; recon-drift's one
    // call is billed 0.500375.
    await deliverLogs([
      invocationLog(`${id}-m1`, userArn('recon-match'), { timestamp: `${BILLED_DAY}T08:00:00Z` }),
      invocationLog(`${id}-m2`, userArn('recon-match'), { timestamp: `${BILLED_DAY}T20:00:00Z` }),
      invocationLog(`${id}-d1`, userArn('recon-drift'), { timestamp: `${BILLED_DAY}T09:30:00Z` }),
    ]);

    const fired = '2094-06-17T06:00:00Z';
    const first = await invoke(RECONCILE, scheduledAt(fired));
    const second = await invoke(RECONCILE, scheduledAt(fired));

    expect(first).toEqual({ status: 'reconciled', day: BILLED_DAY, drifted: ['user/recon-drift'], claimed: 1 });
    expect(second).toEqual({ status: 'reconciled', day: BILLED_DAY, drifted: ['user/recon-drift'], claimed: 0 });
    const alerts = driftAlerts(await inbox.read(), BILLED_DAY);
    expect(alerts.map((a) => [a.topicArn, a.attributes.principal, a.attributes.decisionId])).toEqual([
      [output('AlertsTopicArn'), 'user/recon-drift', `reconcile|${BILLED_DAY}|user/recon-drift`],
    ]);
    expect(alerts[0]?.message).toContain('AWS billed user/recon-drift more for Bedrock on 2094-06-15');
    const drift = await entries('user/recon-drift', 'reconcile.drift', BILLED_DAY);
    expect(drift).toHaveLength(1);
    expect(drift[0]).toMatchObject({
      actor: 'system:reconcile',
      details: {
        day: BILLED_DAY,
        principal: 'user/recon-drift',
        principalArn: userArn('recon-drift'),
        meteredUsd: '0.000375',
        billedUsd: '0.500375',
        differenceUsd: '0.5',
        toleranceUsd: '0.01',
        modelsAttributed: true,
      },
    });
    expect(await entries('user/recon-match', 'reconcile.drift', BILLED_DAY)).toEqual([]);
    // A day with a drift is not also "checked"; every claim's effects were delivered and cleared.
    expect(await entries('SYSTEM', 'reconcile.checked', BILLED_DAY)).toEqual([]);
    const claim = await item('BudgetsTableName', reconcileKey(BILLED_DAY, 'user/recon-drift'));
    expect(Object.keys(claim ?? {}).filter((key) => key.startsWith('outbox:'))).toEqual([]);
  });

  it('audits a day the bill matches once as reconcile.checked, with its totals, and alerts nobody', async () => {
    const day = '2094-06-16';
    await deliverLogs([invocationLog(`${unique()}-even`, userArn('recon-even'), { timestamp: `${day}T12:00:00Z` })]);

    const first = await invoke(RECONCILE, { day });
    const second = await invoke(RECONCILE, { day });

    expect([first.claimed, second.claimed]).toEqual([1, 0]);
    const checked = await entries('SYSTEM', 'reconcile.checked', day);
    expect(checked).toHaveLength(1);
    expect(checked[0]?.details).toMatchObject({
      principals: 1,
      meteredUsd: '0.000375',
      billedUsd: '0.000375',
      differenceUsd: '0',
      toleranceUsd: '0.01',
    });
    expect(driftAlerts(await inbox.read(), day)).toEqual([]);
  });

  it('takes a day Cost Explorer has not billed yet for what it is: logged and counted, no drift, no audit', async () => {
    const day = '2094-07-20';
    await deliverLogs([invocationLog(`${unique()}-late`, userArn('recon-late'), { timestamp: `${day}T10:00:00Z` })]);

    const result = await invoke(RECONCILE, { day });

    expect(result).toEqual({
      status: 'unavailable',
      day,
      reason: `no Bedrock cost is billed for ${day} yet, while 0.000375 USD was metered`,
    });
    expect(await entries('user/recon-late', 'reconcile.drift', day)).toEqual([]);
    expect(await entries('SYSTEM', 'reconcile.checked', day)).toEqual([]);
    expect(await item('BudgetsTableName', reconcileKey(day))).toBeUndefined();
  });
});
