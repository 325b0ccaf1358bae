/**
 * The scenario `npm start -- --organization` replays: Bedrock use across an AWS Organization, metered by one central
 * deployment in the budget account. Two member accounts each have a user named alice (two principals, one per
 * account); the management account's finance analyst spends too. Member account A exhausts its own budget and is
 * stopped through its enforcement role; later the organization's budget is exhausted and a service control policy
 * stops every member account, while the management account (which SCPs never reach) is stopped by deny policy.
 */
import { type Call, cloudTrailEvent, interleave, invocationLog, type ScenarioEvent, session, user } from './default';

export const ORGANIZATION_ACCOUNTS = {
  /** Owns the organization: its principals are never touched by an SCP (SCPs do not apply to it). */
  management: '111111111111',
  /** Where the central stack runs: the local stack's own account. */
  budget: '123456789012',
  memberA: '222222222222',
  memberB: '333333333333',
} as const;

const { management, memberA, memberB } = ORGANIZATION_ACCOUNTS;
export const ORGANIZATION_ACTORS = {
  aliceA: user('alice', memberA),
  summarizerA: session('summarizer-app', 'worker-1', memberA),
  aliceB: user('alice', memberB),
  chatbotB: session('chatbot', 'web-3', memberB),
  finance: user('finance-analyst', management),
};

/**
 * Budgets before the replay, as a budgets file names them: the organization's (the deployment's total) and member
 * account A's. Every principal keeps the configured default ($10), so no single principal is suspended here.
 */
export const ORGANIZATION_BUDGETS = {
  organization: '6',
  [`account:${memberA}`]: '2',
} as const;

const SONNET = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
/** Sonnet 4, 100,000 tokens in and 2,000 out: 100000 x 3 + 2000 x 15 per M = $0.33 a call. */
const call = (actor: Call['actor']): Call => ({
  actor,
  operation: 'InvokeModel',
  modelId: SONNET,
  input: 100_000,
  output: 2_000,
});

/**
 * Member account A spends first: 7 calls, $2.31, past its $2 at the seventh ($1.98 before it). Then member B
 * (10 calls, $3.30) and the management account (2 calls, $0.66): the organization passes $6 at its 19th call.
 */
export function organizationScenario(periodStart: Date, now: Date): ScenarioEvent[] {
  const repeat = (n: number, actor: Call['actor']) => Array.from({ length: n }, () => call(actor));
  const first = interleave([...repeat(4, ORGANIZATION_ACTORS.aliceA), ...repeat(3, ORGANIZATION_ACTORS.summarizerA)]);
  const then = interleave([
    ...repeat(5, ORGANIZATION_ACTORS.aliceB),
    ...repeat(5, ORGANIZATION_ACTORS.chatbotB),
    ...repeat(2, ORGANIZATION_ACTORS.finance),
  ]);
  const calls = [...first, ...then];
  const span = Math.max(60_000, now.getTime() - periodStart.getTime() - 60_000);
  return calls.flatMap((c, index) => {
    const at = new Date(periodStart.getTime() + Math.floor((span * (index + 1)) / (calls.length + 1))).toISOString();
    const requestId = `org-req-${String(index + 1).padStart(3, '0')}`;
    return [
      { at, document: cloudTrailEvent(c, requestId, at) },
      { at, document: invocationLog(c, requestId, at) },
    ];
  });
}
