/**
 * Each function's bundle and its cold init. The bundle is built with esbuild and the options the house construct
 * gives NodejsFunction (`BUNDLING` in infra/constructs/function.ts), which is the asset CDK uploads. Beside it, the
 * same bundle with the AWS SDK left to the runtime's copy (`@aws-sdk/*` and `@smithy/*` external), the trade the
 * construct declines (it pins the SDK the code was tested with): its bytes, and its init with the SDK loaded from
 * node_modules as the runtime loads its own. Cold init: the bundle required in a fresh Node process with the
 * function's environment (its variables from the template, `NODE_OPTIONS=--enable-source-maps` included), timed
 * inside that process from before `require` to after; the median of 5 processes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type BuildOptions, build } from 'esbuild';
import { BUNDLING, ENTRY_METADATA, REPO_ROOT } from '../infra/constructs/function';
import type { CloudFormationTemplateJson } from '../local/deploy';

export interface BundleResult {
  readonly bytes: number;
  readonly sourceMapBytes: number;
  readonly initMs: number;
  /** The same function with the AWS SDK external (the runtime's): bytes, and init where measured. */
  readonly sdkExternal: { readonly bytes: number; readonly initMs?: number };
}

const INIT_RUNS = 5;
const SDK = ['@aws-sdk/*', '@smithy/*'];
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** The functions of the synthesized stack: entry -> environment (intrinsics replaced by placeholders). */
function functionsOf(template: CloudFormationTemplateJson): Map<string, Record<string, string>> {
  const functions = new Map<string, Record<string, string>>();
  for (const resource of Object.values(template.Resources ?? {})) {
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

/** NodejsFunction's bundling options as esbuild's (the names differ). */
const esbuildOptions = (external: readonly string[]): BuildOptions => ({
  bundle: true,
  platform: 'node',
  target: BUNDLING.target,
  format: BUNDLING.format === 'esm' ? 'esm' : 'cjs',
  minify: BUNDLING.minify,
  sourcemap: BUNDLING.sourceMap,
  sourcesContent: BUNDLING.sourcesContent,
  mainFields: BUNDLING.mainFields,
  external: [...(BUNDLING.externalModules ?? []), ...external],
  logLevel: 'silent',
});

/** Median cold init of a bundle in fresh Node processes, in ms. */
function coldInit(outfile: string, name: string, environment: Record<string, string>): number {
  const script = `const t=performance.now();require(${JSON.stringify(outfile)});process.stdout.write(String(performance.now()-t))`;
  const runs: number[] = [];
  for (let i = 0; i < INIT_RUNS; i++) {
    const output = execFileSync(process.execPath, ['-e', script], {
      env: {
        PATH: process.env.PATH ?? '',
        // Where an external module is found, as the runtime's SDK is found in Lambda.
        NODE_PATH: path.join(REPO_ROOT, 'node_modules'),
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
  return median(runs);
}

export async function measureBundles(
  template: CloudFormationTemplateJson,
  progress: (line: string) => void,
  options: { readonly sdkExternalInit: boolean },
): Promise<Record<string, BundleResult>> {
  const out = mkdtempSync(path.join(tmpdir(), 'budgeteer-bundles-'));
  const results: Record<string, BundleResult> = {};
  try {
    const functions = [...functionsOf(template)].map(([entry, environment]) => ({
      entry,
      environment,
      name: path.basename(path.dirname(entry)),
    }));
    // Builds at once (esbuild's own threads); the inits one process at a time, so they do not slow each other.
    const outfile = (variant: string, name: string) => path.join(out, variant, name, 'index.js');
    await Promise.all(
      functions.flatMap(({ entry, name }) =>
        [
          { variant: 'asset', external: [] },
          { variant: 'sdk-external', external: SDK },
        ].map(({ variant, external }) =>
          build({
            ...esbuildOptions(external),
            entryPoints: [path.join(REPO_ROOT, entry)],
            outfile: outfile(variant, name),
          }),
        ),
      ),
    );
    for (const { name, environment } of functions) {
      const asset = outfile('asset', name);
      const external = outfile('sdk-external', name);
      results[name] = {
        bytes: statSync(asset).size,
        sourceMapBytes: statSync(`${asset}.map`).size,
        initMs: coldInit(asset, name, environment),
        sdkExternal: {
          bytes: statSync(external).size,
          ...(options.sdkExternalInit ? { initMs: coldInit(external, name, environment) } : {}),
        },
      };
      const r = results[name];
      progress(
        `bundles: ${name} ${Math.round(r.bytes / 1024)} KB, init ${Math.round(r.initMs)} ms; SDK external ${Math.round(r.sdkExternal.bytes / 1024)} KB${r.sdkExternal.initMs === undefined ? '' : `, init ${Math.round(r.sdkExternal.initMs)} ms`}`,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return results;
}
