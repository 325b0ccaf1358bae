import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { BudgeteerConfig } from '../config';

/** Repository root: function entries are given relative to it, as `functions/ingest/handler.ts`. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Every queue the project makes: encrypted, TLS only. */
export const QUEUE_DEFAULTS = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true } as const;
/** Queues that keep what failed (dead letters, rejected records) hold it for SQS's maximum, 14 days. */
export const KEEPING_QUEUE = { ...QUEUE_DEFAULTS, retentionPeriod: Duration.days(14) } as const;

/** Metadata key the local stack reads to run a function's handler in process. */
export const ENTRY_METADATA = 'budgeteer:entry';

/**
 * How every function is bundled, and what bench/bundles.ts measures: minified; packages' ES module entry points
 * first (`module` before `main`), so esbuild drops what is not imported (a fifth of each bundle: the AWS SDK's
 * CommonJS builds cannot be tree-shaken); source maps without the sources' text (stack traces keep file and line,
 * and the map, which Node reads at every cold start with --enable-source-maps, is a third of the size).
 */
export const BUNDLING: BundlingOptions = {
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  mainFields: ['module', 'main'],
  target: 'node24',
  format: OutputFormat.CJS,
  // The runtime ships the AWS SDK v3, but bundling pins the exact version the code was tested with.
  externalModules: [],
};

export interface BudgeteerFunctionProps {
  /** Handler module, relative to the repository root; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  /** @default {} */
  readonly environment?: Record<string, string>;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default 90 */
  readonly logRetentionDays?: logs.RetentionDays;
}

/**
 * The one way this project builds a Lambda function: current Node runtime on ARM64, bundled with source maps,
 * its own log group with retention, X-Ray tracing, and a dead-letter queue for failed asynchronous invocations.
 * Its role may write to that log group and nothing else until the construct that uses it grants more.
 */
export class BudgeteerFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BudgeteerFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', KEEPING_QUEUE);
    // Not the default role: AWSLambdaBasicExecutionRole lets it create and write any log group in the account.
    this.role = new iam.Role(this, 'ServiceRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs ${props.entry}`,
    });
    this.logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(REPO_ROOT, props.entry),
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      role: this.role,
      tracing: lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      deadLetterQueue: this.deadLetterQueue,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: BUNDLING,
    });
    (this.function.node.defaultChild as lambda.CfnFunction).addMetadata(ENTRY_METADATA, props.entry);
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource to name. Every other ' +
        'action a function role holds on "*" is listed, with its reason, in test/infra/least-privilege.test.ts',
    });
  }
}

/** The EventBridge rule (`Schedule`, in `scope`) that runs a scheduled function: the prices, digest, sweep and reconcile. */
export function scheduleFunction(
  scope: Construct,
  fn: BudgeteerFunction,
  schedule: events.Schedule,
  description: string,
): events.Rule {
  return new events.Rule(scope, 'Schedule', {
    description,
    schedule,
    targets: [new targets.LambdaFunction(fn.function)],
  });
}

/**
 * What a function that names principals needs to name them as ingest does (shared/config.ts identityRulesFromEnv):
 * the per-session role patterns, and in an organization deployment the organization and the deployment's own
 * account, whose principals alone keep unqualified ids.
 */
export function identityEnvironment(
  scope: Construct,
  config: Pick<BudgeteerConfig, 'perSessionRoles' | 'organizationId'>,
): Record<string, string> {
  return {
    PER_SESSION_ROLES: JSON.stringify(config.perSessionRoles),
    ACCOUNT_ID: Stack.of(scope).account,
    ...(config.organizationId ? { ORGANIZATION_ID: config.organizationId } : {}),
  };
}
