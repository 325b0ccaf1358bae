/**
 * Each function's bundle and its cold init. The bundle is built with esbuild and the options the house construct
 * gives NodejsFunction (infra/constructs/function.ts: minify, source map, target node24, CommonJS, nothing
 * external), which is the asset CDK uploads. Cold init: the bundle required in a fresh Node process with the
 * function's environment (its variables from the template, `NODE_OPTIONS=--enable-source-maps` included), timed
 * inside that process from before `require` to after; the median of 5 processes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { ENTRY_METADATA, REPO_ROOT } from '../infra/constructs/function';
import { synthTemplate } from '../local/stack';

export interface BundleResult {
  readonly bytes: number;
  readonly sourceMapBytes: number;
  readonly initMs: number;
}

const INIT_RUNS = 5;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** The functions of the synthesized stack: entry -> environment (intrinsics replaced by placeholders). */
function functionsOfStack(): Map<string, Record<string, string>> {
  const functions = new Map<string, Record<string, string>>();
  for (const resource of Object.values(synthTemplate().Resources ?? {})) {
    const entry = (resource.Metadata as Record<string, unknown> | undefined)?.[ENTRY_METADATA];
    if (resource.Type !== 'AWS::Lambda::Function' || typeof entry !== 'string') continue;
    const variables = ((resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {}) as Record<string, unknown>;
    const environment = Object.fromEntries(
      Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : `bench-${name}`]),
    );
    functions.set(entry, environment);
  }
  return functions;
}

export async function measureBundles(progress: (line: string) => void): Promise<Record<string, BundleResult>> {
  const out = mkdtempSync(path.join(tmpdir(), 'budgeteer-bundles-'));
  const results: Record<string, BundleResult> = {};
  try {
    for (const [entry, environment] of functionsOfStack()) {
      const name = path.basename(path.dirname(entry));
      const outfile = path.join(out, name, 'index.js');
      await build({
        entryPoints: [path.join(REPO_ROOT, entry)],
        outfile,
        bundle: true,
        platform: 'node',
        target: 'node24',
        format: 'cjs',
        minify: true,
        sourcemap: true,
        logLevel: 'silent',
      });
      const script = `const t=performance.now();require(${JSON.stringify(outfile)});process.stdout.write(String(performance.now()-t))`;
      const runs: number[] = [];
      for (let i = 0; i < INIT_RUNS; i++) {
        const output = execFileSync(process.execPath, ['-e', script], {
          env: {
            PATH: process.env.PATH ?? '',
            AWS_REGION: 'us-east-1',
            AWS_LAMBDA_FUNCTION_NAME: name,
            // Node 20 here, Node 24 in Lambda: the SDK's warning about Node 20 is not part of the init.
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
            ...environment,
          },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        runs.push(Number(output));
      }
      results[name] = {
        bytes: statSync(outfile).size,
        sourceMapBytes: statSync(`${outfile}.map`).size,
        initMs: median(runs),
      };
      progress(`bundles: ${name} ${Math.round(results[name].bytes / 1024)} KB, init ${Math.round(median(runs))} ms`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return results;
}
