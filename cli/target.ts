import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Command } from 'commander';

/**
 * Where the running local stack (`npm start -- --serve`) records its endpoint and resource names; BUDGETEER_LOCAL_STATE
 * names another file (tests use one of their own, so they never touch a developer's).
 */
export const LOCAL_STATE_FILE = process.env.BUDGETEER_LOCAL_STATE || join(process.cwd(), '.local', 'stack.json');

export interface ClientConfig {
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/** What the CLI talks to: a deployed stack's resources (by their CloudFormation output names) and how to reach them. */
export interface Target {
  readonly clientConfig: ClientConfig;
  /** Stack outputs, e.g. `BudgetsTableName`, `AuditTableName`. */
  readonly outputs: Readonly<Record<string, string>>;
  /** The local stack's admin user's keys (a deployed stack has none: admins use their own credentials). */
  readonly admin?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly arn?: string };
}

export class TargetError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TargetError';
  }
}

export function output(target: Target, name: string): string {
  const value = target.outputs[name];
  if (!value) throw new TargetError(`the stack has no output ${name}: deploy the current version`);
  return value;
}

/** The local state file's content: the target, and which run wrote it (only that run may remove it). */
interface LocalState extends Target {
  readonly runId: string;
  readonly pid: number;
}

function readLocalState(file: string): LocalState | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LocalState;
  } catch {
    return undefined;
  }
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists, it is someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Records a serving local run's target for `--local` commands. Written whole under a temporary name and renamed, so
 * a reader never sees half a file; the run that wrote it last owns it.
 */
export function publishLocalState(target: Target, runId: string, file: string = LOCAL_STATE_FILE): void {
  mkdirSync(dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.tmp`;
  const state: LocalState = { runId, pid: process.pid, ...target };
  writeFileSync(partial, JSON.stringify(state, null, 2));
  renameSync(partial, file);
}

/** Removes the local state file if `runId` still owns it: a later serving run's file stays valid. */
export function withdrawLocalState(runId: string, file: string = LOCAL_STATE_FILE): void {
  if (readLocalState(file)?.runId === runId) rmSync(file, { force: true });
}

export function localTarget(file: string = LOCAL_STATE_FILE): Target {
  if (!existsSync(file)) {
    throw new TargetError('no local stack is running here: start one with `npm start -- --serve`');
  }
  const state = readLocalState(file);
  if (!state) throw new TargetError(`${file} is not a local stack's state: start one with \`npm start -- --serve\``);
  // A run killed outright (SIGKILL) leaves its file behind.
  if (typeof state.pid === 'number' && !isRunning(state.pid)) {
    throw new TargetError(
      `the local stack recorded in ${file} (pid ${state.pid}) is no longer running: start one with \`npm start -- --serve\``,
    );
  }
  return { clientConfig: state.clientConfig, outputs: state.outputs, ...(state.admin ? { admin: state.admin } : {}) };
}

export async function resolveTarget(options: { local?: boolean; stack?: string }): Promise<Target> {
  if (options.local) return localTarget();
  const stackName = options.stack ?? process.env.BUDGETEER_STACK ?? 'Budgeteer';
  const cloudFormation = new CloudFormationClient({});
  try {
    const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = Object.fromEntries(
      (Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']),
    );
    return { clientConfig: {}, outputs };
  } catch (cause) {
    throw new TargetError(`cannot read stack ${stackName} (is it deployed, and are AWS credentials set?)`, { cause });
  }
}

/** How a command names its target: the running local stack, or a deployed stack by name. */
export interface TargetOptions {
  readonly local?: boolean;
  readonly stack?: string;
}

export const targetOptions = (command: Command) =>
  command
    .option('--local', 'use the running local stack (npm start -- --serve)')
    .option('--stack <name>', 'the deployed stack to use (default: $BUDGETEER_STACK or Budgeteer)');

/** Resolves the target and lends `use` a DynamoDB document client for it, destroyed afterwards. */
export async function withDocuments<T>(
  options: TargetOptions,
  use: (documents: DynamoDBDocumentClient, target: Target) => Promise<T>,
): Promise<T> {
  const target = await resolveTarget(options);
  const client = new DynamoDBClient({ maxAttempts: 6, ...target.clientConfig });
  // As shared/clients: numbers stay exact on the way in and out.
  const documents = DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
    unmarshallOptions: { wrapNumbers: true },
  });
  try {
    return await use(documents, target);
  } finally {
    client.destroy();
  }
}
