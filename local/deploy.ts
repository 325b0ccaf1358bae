import { randomBytes } from 'node:crypto';
import {
  type AttributeDefinition,
  type BillingMode,
  CreateTableCommand,
  type CreateTableCommandInput,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  type LocalSecondaryIndex,
  type Projection,
  type ProvisionedThroughput,
  type StreamViewType,
  type Tag,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  IncreaseStreamRetentionPeriodCommand,
  StartStreamEncryptionCommand,
  type StreamModeDetails,
} from '@aws-sdk/client-kinesis';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateStateMachineCommand, SFNClient, type StateMachineType } from '@aws-sdk/client-sfn';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import type { LocalAws } from './aws';
import {
  evaluateCondition,
  type IntrinsicContext,
  IntrinsicError,
  referencedNames,
  resolveString,
  resolveValue,
} from './intrinsics';
import { localKinesisClient } from './kinesis';
import { functionNameOf } from './lambda';

/** A resource as `cdk synth` writes it. */
export interface CloudFormationResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
  readonly Metadata?: Readonly<Record<string, unknown>>;
  readonly DependsOn?: string | readonly string[];
  readonly Condition?: string;
}

/** A synthesized template, parsed from JSON (`Template.fromStack(stack).toJSON()` or `cdk.out/*.template.json`). */
export interface CloudFormationTemplateJson {
  readonly Resources?: Readonly<Record<string, CloudFormationResource>>;
  readonly Parameters?: Readonly<Record<string, { readonly Type?: string; readonly Default?: unknown }>>;
  readonly Conditions?: Readonly<Record<string, unknown>>;
  readonly Mappings?: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, unknown>>>>>>;
  readonly Outputs?: Readonly<Record<string, { readonly Value: unknown }>>;
}

/** The metadata key that names a function's source entry, e.g. `functions/ingest/handler.ts`. */
export const ENTRY_METADATA = 'budgeteer:entry';

/** Runs a deployed function: its event and context, plus the environment its resource declares. */
export type DeployedHandler = (
  event: unknown,
  context: Context,
  environment: Readonly<Record<string, string>>,
) => Promise<unknown>;

export interface DeployOptions {
  /** Handler per `budgeteer:entry`; every entry in the template needs one (see `handlersFor` in ./handlers). */
  readonly handlers: Readonly<Record<string, DeployedHandler>>;
  /** Prefix of generated physical names. @default 'budgeteer' */
  readonly stackName?: string;
  /** Values for template parameters; otherwise their defaults. */
  readonly parameters?: Readonly<Record<string, string>>;
  /** @default discard */
  readonly log?: (line: string) => void;
  /**
   * Creates the template's IAM roles and their inline policies (AWS::IAM::Role, AWS::IAM::Policy) in moto, where
   * otherwise they are only recorded: for a stack whose roles something else assumes or reads, such as a member
   * account's enforcement role. @default false
   */
  readonly createIam?: boolean;
}

export interface DeployedResource {
  readonly logicalId: string;
  readonly type: string;
  /** What `Ref` returns, as CloudFormation defines it per type (a table's name, a topic's ARN, a queue's URL). */
  readonly physicalId: string;
  readonly arn: string | undefined;
  /** What `Fn::GetAtt` returns. */
  readonly attributes: Readonly<Record<string, string>>;
  /**
   * False for what is only recorded so references resolve (IAM, logs, alarms, ...) and for functions without a
   * `budgeteer:entry`; true for what exists in moto, functions registered in the front, and served URLs.
   */
  readonly created: boolean;
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface DeployedFunction {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly entry: string;
  /** `Environment.Variables`, resolved to local names and ARNs. */
  readonly environment: Readonly<Record<string, string>>;
  /** Its execution role (`Role`), which Lambda names in stream records as `invokeIdentityArn`. */
  readonly roleArn: string | undefined;
}

/** An `AWS::Lambda::EventSourceMapping`, resolved; `startEventSourceMappings` in ./streams runs them. */
export interface DeployedEventSourceMapping {
  readonly logicalId: string;
  readonly functionName: string;
  readonly eventSourceArn: string;
  readonly batchSize: number;
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  readonly reportBatchItemFailures: boolean;
  /** -1: until the records expire, as in AWS. */
  readonly maximumRetryAttempts: number;
  /** `FilterCriteria.Filters[].Pattern`, parsed. */
  readonly filterPatterns: readonly unknown[];
  readonly onFailureDestinationArn: string | undefined;
  readonly enabled: boolean;
  /** BisectBatchOnFunctionError (streams). */
  readonly bisectBatchOnFunctionError: boolean;
  /** MaximumBatchingWindowInSeconds. */
  readonly maximumBatchingWindowInSeconds: number;
  /** ParallelizationFactor (streams): concurrent batches per shard. */
  readonly parallelizationFactor: number;
}

export interface Deployment {
  readonly stackName: string;
  readonly resources: Readonly<Record<string, DeployedResource>>;
  /** Functions with a `budgeteer:entry`, registered in the Lambda front under their names. */
  readonly functions: Readonly<Record<string, DeployedFunction>>;
  readonly eventSourceMappings: readonly DeployedEventSourceMapping[];
  readonly outputs: Readonly<Record<string, string>>;
  /** Every function's environment in one: the functions of a stack share variable names, so the union is safe. */
  readonly environment: Readonly<Record<string, string>>;
  /** The one resource of `type` that matches; throws when none or several do. */
  find(type: string, predicate?: (resource: DeployedResource) => boolean): DeployedResource;
  /** Every resource of `type` that matches, in deploy order. */
  filter(type: string, predicate?: (resource: DeployedResource) => boolean): DeployedResource[];
}

export class DeployError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeployError';
  }
}

interface Clients {
  readonly dynamodb: DynamoDBClient;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
  readonly sfn: SFNClient;
  readonly secrets: SecretsManagerClient;
  readonly kinesis: ReturnType<typeof localKinesisClient>;
  readonly iam: IAMClient;
}

type Outcome = Omit<DeployedResource, 'logicalId' | 'type' | 'metadata'>;

/**
 * Creates in moto the resources of a CDK-synthesized template (tables, topics, subscriptions, queues, state
 * machines), registers its functions in the Lambda front, serves its function URLs on loopback, and records the
 * rest (roles, policies, log groups, alarms, ...) so that references to them resolve.
 */
export async function deployTemplate(
  local: LocalAws,
  template: CloudFormationTemplateJson,
  opts: DeployOptions,
): Promise<Deployment> {
  const stackName = opts.stackName ?? 'budgeteer';
  const log = opts.log ?? (() => {});
  const clients: Clients = {
    dynamodb: new DynamoDBClient(local.clientConfig),
    sns: new SNSClient(local.clientConfig),
    sqs: new SQSClient(local.clientConfig),
    sfn: new SFNClient(local.clientConfig),
    secrets: new SecretsManagerClient(local.clientConfig),
    kinesis: localKinesisClient(local.clientConfig),
    iam: new IAMClient(local.clientConfig),
  };
  const deployer = new TemplateDeployer(local, template, opts, stackName, log, clients);
  try {
    return await deployer.deploy();
  } finally {
    for (const client of Object.values(clients)) client.destroy();
  }
}

/** Deploys one template: creates its resources in dependency order and resolves the references between them. */
class TemplateDeployer implements IntrinsicContext {
  readonly pseudo: Readonly<Record<string, unknown>>;
  private readonly resources: Record<string, DeployedResource> = {};
  private readonly functions: Record<string, DeployedFunction> = {};
  private readonly mappings: DeployedEventSourceMapping[] = [];
  private readonly conditions = new Map<string, boolean>();
  private readonly templateResources: Readonly<Record<string, CloudFormationResource>>;

  constructor(
    private readonly local: LocalAws,
    private readonly template: CloudFormationTemplateJson,
    private readonly opts: DeployOptions,
    private readonly stackName: string,
    private readonly log: (line: string) => void,
    private readonly clients: Clients,
  ) {
    this.templateResources = template.Resources ?? {};
    this.pseudo = {
      'AWS::Region': local.region,
      'AWS::AccountId': local.accountId,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': stackName,
      'AWS::StackId': `arn:aws:cloudformation:${local.region}:${local.accountId}:stack/${stackName}/local`,
      'AWS::NotificationARNs': [],
    };
  }

  async deploy(): Promise<Deployment> {
    for (const logicalId of this.deployOrder()) {
      const resource = this.templateResources[logicalId];
      if (!resource) continue;
      if (resource.Condition && !this.condition(resource.Condition)) {
        this.log(`deploy: ${logicalId} skipped, condition ${resource.Condition} is false`);
        continue;
      }
      try {
        const outcome = await this.create(logicalId, resource);
        this.resources[logicalId] = {
          logicalId,
          type: resource.Type,
          metadata: resource.Metadata ?? {},
          ...outcome,
        };
      } catch (error) {
        if (error instanceof DeployError) throw error;
        throw new DeployError(`${logicalId} (${resource.Type}): ${(error as Error).message}`, { cause: error });
      }
    }
    const environment = Object.assign({}, ...Object.values(this.functions).map((fn) => fn.environment));
    return new LocalDeployment(
      this.stackName,
      this.resources,
      this.functions,
      this.mappings,
      this.outputs(),
      environment,
    );
  }

  // --- IntrinsicContext -------------------------------------------------------------------------------------

  ref(name: string): unknown {
    const resource = this.resources[name];
    if (resource) return resource.physicalId;
    const parameter = this.template.Parameters?.[name];
    if (parameter) {
      const value = this.opts.parameters?.[name] ?? parameter.Default;
      if (value === undefined) throw new IntrinsicError(`parameter ${name} has no value; pass it in parameters`);
      return parameter.Type === 'CommaDelimitedList' || parameter.Type?.startsWith('List<')
        ? String(value).split(',')
        : value;
    }
    if (this.templateResources[name]) throw new IntrinsicError(`Ref ${name}: that resource was not deployed`);
    throw new IntrinsicError(`Ref ${name}: no such resource or parameter`);
  }

  getAtt(logicalId: string, attribute: string): unknown {
    const resource = this.resources[logicalId];
    if (!resource) throw new IntrinsicError(`Fn::GetAtt ${logicalId}.${attribute}: that resource was not deployed`);
    const value = resource.attributes[attribute];
    if (value === undefined) {
      throw new IntrinsicError(`Fn::GetAtt ${logicalId}.${attribute}: not available locally for ${resource.type}`);
    }
    return value;
  }

  condition(name: string): boolean {
    const known = this.conditions.get(name);
    if (known !== undefined) return known;
    const expression = this.template.Conditions?.[name];
    if (expression === undefined) throw new IntrinsicError(`no condition ${name}`);
    const value = evaluateCondition(expression, this);
    this.conditions.set(name, value);
    return value;
  }

  findInMap(map: string, topKey: string, secondKey: string): unknown {
    const value = this.template.Mappings?.[map]?.[topKey]?.[secondKey];
    if (value === undefined) throw new IntrinsicError(`Fn::FindInMap ${map}.${topKey}.${secondKey}: not in Mappings`);
    return value;
  }

  // --- order --------------------------------------------------------------------------------------------------

  /** Resources after everything they refer to or depend on; CloudFormation templates have no cycles. */
  private deployOrder(): string[] {
    const order: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (logicalId: string, from: string[]) => {
      const resource = this.templateResources[logicalId];
      if (!resource || state.get(logicalId) === 'done') return;
      if (state.get(logicalId) === 'visiting') {
        throw new DeployError(`circular reference: ${[...from, logicalId].join(' -> ')}`);
      }
      state.set(logicalId, 'visiting');
      const dependsOn = typeof resource.DependsOn === 'string' ? [resource.DependsOn] : (resource.DependsOn ?? []);
      for (const name of [...dependsOn, ...referencedNames(resource.Properties ?? {})]) {
        visit(name, [...from, logicalId]);
      }
      state.set(logicalId, 'done');
      order.push(logicalId);
    };
    for (const logicalId of Object.keys(this.templateResources)) visit(logicalId, []);
    return order;
  }

  // --- resources ----------------------------------------------------------------------------------------------

  private create(logicalId: string, resource: CloudFormationResource): Promise<Outcome> {
    const props = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::DynamoDB::Table':
        return this.createTable(logicalId, props, false);
      case 'AWS::DynamoDB::GlobalTable':
        return this.createTable(logicalId, props, true);
      case 'AWS::SNS::Topic':
        return this.createTopic(logicalId, props);
      case 'AWS::SNS::Subscription':
        return this.createSubscription(props);
      case 'AWS::SQS::Queue':
        return this.createQueue(logicalId, props);
      case 'AWS::StepFunctions::StateMachine':
        return this.createStateMachine(logicalId, props);
      case 'AWS::Lambda::Function':
        return Promise.resolve(this.registerFunction(logicalId, resource));
      case 'AWS::Lambda::Url':
        return this.serveFunctionUrl(props);
      case 'AWS::Lambda::EventSourceMapping':
        return Promise.resolve(this.recordEventSourceMapping(logicalId, props));
      case 'AWS::SecretsManager::Secret':
        return this.createSecret(logicalId, props);
      case 'AWS::Kinesis::Stream':
        return this.createStream(logicalId, props);
      case 'AWS::Events::EventBus':
        return Promise.resolve(this.recordEventBus(logicalId, props));
      case 'AWS::Logs::Destination':
        return Promise.resolve(this.recordLogsDestination(logicalId, props));
      case 'AWS::CloudFormation::StackSet':
        return Promise.resolve(this.skipStackSet(logicalId, props));
      case 'AWS::IAM::Role':
        return this.opts.createIam
          ? this.createRole(logicalId, props)
          : Promise.resolve(this.record(logicalId, resource));
      case 'AWS::IAM::Policy':
        return this.opts.createIam
          ? this.createRolePolicy(logicalId, props)
          : Promise.resolve(this.record(logicalId, resource));
      default:
        return Promise.resolve(this.record(logicalId, resource));
    }
  }

  private nameFor(logicalId: string, props: Readonly<Record<string, unknown>>, nameProperty: string): string {
    const explicit = props[nameProperty];
    return explicit === undefined
      ? `${this.stackName}-${logicalId}`
      : resolveString(explicit, this, `${logicalId}.${nameProperty}`);
  }

  private resolved<T>(value: unknown): T | undefined {
    return value === undefined ? undefined : (resolveValue(value, this) as T);
  }

  private async createTable(
    logicalId: string,
    props: Readonly<Record<string, unknown>>,
    global: boolean,
  ): Promise<Outcome> {
    const p = resolveValue(props, this) as TableProperties;
    const name = this.nameFor(logicalId, props, 'TableName');
    // A global table's capacity lives on its replicas and auto-scaling settings; on-demand is the same locally.
    const billing: BillingMode = global ? 'PAY_PER_REQUEST' : (p.BillingMode ?? 'PROVISIONED');
    const input: CreateTableCommandInput = {
      TableName: name,
      KeySchema: p.KeySchema,
      AttributeDefinitions: p.AttributeDefinitions,
      BillingMode: billing,
      ProvisionedThroughput: billing === 'PROVISIONED' ? p.ProvisionedThroughput : undefined,
      GlobalSecondaryIndexes: p.GlobalSecondaryIndexes?.map((index) => ({
        IndexName: index.IndexName,
        KeySchema: index.KeySchema,
        Projection: index.Projection,
        ProvisionedThroughput: billing === 'PROVISIONED' ? index.ProvisionedThroughput : undefined,
      })),
      LocalSecondaryIndexes: p.LocalSecondaryIndexes?.map((index) => ({
        IndexName: index.IndexName,
        KeySchema: index.KeySchema,
        Projection: index.Projection,
      })),
      StreamSpecification: p.StreamSpecification
        ? { StreamEnabled: true, StreamViewType: p.StreamSpecification.StreamViewType }
        : undefined,
      Tags: p.Tags?.length ? p.Tags : undefined,
    };
    const created = await this.clients.dynamodb.send(new CreateTableCommand(input));
    const ttl = p.TimeToLiveSpecification;
    if (ttl && String(ttl.Enabled) === 'true') {
      await this.clients.dynamodb.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true },
        }),
      );
    }
    const arn = created.TableDescription?.TableArn ?? this.arn('dynamodb', `table/${name}`);
    const streamArn = created.TableDescription?.LatestStreamArn;
    this.log(`deploy: ${logicalId} table ${name}${streamArn ? ` stream ${streamArn}` : ''}`);
    return {
      physicalId: name,
      arn,
      attributes: { Arn: arn, ...(streamArn ? { StreamArn: streamArn } : {}), ...(global ? { TableId: name } : {}) },
      created: true,
    };
  }

  private async createTopic(logicalId: string, props: Readonly<Record<string, unknown>>): Promise<Outcome> {
    const p = resolveValue(props, this) as TopicProperties;
    const fifo = String(p.FifoTopic) === 'true';
    const base = this.nameFor(logicalId, props, 'TopicName');
    const name = fifo && !base.endsWith('.fifo') ? `${base}.fifo` : base;
    const attributes = stringAttributes({
      DisplayName: p.DisplayName,
      FifoTopic: fifo ? 'true' : undefined,
      ContentBasedDeduplication: p.ContentBasedDeduplication,
    });
    const created = await this.clients.sns.send(new CreateTopicCommand({ Name: name, Attributes: attributes }));
    const arn = created.TopicArn ?? this.arn('sns', name);
    for (const subscription of p.Subscription ?? []) {
      await this.clients.sns.send(
        new SubscribeCommand({ TopicArn: arn, Protocol: subscription.Protocol, Endpoint: subscription.Endpoint }),
      );
    }
    this.log(`deploy: ${logicalId} topic ${arn}`);
    return { physicalId: arn, arn, attributes: { TopicArn: arn, TopicName: name }, created: true };
  }

  /** A secret, with its value generated here as CloudFormation would (`GenerateSecretString`) when it has none. */
  private async createSecret(logicalId: string, props: Readonly<Record<string, unknown>>): Promise<Outcome> {
    const p = resolveValue(props, this) as { Name?: string; SecretString?: string; GenerateSecretString?: unknown };
    const name = p.Name ?? `${this.stackName}-${logicalId}`;
    const created = await this.clients.secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: p.SecretString ?? randomBytes(48).toString('base64url') }),
    );
    const arn = created.ARN ?? this.arn('secretsmanager', `secret:${name}`);
    this.log(`deploy: ${logicalId} secret ${arn}`);
    return { physicalId: arn, arn, attributes: { Id: arn }, created: true };
  }

  private async createSubscription(props: Readonly<Record<string, unknown>>): Promise<Outcome> {
    const p = resolveValue(props, this) as SubscriptionProperties;
    const attributes = stringAttributes({
      RawMessageDelivery: p.RawMessageDelivery,
      FilterPolicy: p.FilterPolicy === undefined ? undefined : JSON.stringify(p.FilterPolicy),
      FilterPolicyScope: p.FilterPolicyScope,
      RedrivePolicy: p.RedrivePolicy === undefined ? undefined : JSON.stringify(p.RedrivePolicy),
    });
    const created = await this.clients.sns.send(
      new SubscribeCommand({
        TopicArn: p.TopicArn,
        Protocol: p.Protocol,
        Endpoint: p.Endpoint,
        Attributes: attributes,
        ReturnSubscriptionArn: true,
      }),
    );
    const arn = created.SubscriptionArn ?? `${p.TopicArn}:subscription`;
    return { physicalId: arn, arn, attributes: { Arn: arn }, created: true };
  }

  private async createQueue(logicalId: string, props: Readonly<Record<string, unknown>>): Promise<Outcome> {
    const p = resolveValue(props, this) as Record<string, unknown>;
    const fifo = String(p.FifoQueue) === 'true';
    const base = this.nameFor(logicalId, props, 'QueueName');
    const name = fifo && !base.endsWith('.fifo') ? `${base}.fifo` : base;
    const json = (value: unknown) => (value === undefined || typeof value === 'string' ? value : JSON.stringify(value));
    const attributes = stringAttributes({
      DelaySeconds: p.DelaySeconds,
      MaximumMessageSize: p.MaximumMessageSize,
      MessageRetentionPeriod: p.MessageRetentionPeriod,
      ReceiveMessageWaitTimeSeconds: p.ReceiveMessageWaitTimeSeconds,
      VisibilityTimeout: p.VisibilityTimeout,
      FifoQueue: fifo ? 'true' : undefined,
      ContentBasedDeduplication: p.ContentBasedDeduplication,
      DeduplicationScope: p.DeduplicationScope,
      FifoThroughputLimit: p.FifoThroughputLimit,
      RedrivePolicy: json(p.RedrivePolicy),
      RedriveAllowPolicy: json(p.RedriveAllowPolicy),
    });
    const created = await this.clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const url = created.QueueUrl;
    if (!url) throw new DeployError(`${logicalId}: CreateQueue returned no QueueUrl`);
    const described = await this.clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    const arn = described.Attributes?.QueueArn ?? this.arn('sqs', name);
    this.log(`deploy: ${logicalId} queue ${url}`);
    return { physicalId: url, arn, attributes: { Arn: arn, QueueName: name, QueueUrl: url }, created: true };
  }

  private async createStateMachine(logicalId: string, props: Readonly<Record<string, unknown>>): Promise<Outcome> {
    const name = this.nameFor(logicalId, props, 'StateMachineName');
    if (props.DefinitionS3Location !== undefined) {
      throw new DeployError(`${logicalId}: DefinitionS3Location is not supported locally; use DefinitionString`);
    }
    let definition =
      props.DefinitionString !== undefined
        ? resolveString(props.DefinitionString, this, `${logicalId}.DefinitionString`)
        : JSON.stringify(this.resolved(props.Definition) ?? {});
    const substitutions = this.resolved<Record<string, unknown>>(props.DefinitionSubstitutions) ?? {};
    for (const [key, value] of Object.entries(substitutions)) {
      definition = definition.split(`\${${key}}`).join(typeof value === 'string' ? value : JSON.stringify(value));
    }
    const roleArn =
      props.RoleArn === undefined ? this.arn('iam', `role/${name}`, '') : this.resolved<string>(props.RoleArn);
    const created = await this.clients.sfn.send(
      new CreateStateMachineCommand({
        name,
        definition,
        roleArn,
        type: this.resolved<StateMachineType>(props.StateMachineType),
      }),
    );
    const arn = created.stateMachineArn;
    if (!arn) throw new DeployError(`${logicalId}: CreateStateMachine returned no ARN`);
    this.log(`deploy: ${logicalId} state machine ${arn}`);
    return { physicalId: arn, arn, attributes: { Arn: arn, Name: name }, created: true };
  }

  private registerFunction(logicalId: string, resource: CloudFormationResource): Outcome {
    const props = resource.Properties ?? {};
    const name = this.nameFor(logicalId, props, 'FunctionName');
    const arn = this.local.functionArn(name);
    const outcome: Outcome = { physicalId: name, arn, attributes: { Arn: arn }, created: false };
    const entry = resource.Metadata?.[ENTRY_METADATA];
    if (typeof entry !== 'string') {
      // CDK's own helpers (log retention, custom resource providers) have no entry; nothing calls them locally.
      this.log(`deploy: ${logicalId} function ${name} has no ${ENTRY_METADATA}; not registered`);
      return outcome;
    }
    const handler = this.opts.handlers[entry];
    if (!handler) throw new DeployError(`${logicalId}: no handler given for entry ${entry}`);
    const environment: Record<string, string> = {};
    const variables = this.resolved<Record<string, unknown>>(
      (props.Environment as { Variables?: unknown } | undefined)?.Variables,
    );
    for (const [key, value] of Object.entries(variables ?? {})) {
      environment[key] = resolveString(value, this, `${logicalId} environment ${key}`);
    }
    const timeout = this.resolved<number>(props.Timeout);
    const memory = this.resolved<number>(props.MemorySize);
    this.local.registerFunction(name, (event, context) => handler(event, context, environment), {
      ...(timeout === undefined ? {} : { timeoutSeconds: Number(timeout) }),
      ...(memory === undefined ? {} : { memorySizeMb: Number(memory) }),
    });
    const roleArn = props.Role === undefined ? undefined : resolveString(props.Role, this, `${logicalId}.Role`);
    this.functions[logicalId] = { logicalId, name, arn, entry, environment, roleArn };
    this.log(`deploy: ${logicalId} function ${name} runs ${entry}`);
    return { ...outcome, created: true };
  }

  private async serveFunctionUrl(props: Readonly<Record<string, unknown>>): Promise<Outcome> {
    const target = resolveString(props.TargetFunctionArn, this, 'TargetFunctionArn');
    const name = functionNameOf(target);
    const authType = this.resolved<string>(props.AuthType);
    if (authType !== 'NONE' && authType !== 'AWS_IAM') {
      // Not a DeployError: the deploy loop wraps it in one that names the resource.
      throw new TypeError(`AuthType must be NONE or AWS_IAM, not ${String(authType)}`);
    }
    const url = await this.local.serveFunctionUrl(name, authType);
    const arn = this.local.functionArn(name);
    this.log(`deploy: function URL ${url} (${authType}) runs ${name}`);
    return { physicalId: arn, arn, attributes: { FunctionArn: arn, FunctionUrl: url }, created: true };
  }

  /** A Kinesis data stream in moto, in the template's capacity mode (moto gives an on-demand stream 4 shards). */
  private async createStream(logicalId: string, props: Readonly<Record<string, unknown>>): Promise<Outcome> {
    const p = resolveValue(props, this) as StreamProperties;
    const name = this.nameFor(logicalId, props, 'Name');
    const mode: StreamModeDetails = {
      StreamMode: p.StreamModeDetails?.StreamMode === 'ON_DEMAND' ? 'ON_DEMAND' : 'PROVISIONED',
    };
    await this.clients.kinesis.send(
      new CreateStreamCommand({
        StreamName: name,
        StreamModeDetails: mode,
        ...(mode.StreamMode === 'PROVISIONED' ? { ShardCount: Number(p.ShardCount ?? 1) } : {}),
      }),
    );
    const hours = Number(p.RetentionPeriodHours ?? 24);
    if (hours > 24) {
      await this.clients.kinesis.send(
        new IncreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: hours }),
      );
    }
    if (p.StreamEncryption?.EncryptionType === 'KMS') {
      await this.clients.kinesis.send(
        new StartStreamEncryptionCommand({
          StreamName: name,
          EncryptionType: 'KMS',
          KeyId: p.StreamEncryption.KeyId ?? 'alias/aws/kinesis',
        }),
      );
    }
    const { StreamDescriptionSummary: summary } = await this.clients.kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: name }),
    );
    const arn = summary?.StreamARN ?? this.arn('kinesis', `stream/${name}`);
    this.log(`deploy: ${logicalId} Kinesis stream ${arn} (${mode.StreamMode}, ${summary?.OpenShardCount} shards)`);
    return { physicalId: name, arn, attributes: { Arn: arn }, created: true };
  }

  /**
   * An event bus: recorded, not created in moto. The local stack is its EventBridge (LocalStack.putEvents routes
   * events put on it through the rules the template gives it); its policy (AWS::Events::EventBusPolicy) is recorded
   * and is what the organization's member emulation follows (only the organization's accounts put events).
   */
  private recordEventBus(logicalId: string, props: Readonly<Record<string, unknown>>): Outcome {
    const name = this.nameFor(logicalId, props, 'Name');
    const arn = this.arn('events', `event-bus/${name}`);
    this.log(`deploy: ${logicalId} event bus ${name}, routed by the local stack's EventBridge (LocalStack.putEvents)`);
    return { physicalId: name, arn, attributes: { Arn: arn, Name: name }, created: true };
  }

  /**
   * A CloudWatch Logs destination: moto has no subscription delivery to Kinesis, so the destination is emulated
   * here: it is remembered with its target stream (attribute `TargetArn`), and deliveries to it go on that stream
   * as CloudWatch Logs would put them (see deliverInvocationLogs in ./organization).
   */
  private recordLogsDestination(logicalId: string, props: Readonly<Record<string, unknown>>): Outcome {
    const p = resolveValue(props, this) as { DestinationName: string; TargetArn: string; RoleArn: string };
    const arn = this.arn('logs', `destination:${p.DestinationName}`);
    this.log(
      `deploy: ${logicalId} Logs destination ${p.DestinationName} -> ${p.TargetArn}, emulated (local/organization.ts delivers to it)`,
    );
    return {
      physicalId: p.DestinationName,
      arn,
      attributes: { Arn: arn, TargetArn: p.TargetArn, RoleArn: p.RoleArn },
      created: true,
    };
  }

  /** A StackSet deploys to other accounts, which a single local deployment does not do (./organization does). */
  private skipStackSet(logicalId: string, props: Readonly<Record<string, unknown>>): Outcome {
    const name = this.nameFor(logicalId, props, 'StackSetName');
    this.log(
      `deploy: ${logicalId} StackSet ${name} skipped: the local run deploys the member template into each member ` +
        'account itself (local/organization.ts)',
    );
    return { physicalId: name, arn: undefined, attributes: { StackSetId: `${name}:local` }, created: false };
  }

  /** An IAM role in moto, with its trust policy (createIam only). */
  private async createRole(logicalId: string, props: Readonly<Record<string, unknown>>): Promise<Outcome> {
    const p = resolveValue(props, this) as { AssumeRolePolicyDocument: unknown; Description?: string; Path?: string };
    const name = this.nameFor(logicalId, props, 'RoleName');
    const created = await this.clients.iam.send(
      new CreateRoleCommand({
        RoleName: name,
        AssumeRolePolicyDocument: JSON.stringify(p.AssumeRolePolicyDocument),
        Description: p.Description,
        Path: p.Path,
      }),
    );
    const arn = created.Role?.Arn ?? this.arn('iam', `role/${name}`, '');
    this.log(`deploy: ${logicalId} role ${arn}`);
    return { physicalId: name, arn, attributes: { Arn: arn, RoleId: created.Role?.RoleId ?? name }, created: true };
  }

  /** An inline policy put on each of its roles in moto (createIam only; users and groups are not supported). */
  private async createRolePolicy(logicalId: string, props: Readonly<Record<string, unknown>>): Promise<Outcome> {
    const p = resolveValue(props, this) as { PolicyName: string; PolicyDocument: unknown; Roles?: string[] };
    if ((props.Users ?? props.Groups) !== undefined) {
      throw new TypeError('createIam puts policies on roles only; this one names users or groups');
    }
    for (const role of p.Roles ?? []) {
      await this.clients.iam.send(
        new PutRolePolicyCommand({
          RoleName: role,
          PolicyName: p.PolicyName,
          PolicyDocument: JSON.stringify(p.PolicyDocument),
        }),
      );
    }
    this.log(`deploy: ${logicalId} policy ${p.PolicyName} on ${(p.Roles ?? []).join(', ')}`);
    return { physicalId: p.PolicyName, arn: undefined, attributes: {}, created: true };
  }

  private recordEventSourceMapping(logicalId: string, props: Readonly<Record<string, unknown>>): Outcome {
    const p = resolveValue(props, this) as EventSourceMappingProperties;
    const functionName = functionNameOf(String(p.FunctionName));
    this.mappings.push({
      logicalId,
      functionName,
      eventSourceArn: String(p.EventSourceArn),
      batchSize: Number(p.BatchSize ?? 100),
      startingPosition: p.StartingPosition === 'LATEST' ? 'LATEST' : 'TRIM_HORIZON',
      reportBatchItemFailures: (p.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures'),
      maximumRetryAttempts: Number(p.MaximumRetryAttempts ?? -1),
      filterPatterns: (p.FilterCriteria?.Filters ?? []).map((filter) => JSON.parse(filter.Pattern) as unknown),
      onFailureDestinationArn: p.DestinationConfig?.OnFailure?.Destination,
      enabled: p.Enabled === undefined || String(p.Enabled) === 'true',
      bisectBatchOnFunctionError: String(p.BisectBatchOnFunctionError) === 'true',
      maximumBatchingWindowInSeconds: Number(p.MaximumBatchingWindowInSeconds ?? 0),
      parallelizationFactor: Number(p.ParallelizationFactor ?? 1),
    });
    const id = `${this.stackName}-${logicalId}`;
    return { physicalId: id, arn: undefined, attributes: {}, created: false };
  }

  /** Types the local run does not create: a name, and an ARN where the type has a predictable one. */
  private record(logicalId: string, resource: CloudFormationResource): Outcome {
    const props = resource.Properties ?? {};
    const named = (property: string) => {
      try {
        return this.nameFor(logicalId, props, property);
      } catch {
        return `${this.stackName}-${logicalId}`;
      }
    };
    this.log(`deploy: ${logicalId} (${resource.Type}) not created locally`);
    switch (resource.Type) {
      case 'AWS::IAM::Role': {
        const name = named('RoleName');
        const arn = this.arn('iam', `role/${name}`, '');
        return { physicalId: name, arn, attributes: { Arn: arn, RoleId: `AROA${name}` }, created: false };
      }
      case 'AWS::IAM::ManagedPolicy': {
        const arn = this.arn('iam', `policy/${named('ManagedPolicyName')}`, '');
        return { physicalId: arn, arn, attributes: { PolicyArn: arn }, created: false };
      }
      case 'AWS::Logs::LogGroup': {
        const name = named('LogGroupName');
        const arn = this.arn('logs', `log-group:${name}:*`);
        return { physicalId: name, arn, attributes: { Arn: arn }, created: false };
      }
      case 'AWS::KMS::Key': {
        const arn = this.arn('kms', `key/${logicalId}`);
        return { physicalId: logicalId, arn, attributes: { Arn: arn, KeyId: logicalId }, created: false };
      }
      default:
        return { physicalId: `${this.stackName}-${logicalId}`, arn: undefined, attributes: {}, created: false };
    }
  }

  private arn(service: string, resource: string, region: string = this.local.region): string {
    return `arn:aws:${service}:${region}:${this.local.accountId}:${resource}`;
  }

  private outputs(): Record<string, string> {
    const outputs: Record<string, string> = {};
    for (const [name, output] of Object.entries(this.template.Outputs ?? {})) {
      try {
        outputs[name] = resolveString(output.Value, this, `output ${name}`);
      } catch (error) {
        this.log(`deploy: output ${name} not resolvable locally: ${(error as Error).message}`);
      }
    }
    return outputs;
  }
}

class LocalDeployment implements Deployment {
  constructor(
    readonly stackName: string,
    readonly resources: Readonly<Record<string, DeployedResource>>,
    readonly functions: Readonly<Record<string, DeployedFunction>>,
    readonly eventSourceMappings: readonly DeployedEventSourceMapping[],
    readonly outputs: Readonly<Record<string, string>>,
    readonly environment: Readonly<Record<string, string>>,
  ) {}

  find(type: string, predicate?: (resource: DeployedResource) => boolean): DeployedResource {
    const matches = this.filter(type, predicate);
    const [only] = matches;
    if (!only || matches.length > 1) {
      const found = matches.map((resource) => resource.logicalId).join(', ') || 'none';
      throw new DeployError(`expected one ${type}${predicate ? ' matching' : ''}, found ${found}`);
    }
    return only;
  }

  filter(type: string, predicate: (resource: DeployedResource) => boolean = () => true): DeployedResource[] {
    return Object.values(this.resources).filter((resource) => resource.type === type && predicate(resource));
  }
}

function stringAttributes(values: Record<string, unknown>): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) if (value !== undefined) attributes[key] = String(value);
  return attributes;
}

interface TableProperties {
  KeySchema: KeySchemaElement[];
  AttributeDefinitions: AttributeDefinition[];
  BillingMode?: BillingMode;
  ProvisionedThroughput?: ProvisionedThroughput;
  GlobalSecondaryIndexes?: (GlobalSecondaryIndex & { Projection: Projection })[];
  LocalSecondaryIndexes?: LocalSecondaryIndex[];
  StreamSpecification?: { StreamViewType: StreamViewType };
  TimeToLiveSpecification?: { AttributeName: string; Enabled: boolean | string };
  Tags?: Tag[];
}

interface StreamProperties {
  Name?: string;
  ShardCount?: number;
  RetentionPeriodHours?: number;
  StreamModeDetails?: { StreamMode?: string };
  StreamEncryption?: { EncryptionType?: string; KeyId?: string };
}

interface TopicProperties {
  DisplayName?: string;
  FifoTopic?: boolean | string;
  ContentBasedDeduplication?: boolean | string;
  Subscription?: { Protocol: string; Endpoint: string }[];
}

interface SubscriptionProperties {
  TopicArn: string;
  Protocol: string;
  Endpoint?: string;
  RawMessageDelivery?: boolean | string;
  FilterPolicy?: unknown;
  FilterPolicyScope?: string;
  RedrivePolicy?: unknown;
}

interface EventSourceMappingProperties {
  FunctionName: string;
  EventSourceArn: string;
  BatchSize?: number;
  StartingPosition?: string;
  FunctionResponseTypes?: string[];
  MaximumRetryAttempts?: number;
  FilterCriteria?: { Filters?: { Pattern: string }[] };
  DestinationConfig?: { OnFailure?: { Destination?: string } };
  Enabled?: boolean | string;
  BisectBatchOnFunctionError?: boolean | string;
  MaximumBatchingWindowInSeconds?: number;
  ParallelizationFactor?: number;
}
