import path from 'node:path';
import type { Context } from 'aws-lambda';
import type { LocalAws } from './aws';
import { type CloudFormationTemplateJson, type DeployedHandler, ENTRY_METADATA } from './deploy';

/*
 * Handlers run in this process and, as in Lambda, read their configuration from process.env when their module is
 * first loaded. One process means one process.env: each handler is loaded with its own function's variables set,
 * and they stay set. The functions of one stack use the same variable names for the same things (the Budgets
 * table is BUDGETS_TABLE everywhere), so the union of their environments is consistent. A module two functions
 * share is loaded once, with the variables of whichever function loads first; where that matters, call
 * `applyEnvironment(local, deployment.environment)` before the first invocation.
 */

type LoadedHandler = (event: unknown, context: Context) => Promise<unknown>;

/** The repository root; entries such as `functions/ingest/handler.ts` are relative to it. */
export const REPOSITORY_ROOT = path.resolve(__dirname, '..');

export class HandlerLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HandlerLoadError';
  }
}

/** Points the AWS SDK at the local AWS and sets `environment`, as the Lambda runtime sets a function's. */
export function applyEnvironment(
  local: Pick<LocalAws, 'endpoint' | 'region' | 'credentials'>,
  environment: Readonly<Record<string, string>>,
): void {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: local.endpoint,
    AWS_REGION: local.region,
    AWS_DEFAULT_REGION: local.region,
    AWS_ACCESS_KEY_ID: local.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: local.credentials.secretAccessKey,
    ...environment,
  });
}

/** Sets the environment (see `applyEnvironment`), then loads `entry` and returns its exported `handler`. */
export function loadHandler(
  entry: string,
  environment: Readonly<Record<string, string>>,
  local: Pick<LocalAws, 'endpoint' | 'region' | 'credentials'>,
  rootDir: string = REPOSITORY_ROOT,
): LoadedHandler {
  applyEnvironment(local, environment);
  const file = path.resolve(rootDir, entry);
  let loaded: { handler?: unknown };
  try {
    // Loaded on demand, after the environment is set: that is the point of this function.
    loaded = require(file) as { handler?: unknown };
  } catch (error) {
    throw new HandlerLoadError(`cannot load ${entry}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof loaded.handler !== 'function') throw new HandlerLoadError(`${entry} exports no handler function`);
  return loaded.handler as LoadedHandler;
}

/**
 * A handler for every `budgeteer:entry` in `template`, for `deployTemplate`'s `handlers`: each module is loaded on
 * its function's first invocation, with that function's environment.
 */
export function handlersFor(
  template: CloudFormationTemplateJson,
  local: Pick<LocalAws, 'endpoint' | 'region' | 'credentials'>,
  rootDir: string = REPOSITORY_ROOT,
): Record<string, DeployedHandler> {
  const handlers: Record<string, DeployedHandler> = {};
  for (const resource of Object.values(template.Resources ?? {})) {
    const entry = resource.Metadata?.[ENTRY_METADATA];
    if (resource.Type !== 'AWS::Lambda::Function' || typeof entry !== 'string' || handlers[entry]) continue;
    let loaded: LoadedHandler | undefined;
    handlers[entry] = (event, context, environment) => {
      loaded ??= loadHandler(entry, environment, local, rootDir);
      return loaded(event, context);
    };
  }
  return handlers;
}
