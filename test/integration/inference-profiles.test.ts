import type { NumberValue } from '@aws-sdk/lib-dynamodb';
import Big from 'big.js';
import { unknownModelKey } from '../../shared/ledger';
import { priceCall } from '../../shared/pricing';
import { invocationLog } from '../fixtures';
import { audit } from './scenario';
import { declareInferenceProfile, deliverLogs, eventually, item, settle, unique } from './support';

const ACCOUNT = '111122223333';
/** A month no other suite charges in. */
const PERIOD = '2099-11';
const TIMESTAMP = `${PERIOD}-14T09:30:00Z`;
const HAIKU_4_5 = 'anthropic.claude-haiku-4-5-20251001-v1:0';
const userArn = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const profileArn = (id: string) => `arn:aws:bedrock:us-east-1:${ACCOUNT}:application-inference-profile/${id}`;
/** A profile id as Bedrock makes them: twelve lowercase letters and digits. */
const profileId = () => `p${unique()}xyz`.slice(0, 12);
const exact = (n: unknown) => {
  const raw = (n as NumberValue | undefined)?.value;
  return raw === undefined ? undefined : new Big(raw).toFixed();
};
const tokens = { input: 123_457, output: 4_321, cacheRead: 0, cacheWrite: 0 };
const logOf = (requestId: string, user: string, modelId: string) =>
  invocationLog(requestId, userArn(user), {
    timestamp: TIMESTAMP,
    modelId,
    operation: 'Converse',
    input: { inputTokenCount: tokens.input },
    output: { outputTokenCount: tokens.output },
  });

describe('calls through an application inference profile, on the local stack', () => {
  it("charges them at the exact price of the profile's model, with no unknown-model alert; a profile not resolved keeps the fallback", async () => {
    const id = unique();
    const [carla, dmitri, eun] = ['carla', 'dmitri', 'eun'].map((name) => `${name}-${id}`) as [string, string, string];
    // Copied from the global Haiku 4.5 profile: a Region-less model ARN beside the Regional ones.
    const profile = profileArn(profileId());
    await declareInferenceProfile({
      arn: profile,
      name: `support-${id}`,
      models: ['us-east-1', '', 'eu-west-1'].map(
        (region) => `arn:aws:bedrock:${region}::foundation-model/${HAIKU_4_5}`,
      ),
      tags: { team: 'support' },
    });
    const deleted = profileArn(profileId());

    // One batch: a call through the profile, one through a profile Bedrock does not know, one by model id.
    await deliverLogs([
      logOf(`${id}-profile`, carla, profile),
      logOf(`${id}-deleted`, dmitri, deleted),
      logOf(`${id}-model`, eun, HAIKU_4_5),
    ]);

    // The oracle: the catalog's price of a global Haiku 4.5 call, 123457 x $1 + 4321 x $5 per million.
    const expected = priceCall({ modelId: `global.${HAIKU_4_5}`, region: 'us-east-1', tokens }).costUsd;
    expect(expected.toFixed()).toBe('0.145062');
    const counter = await item('BudgetsTableName', { principal: `user/${carla}`, period: PERIOD });
    expect(exact(counter?.spendUsd)).toBe(expected.toFixed());
    const row = await item('UsageTableName', { requestId: `${id}-profile` });
    expect(row).toMatchObject({
      model: HAIKU_4_5,
      modelId: profile,
      inferenceProfile: profile,
      unknownModel: false,
      chargedBy: 'invocation-log',
    });
    expect(exact(row?.costUsd)).toBe('0.145062');

    // Not resolved: the dearest price (123457 x $15 + 4321 x $75 per million), never $0, and the batch went on.
    const fallback = await item('BudgetsTableName', { principal: `user/${dmitri}`, period: PERIOD });
    expect(exact(fallback?.spendUsd)).toBe('2.17593');
    expect(await item('UsageTableName', { requestId: `${id}-deleted` })).toMatchObject({ unknownModel: true });
    expect(await item('UsageTableName', { requestId: `${id}-deleted` })).not.toHaveProperty('inferenceProfile');
    // In-Region Haiku 4.5 by its id: 123457 x $1.10 + 4321 x $5.50 per million.
    const direct = await item('BudgetsTableName', { principal: `user/${eun}`, period: PERIOD });
    expect(exact(direct?.spendUsd)).toBe('0.1595682');

    // The unknown-model alert is raised for the profile not resolved, and for no other.
    await settle();
    await eventually('the unknown-model audit entry of the unresolved profile', async () => {
      for await (const entry of audit.query({ subject: unknownModelKey(deleted).principal })) {
        if (entry.action === 'model.unknown-seen') return entry;
      }
      return undefined;
    });
    expect(await item('BudgetsTableName', unknownModelKey(profile))).toBeUndefined();
    const seen = [];
    for await (const entry of audit.query({ subject: unknownModelKey(profile).principal })) seen.push(entry);
    expect(seen).toEqual([]);
  });
});
