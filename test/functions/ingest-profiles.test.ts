import { ingest, type ProfileResolver } from '../../functions/ingest/ingest';
import type { Charge, Ledger, LedgerResult } from '../../shared/ledger';
import { priceCall } from '../../shared/pricing';
import type { ProfileRef, ResolvedProfile } from '../../shared/pricing/profiles';
import { invocationLog } from '../fixtures';

const ACCOUNT = '111122223333';
const PROFILE = `arn:aws:bedrock:us-east-1:${ACCOUNT}:application-inference-profile/hq2of259skzs`;
const HAIKU_4_5 = 'anthropic.claude-haiku-4-5-20251001-v1:0';
const alice = `arn:aws:iam::${ACCOUNT}:user/alice`;
const rules = { perSessionRoles: [] };
const tokens = { input: { inputTokenCount: 120_000 }, output: { outputTokenCount: 3_000 } };

/** A ledger that counts every charge it is given, so the test sees what ingest priced. */
function countingLedger() {
  const recorded: Charge[] = [];
  const ledger = {
    record: async (charges: Charge[]): Promise<LedgerResult> => {
      recorded.push(...charges);
      return {
        charged: charges,
        duplicates: [],
        conflicting: [],
        sighted: 0,
        confirmed: 0,
        requests: 1,
        conflicts: { account: 0, counters: 0, rows: 0 },
      };
    },
  } as unknown as Ledger;
  return { ledger, recorded };
}

const profileOf = (ref: ProfileRef, pricedAs: string): ResolvedProfile => ({
  ...ref,
  name: 'support-bot',
  pricedAs,
  modelArns: [`arn:aws:bedrock:us-east-1::foundation-model/${HAIKU_4_5}`],
  tags: { team: 'support' },
});

const record = (id: string, modelId: string) => ({ id, body: invocationLog(id, alice, { modelId, ...tokens }) });

describe('ingest: calls through application inference profiles', () => {
  it("charges a call through a profile at its model's exact price and keeps the profile's ARN", async () => {
    const asked: string[] = [];
    const profiles: ProfileResolver = async (ref) => {
      asked.push(ref.arn);
      return { resolved: true, profile: profileOf(ref, `global.${HAIKU_4_5}`) };
    };
    const { ledger, recorded } = countingLedger();

    await ingest([record('r1', PROFILE), record('r2', PROFILE)], ledger, rules, { profiles });

    // Haiku 4.5 through a global profile: 120000 x $1 + 3000 x $5 per million = $0.135 (in-Region: $0.1485)
    const expected = priceCall({
      modelId: `global.${HAIKU_4_5}`,
      region: 'us-east-1',
      tokens: { input: 120_000, output: 3_000, cacheRead: 0, cacheWrite: 0 },
    }).costUsd;
    expect(expected.toFixed()).toBe('0.135');
    expect(recorded.map((c) => [c.costUsd.toFixed(), c.model, c.unknownModel, c.inferenceProfile])).toEqual([
      ['0.135', HAIKU_4_5, false, PROFILE],
      ['0.135', HAIKU_4_5, false, PROFILE],
    ]);
    expect(asked).toEqual([PROFILE]);
  });

  it("resolves a profile named by its id alone in the call's own Region, once per profile", async () => {
    const asked: string[] = [];
    const profiles: ProfileResolver = async (ref) => {
      asked.push(ref.arn);
      return { resolved: true, profile: profileOf(ref, HAIKU_4_5) };
    };
    const { ledger, recorded } = countingLedger();
    const inIreland = {
      id: 'r3',
      body: invocationLog('r3', alice, { modelId: 'hq2of259skzs', region: 'eu-west-1', ...tokens }),
    };

    await ingest([record('r1', 'hq2of259skzs'), record('r2', PROFILE), inIreland], ledger, rules, { profiles });

    expect(asked).toEqual([PROFILE, PROFILE.replace('us-east-1', 'eu-west-1')]);
    expect(recorded.map((c) => [c.inferenceProfile, c.costUsd.toFixed()])).toEqual([
      [PROFILE, '0.1485'],
      [PROFILE, '0.1485'],
      [PROFILE.replace('us-east-1', 'eu-west-1'), '0.1485'],
    ]);
  });

  it('keeps the fallback price and the unknown-model flag for a profile not resolved, and charges the rest', async () => {
    const profiles: ProfileResolver = async () => ({ resolved: false, reason: 'answered 404' });
    const { ledger, recorded } = countingLedger();

    const outcome = await ingest([record('r1', PROFILE), record('r2', HAIKU_4_5)], ledger, rules, { profiles });

    expect(outcome.rejected).toEqual([]);
    // The fallback: 120000 x $15 + 3000 x $75 per million, never $0.
    expect(recorded.map((c) => [c.call.requestId, c.costUsd.toFixed(), c.model, c.unknownModel])).toEqual([
      ['r1', '2.025', PROFILE, true],
      ['r2', '0.1485', HAIKU_4_5, false],
    ]);
    expect(recorded[0]?.inferenceProfile).toBeUndefined();
  });

  it('charges the whole batch when the resolver itself fails', async () => {
    const profiles: ProfileResolver = async () => {
      throw new Error('socket hang up');
    };
    const { ledger, recorded } = countingLedger();

    await ingest([record('r1', PROFILE), record('r2', HAIKU_4_5)], ledger, rules, { profiles });

    expect(recorded.map((c) => [c.costUsd.toFixed(), c.unknownModel])).toEqual([
      ['2.025', true],
      ['0.1485', false],
    ]);
  });
});
