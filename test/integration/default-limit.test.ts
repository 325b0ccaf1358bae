import { CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { callAdmin } from '../../cli/admin-client';
import { AuditLog } from '../../shared/audit/log';
import { invocationLog } from '../fixtures';
import { deliverLogs, documents, eventually, item, local, output, settle, unique, userDeny } from './support';

/**
 * A change of `default` through the admin function (as `budget set default` sends it) judges every principal on the
 * default that spent this period at once, through the stream, the evaluator and the suspend workflow.
 *
 * DEFAULT is one item per stack, so this file lowers it only as far as its own principals need ($4, below which the
 * principals of other files on the default spend nothing near 80%) and puts the configured $50 back at once.
 */
const OPUS = 'anthropic.claude-opus-4-20250514-v1:0'; // $15 per million input tokens
const ACCOUNT = '111122223333';
const CONFIGURED_DEFAULT = '50';
const iam = new IAMClient(local.clientConfig);
const audit = new AuditLog(documents, output('AuditTableName'));
const target = { clientConfig: local.clientConfig, outputs: local.outputs };
const thisMonth = () => new Date().toISOString().slice(0, 7);

const setDefault = (limitUsd: string) =>
  callAdmin(target, { action: 'budget set', principal: 'DEFAULT', limitUsd }, local.admin);

async function entriesOf(subject: string, period: string) {
  const entries: { action: string; details: Record<string, unknown> }[] = [];
  for await (const entry of audit.query({ subject })) {
    if (entry.period === undefined || entry.period === period) {
      entries.push({ action: entry.action, details: entry.details as Record<string, unknown> });
    }
  }
  return entries;
}

const thresholdsOf = async (principal: string, period: string) =>
  (await entriesOf(principal, period))
    .filter((e) => e.action === 'threshold.alerted')
    .map((e) => [e.details.threshold, e.details.skipped]);

describe('a change of the default on the local stack', () => {
  it('judges every principal on it that spent this period at once: lowered, one is suspended and the others alerted; raised back, lifted', async () => {
    const tag = unique();
    const period = thisMonth();
    // Spend under the configured $50 (no alert yet), then a $4 default: 112.5%, 85% and 96.25% of it.
    const spenders = { over: ['dfo', '4.5'], near: ['dfn', '3.4'], nearer: ['dfr', '3.85'] } as const;
    const names = Object.fromEntries(Object.entries(spenders).map(([role, [prefix]]) => [role, `${prefix}-${tag}`]));
    const principal = (role: keyof typeof spenders) => `user/${names[role]}`;
    for (const [role, [, dollars]] of Object.entries(spenders)) {
      const name = names[role] as string;
      await iam.send(new CreateUserCommand({ UserName: name }));
      await deliverLogs([
        invocationLog(`${tag}-${role}`, `arn:aws:iam::${ACCOUNT}:user/${name}`, {
          timestamp: new Date().toISOString(),
          modelId: OPUS,
          input: { inputTokenCount: Math.round((Number(dollars) * 1_000_000) / 15) },
          output: { outputTokenCount: 0 },
        }),
      ]);
    }
    await settle();
    for (const role of Object.keys(spenders) as (keyof typeof spenders)[]) {
      expect(await thresholdsOf(principal(role), period)).toEqual([]);
    }

    try {
      const lowered = await setDefault('4');
      const reviewed = lowered.result?.reviewed as { period: string; queued: number } | undefined;
      expect(reviewed?.period).toBe(period);
      // Its three, and any principal of another file on the default that spent this month.
      expect(reviewed?.queued).toBeGreaterThanOrEqual(3);
      await eventually('the deny of the principal now over the default', async () =>
        (await userDeny(names.over as string)) ? true : undefined,
      );
      await settle();
      expect(await userDeny(names.over as string)).toContain('bedrock:CallWithBearerToken');
      expect((await item('BudgetsTableName', { principal: principal('over'), period }))?.state).toBe('suspended');
      expect(await thresholdsOf(principal('near'), period)).toEqual([[80, []]]);
      expect(await thresholdsOf(principal('nearer'), period)).toEqual([[95, [80, 90]]]);
      expect(await userDeny(names.near as string)).toBeUndefined();
      expect(await userDeny(names.nearer as string)).toBeUndefined();
      const over = await entriesOf(principal('over'), period);
      expect(over.filter((e) => e.action === 'suspension.requested')).toHaveLength(1);
    } finally {
      await setDefault(CONFIGURED_DEFAULT);
    }

    await eventually('the lift', async () => ((await userDeny(names.over as string)) === undefined ? true : undefined));
    await settle();
    const over = await entriesOf(principal('over'), period);
    expect(over.filter((e) => e.action === 'deny.lifted').map((e) => e.details.reason)).toEqual(['limit-raised']);
    expect(over.filter((e) => e.action === 'suspension.requested')).toHaveLength(1);
    // Raised back: nobody is alerted again.
    expect(await thresholdsOf(principal('near'), period)).toEqual([[80, []]]);
    expect(await thresholdsOf(principal('nearer'), period)).toEqual([[95, [80, 90]]]);
  }, 60_000);
});
