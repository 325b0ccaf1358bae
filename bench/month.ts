/**
 * A user's month for the local replay: `npx tsx bench/month.ts` writes a deterministic scenario of 20,000 Bedrock
 * model invocation log records by 200 principals (JSON lines, October 2026) and a budgets file to a temp folder,
 * then prints the `npm start` command that replays them. `docs/performance.md` reports how long that takes and how
 * much memory it holds.
 *
 * The principals are of every kind the identity rules know: IAM users, long-term API keys (IAM users named
 * `BedrockAPIKey-*`), SSO sessions (one budget per human) and application roles (one budget per role, several
 * sessions each). Their use is uneven, as in a real account: a few heavy users cross their thresholds and are
 * suspended, most stay well inside. One record in a hundred is delivered twice, as CloudWatch Logs may.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { seededRandom } from './random';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const MONTH_START = Date.UTC(2026, 9, 1);
const MONTH_MS = 31 * 24 * 3600 * 1000;
const SSO_ROLE = 'AWSReservedSSO_Developer_0123456789abcdef';
const MODELS = [
  'anthropic.claude-3-haiku-20240307-v1:0',
  'us.anthropic.claude-sonnet-4-20250514-v1:0',
  'amazon.nova-lite-v1:0',
  'amazon.nova-pro-v1:0',
  'meta.llama3-1-70b-instruct-v1:0',
] as const;
const OPERATIONS = ['InvokeModel', 'InvokeModelWithResponseStream', 'Converse', 'ConverseStream'] as const;
/** Limits for the replay: 18 principals reach 80% of the default and 14 exhaust it; the account ends near 83%. */
const BUDGETS = { default: '2', account: '140' };

interface Principal {
  readonly arn: string;
  /** Relative share of the month's calls. */
  readonly weight: number;
  readonly model: string;
}

/** 200 principals: 45% IAM users, 20% API keys, 25% SSO humans, 10% application roles (3 sessions each). */
function principals(count: number, next: () => number): { principal: Principal; sessions: string[] }[] {
  const out: { principal: Principal; sessions: string[] }[] = [];
  for (let i = 0; i < count; i++) {
    const share = i / count;
    const id = String(i).padStart(3, '0');
    let arns: string[];
    if (share < 0.45) arns = [`arn:aws:iam::${ACCOUNT}:user/dev-${id}`];
    else if (share < 0.65) arns = [`arn:aws:iam::${ACCOUNT}:user/BedrockAPIKey-${id}`];
    else if (share < 0.9) arns = [`arn:aws:sts::${ACCOUNT}:assumed-role/${SSO_ROLE}/person-${id}@example.com`];
    else arns = [1, 2, 3].map((worker) => `arn:aws:sts::${ACCOUNT}:assumed-role/app-${id}/worker-${worker}`);
    // Skewed use: most principals are light, a few are heavy.
    const weight = 0.2 + 4 * next() ** 3;
    const model = MODELS[Math.floor(next() * MODELS.length)] as string;
    out.push({ principal: { arn: arns[0] as string, weight, model }, sessions: arns });
  }
  return out;
}

/** The entry at `point` of the line the weights make end to end: a pick in proportion to weight. */
function byWeight<T extends { principal: Principal }>(entries: readonly T[], point: number): T {
  let rest = point;
  for (const entry of entries) {
    rest -= entry.principal.weight;
    if (rest <= 0) return entry;
  }
  return entries[entries.length - 1] as T;
}

function monthOfRecords(records: number, principalCount: number, seed = 2026): string[] {
  const next = seededRandom(seed);
  const everyone = principals(principalCount, next);
  const totalWeight = everyone.reduce((sum, p) => sum + p.principal.weight, 0);
  const lines: string[] = [];
  for (let i = 0; lines.length < records; i++) {
    const chosen = byWeight(everyone, next() * totalWeight);
    const arn = chosen.sessions[Math.floor(next() * chosen.sessions.length)] as string;
    const model = next() < 0.8 ? chosen.principal.model : (MODELS[Math.floor(next() * MODELS.length)] as string);
    const timestamp = new Date(MONTH_START + Math.floor((MONTH_MS * (i + next())) / records)).toISOString();
    const requestId = `month-${String(i).padStart(6, '0')}`;
    const line = JSON.stringify({
      schemaType: 'ModelInvocationLog',
      schemaVersion: '1.0',
      timestamp,
      accountId: ACCOUNT,
      identity: { arn },
      region: REGION,
      requestId,
      operation: OPERATIONS[Math.floor(next() * OPERATIONS.length)],
      modelId: model,
      input: {
        inputContentType: 'application/json',
        inputTokenCount: 200 + Math.floor(next() * 6_000),
        cacheReadInputTokenCount: 0,
        cacheWriteInputTokenCount: 0,
      },
      output: { outputContentType: 'application/json', outputTokenCount: 50 + Math.floor(next() * 1_200) },
    });
    lines.push(line);
    if (next() < 0.01 && lines.length < records) lines.push(line);
  }
  return lines;
}

function main() {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '20000' },
      principals: { type: 'string', default: '200' },
      out: { type: 'string' },
    },
  });
  const records = Number(values.records);
  const principalCount = Number(values.principals);
  if (!Number.isInteger(records) || records < 1 || !Number.isInteger(principalCount) || principalCount < 1) {
    throw new Error('--records and --principals must be positive whole numbers');
  }
  const folder = values.out ?? mkdtempSync(path.join(tmpdir(), 'budgeteer-month-'));
  mkdirSync(folder, { recursive: true });
  const scenario = path.join(folder, `month-${records}.jsonl`);
  const budgets = path.join(folder, 'budgets.json');
  writeFileSync(scenario, `${monthOfRecords(records, principalCount).join('\n')}\n`);
  writeFileSync(budgets, `${JSON.stringify(BUDGETS, null, 2)}\n`);
  process.stdout.write(
    `${records} records by ${principalCount} principals: ${scenario}\n` +
      `replay: npm start -- --scenario ${scenario} --budgets ${budgets}\n`,
  );
}

main();
