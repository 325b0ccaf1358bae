import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Bad arguments and malformed files, as a person (or a script) hands them to the CLI: each is refused with a
 * message naming what is wrong, exit code 2, before anything starts (no local AWS, no request) and with nothing
 * written beside the files given.
 */
const BIN = join(__dirname, '..', '..', 'bin', 'budgeteer.cjs');

interface CliCase {
  readonly name: string;
  readonly args: readonly string[];
  /** Files to put in the working folder first. */
  readonly files?: Record<string, string>;
  readonly message: RegExp;
}

const longName = 'a'.repeat(3000);
const CASES: CliCase[] = [
  {
    name: 'a principal with a space',
    args: ['budget', 'set', 'user/ali ce', '5'],
    message: /"user\/ali ce" is not a principal id/,
  },
  {
    name: 'a principal that looks like SQL injection',
    args: ['budget', 'set', "user/x'; DROP TABLE budgets;--", '5'],
    message: /is not a principal id: use user\/<name>/,
  },
  {
    name: 'a negative limit',
    args: ['budget', 'set', 'user/alice', '-5'],
    message: /a limit cannot be negative: "-5"/,
  },
  {
    name: 'a limit that is a word',
    args: ['budget', 'set', 'user/alice', 'ten'],
    message: /not an amount in USD: "ten"/,
  },
  { name: 'an empty limit', args: ['budget', 'set', 'user/alice', ''], message: /not an amount in USD: ""/ },
  {
    name: 'a limit with 13 digits',
    args: ['budget', 'set', 'user/alice', '1234567890123'],
    message: /a limit has at most 12 digits before the point/,
  },
  {
    name: 'a budgets file cut short',
    args: ['local', '--budgets', 'budgets.json'],
    files: { 'budgets.json': '{"alice": "5",\n' },
    message: /^budgeteer: budgets\.json:2:1: not valid JSON: the text ends too soon$/m,
  },
  {
    name: 'a budgets file with a limit as a JSON number',
    args: ['local', '--budgets', 'budgets.json'],
    files: { 'budgets.json': '{"alice": 0.1}' },
    message: /budgets\.json: the limit for alice: write the limit as a quoted decimal string, "0\.1" rather than 0\.1/,
  },
  {
    name: 'a budgets file that is a list',
    args: ['local', '--budgets', 'budgets.json'],
    files: { 'budgets.json': '[["alice", "5"]]' },
    message: /budgets\.json: --budgets must be a JSON object of principal \(or name\) to USD limit/,
  },
  {
    name: 'a budgets file whose key looks like SQL injection',
    args: ['local', '--budgets', 'budgets.json'],
    files: { 'budgets.json': JSON.stringify({ "user/x'; DROP TABLE budgets;--": '5' }) },
    message: /budgets\.json: "user\/x'; DROP TABLE budgets;--" is not a principal/,
  },
  {
    name: 'a budgets file whose key is 3,000 characters',
    args: ['local', '--budgets', 'budgets.json'],
    files: { 'budgets.json': JSON.stringify({ [`user/${longName}`]: '5' }) },
    message: /^budgeteer: budgets\.json: "user\/a+\.\.\. is not a principal/m,
  },
  {
    name: 'a budgets file naming no principal of the scenario',
    args: ['local', '--budgets', 'budgets.json'],
    files: { 'budgets.json': '{"nobody-by-this-name": "5"}' },
    message: /--budgets: no principal in the scenario is named nobody-by-this-name/,
  },
  {
    name: 'a scenario file that is a broken JSON array',
    args: ['local', '--scenario', 'scenario.json'],
    files: { 'scenario.json': '[{"schemaType": "ModelInvocationLog",\n  "requestId": }]\n' },
    message: /^budgeteer: scenario\.json:2:16: not valid JSON: unexpected "}"$/m,
  },
  {
    name: 'a scenario file that is a broken pretty-printed record',
    args: ['local', '--scenario', 'scenario.json'],
    files: {
      'scenario.json': '{\n  "schemaType": "ModelInvocationLog",\n  "requestId": "r-1"\n  "operation": "x"\n}\n',
    },
    message: /^budgeteer: scenario\.json:4:3: not valid JSON: unexpected "\\""$/m,
  },
];

/** Runs the CLI in a folder of its own, without AWS credentials: what a refused command leaves there. */
function budgeteer(args: readonly string[], files: Record<string, string> = {}) {
  const cwd = mkdtempSync(join(tmpdir(), 'budgeteer-hostile-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(cwd, name), text);
  return new Promise<{ status: number | null; stdout: string; stderr: string; left: string[] }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_REGION: 'us-east-1' },
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr, left: readdirSync(cwd).sort() }));
  });
}

jest.setTimeout(180_000);

// The CLI starts in a few seconds (tsx compiles it): the cases run side by side.
const results = new Map<string, Awaited<ReturnType<typeof budgeteer>>>();
beforeAll(async () => {
  const settled = await Promise.all(CASES.map((c) => budgeteer(c.args, c.files)));
  CASES.forEach((c, i) => {
    results.set(c.name, settled[i] as Awaited<ReturnType<typeof budgeteer>>);
  });
});

describe('the CLI refuses bad arguments and malformed files', () => {
  it.each(CASES.map((c) => [c.name, c] as const))(
    'refuses %s: a clear message, exit 2, nothing started or written',
    (_name, c) => {
      const result = results.get(c.name);
      expect(result?.stderr).toMatch(c.message);
      expect(result?.stderr.length).toBeLessThan(1000);
      expect(result?.status).toBe(2);
      expect(result?.stdout).not.toMatch(/starting a local AWS/);
      expect(result?.left).toEqual(Object.keys(c.files ?? {}).sort());
    },
  );
});
