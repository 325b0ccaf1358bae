import { identityRulesOf } from '../../cli/reconcile';
import { usd } from '../../shared/money';
import { reconcileDay } from '../../shared/reconcile/day';
import { billFromCur, drifted } from '../../shared/reconcile/reconcile';
import { invocationLog } from '../fixtures';
import { deliverLogs, documents, local, output, unique } from './support';

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
    const result = await reconcileDay(documents, output('UsageTableName'), day, billFromCur(cur, day), rules);

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
