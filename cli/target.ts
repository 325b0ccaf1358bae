import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Command } from 'commander';

/** Where the running local stack (`npm start -- --serve`) records its endpoint and resource names. */
export const LOCAL_STATE_FILE = join(process.cwd(), '.local', 'stack.json');

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

export async function resolveTarget(options: { local?: boolean; stack?: string }): Promise<Target> {
  if (options.local) {
    if (!existsSync(LOCAL_STATE_FILE)) {
      throw new TargetError('no local stack is running here: start one with `npm start -- --serve`');
    }
    return JSON.parse(readFileSync(LOCAL_STATE_FILE, 'utf8')) as Target;
  }
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
