import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { type AttributeValue, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Context } from 'aws-lambda';
import { readConfig } from '../infra/config';
import { BudgeteerStack } from '../infra/stack';
import { LOCAL_ACCOUNT_ID, type LocalAws, type LocalInferenceProfile, startLocalAws } from './aws';
import { type CloudFormationTemplateJson, type Deployment, deployTemplate } from './deploy';
import { matchesPattern } from './event-filter';
import { type FaultProxy, type FaultSettings, startFaultProxy } from './faults';
import { applyEnvironment, handlersFor } from './handlers';
import { createAccessKeyFor, type LocalIdentity } from './iam';
import {
  createLocalOrganization,
  deployLocalOrganization,
  type LocalOrganization,
  ORGANIZATION_STOP_ROLE_ARN,
} from './organization';
import { type EventSourceMappings, startEventSourceMappings } from './streams';

const INGEST_ENTRY = 'functions/ingest/handler.ts';
const POLL_MS = 50;
/** Lambda tries an asynchronous invocation once and retries it twice (MaximumRetryAttempts' default). */
const ASYNC_ATTEMPTS = 3;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `environment` with every value that starts with `from` (an endpoint) starting with `to` instead. */
function rehost(environment: Readonly<Record<string, string>>, from: string, to: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(environment).map(([key, value]) => [
      key,
      value.startsWith(from) ? to + value.slice(from.length) : value,
    ]),
  );
}

/** The stack's template as `cdk synth` writes it, without bundling assets (the local stack runs sources). */
export function synthTemplate(context: Record<string, unknown> = {}): CloudFormationTemplateJson {
  // No built-in CloudFormation validation: it only warns (errors are downgraded unless asked for) and costs four
  // seconds of its WASM engine at every local start; `cdk synth` (infra/app.ts) keeps it.
  const app = new App({
    builtinCloudFormationValidation: false,
    context: { 'aws:cdk:bundling-stacks': [], ...context },
  });
  const stack = new BudgeteerStack(app, 'Budgeteer', { config: readConfig(app.node) });
  return Template.fromStack(stack).toJSON() as CloudFormationTemplateJson;
}

/** The local stack's admin: the one `adminPrincipals` entry, whose keys the CLI uses with `--local`. */
export const LOCAL_ADMIN_USER = 'budgeteer-admin';
export const LOCAL_ADMIN_ARN = `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/${LOCAL_ADMIN_USER}`;

export interface LocalStackOptions {
  /** CDK context, as `-c key=value` would give it. */
  readonly context?: Record<string, unknown>;
  readonly log?: (line: string) => void;
  /**
   * Puts the fault proxy (./faults) between the handlers and the local AWS: it injects nothing until configured
   * (`configureFaults`, or POST /faults on the control server). @default false
   */
  readonly faults?: boolean;
  /**
   * Runs the stack as the central stack of a local AWS Organization (./organization): the organization is created
   * in moto first, the stack is synthesized with its `organizationId`, the `workloads` OU as
   * `organizationalUnitIds`, the management account's `BudgeteerOrganizationStop` role as
   * `organizationManagementRoleArn` and `managementAccountId` (`context` may override any), and the member template
   * is deployed into the member and management accounts.
   * `organization` then holds the handle to drive it. @default false
   */
  readonly organization?: boolean;
}

/**
 * The whole system on loopback: moto and the Lambda front, the synthesized stack deployed into it, and the event
 * sources AWS would run: EventBridge rule -> SQS -> ingest, CloudWatch Logs subscription -> ingest, and the
 * DynamoDB stream mappings.
 */
export class LocalStack {
  private readonly sqs: SQSClient;
  private readonly sfn: SFNClient;
  private readonly dynamo: DynamoDBClient;
  private readonly ingestName: string;
  private readonly cloudTrailQueueUrl: string;
  private readonly cloudTrailQueueArn: string;
  private readonly cloudTrailBatchSize: number;
  /** The mapping's MaximumBatchingWindowInSeconds, in ms: how long a batch may wait to fill up. */
  private readonly cloudTrailBatchWindowMs: number;
  /**
   * The queue's VisibilityTimeout, in s, which the mapping receives with as in AWS: a shorter one lets a message
   * received early in a slow gathering come back into the same batch (a busy machine then changed the batches).
   */
  private readonly cloudTrailVisibilitySeconds: number;
  /** While settle() runs, a gathering batch closes as soon as the queue is empty (the window's time has passed). */
  private settling = 0;
  /** PutEvents calls being written to the queue: in AWS their events land at once, so no window closes meanwhile. */
  private sending = 0;
  private readonly poller: Promise<void>;
  private stopping = false;
  private control: Server | undefined;
  private inFlight = 0;

  private constructor(
    private readonly template: CloudFormationTemplateJson,
    readonly local: LocalAws,
    readonly deployment: Deployment,
    readonly mappings: EventSourceMappings,
    private readonly log: (line: string) => void,
    /** The admin user's keys: admin actions are signed with them (the admin function takes no other word). */
    readonly admin: LocalIdentity,
    private readonly faults: FaultProxy | undefined,
    /** With `organization: true`: the local organization this stack is the central stack of. */
    readonly organization: LocalOrganization | undefined,
  ) {
    this.sqs = new SQSClient(local.clientConfig);
    this.sfn = new SFNClient(local.clientConfig);
    this.dynamo = new DynamoDBClient(local.clientConfig);
    const ingest = Object.values(deployment.functions).find((f) => f.entry === INGEST_ENTRY);
    if (!ingest) throw new Error(`the template has no function for ${INGEST_ENTRY}`);
    this.ingestName = ingest.name;
    this.cloudTrailQueueUrl = this.output('CloudTrailQueueUrl');
    const queue = deployment.find('AWS::SQS::Queue', (q) => q.physicalId === this.cloudTrailQueueUrl);
    this.cloudTrailQueueArn = queue.arn ?? '';
    this.cloudTrailVisibilitySeconds = Number(
      template.Resources?.[queue.logicalId]?.Properties?.VisibilityTimeout ?? 30,
    );
    const mapping = Object.values(template.Resources ?? {}).find(
      (r) =>
        r.Type === 'AWS::Lambda::EventSourceMapping' &&
        JSON.stringify(r.Properties?.EventSourceArn).includes('CloudTrailEvents'),
    );
    this.cloudTrailBatchSize = Number(mapping?.Properties?.BatchSize ?? 10);
    this.cloudTrailBatchWindowMs = Number(mapping?.Properties?.MaximumBatchingWindowInSeconds ?? 0) * 1000;
    this.poller = this.pollCloudTrailQueue();
  }

  static async start(options: LocalStackOptions = {}): Promise<LocalStack> {
    const local = await startLocalAws(options.log ? { log: options.log } : {});
    let faults: FaultProxy | undefined;
    try {
      // The organization's ids are moto's: it exists before the stack that names it is synthesized.
      const layout = options.organization ? await createLocalOrganization(local) : undefined;
      const template = synthTemplate({
        adminPrincipals: [LOCAL_ADMIN_ARN],
        // The organization stop goes through the management account's role the local organization creates.
        ...(layout
          ? {
              organizationId: layout.organizationId,
              organizationalUnitIds: [layout.workloadsOuId],
              organizationManagementRoleArn: ORGANIZATION_STOP_ROLE_ARN,
              managementAccountId: layout.managementAccountId,
            }
          : {}),
        ...options.context,
      });
      faults = options.faults ? await startFaultProxy(local.endpoint, options.log) : undefined;
      // The handlers' AWS calls go through the fault proxy when there is one; this process's own do not. Queue URLs
      // name their host, which the SQS client prefers to its endpoint: the handlers get them on the proxy's too.
      const handlerAws = faults ? { ...local, endpoint: faults.endpoint } : local;
      const onProxy = (environment: Readonly<Record<string, string>>) =>
        faults ? rehost(environment, local.endpoint, faults.endpoint) : environment;
      const handlers = handlersFor(template, handlerAws);
      const deployment = await deployTemplate(local, template, {
        handlers: Object.fromEntries(
          Object.entries(handlers).map(([entry, run]) => [
            entry,
            (event: unknown, context: Context, environment: Readonly<Record<string, string>>) =>
              run(event, context, onProxy(environment)),
          ]),
        ),
        stackName: 'budgeteer',
        ...(options.log ? { log: options.log } : {}),
      });
      // Shared modules read configuration once; give them every function's variables before the first call.
      applyEnvironment(handlerAws, onProxy(deployment.environment));
      const admin = await createAccessKeyFor(local, LOCAL_ADMIN_USER);
      // Bound once the stack exists: the organization's members put their events on its bus.
      let stack: LocalStack | undefined;
      const putEvents = (events: readonly unknown[], on: { readonly bus: string }) => {
        if (!stack) throw new Error('the local stack is not started yet');
        return stack.putEvents(events, on);
      };
      const organization = layout
        ? await deployLocalOrganization(local, layout, { template, deployment, putEvents }, options.log)
        : undefined;
      const mappings = startEventSourceMappings(local, deployment, {
        pollMs: 50,
        ...(options.log ? { log: options.log } : {}),
      });
      stack = new LocalStack(
        template,
        local,
        deployment,
        mappings,
        options.log ?? (() => {}),
        admin,
        faults,
        organization,
      );
      return stack;
    } catch (error) {
      await faults?.stop();
      await local.stop();
      throw error;
    }
  }

  output(name: string): string {
    const value = this.deployment.outputs[name];
    if (value === undefined) throw new Error(`the local stack has no output ${name}`);
    return value;
  }

  /**
   * EventBridge PutEvents on a bus of the stack (the account's default bus unless `bus` names another): each event
   * goes to the SQS targets of the first of the bus's pattern rules it matches, as EventBridge would send it. On the
   * default bus EventBridge sets `account` to the account the event happened in, here the local account; on
   * another bus (the organization's central bus) an event forwarded from another account keeps that account.
   * Returns the SQS message id of each event (undefined where no rule matched).
   */
  async putEvents(
    events: readonly unknown[],
    options: { readonly bus?: string } = {},
  ): Promise<(string | undefined)[]> {
    const bus = options.bus ?? 'default';
    const rules = this.patternRules().filter((rule) => rule.bus === bus);
    if (rules.length === 0) throw new Error(`the local stack has no pattern rule on event bus ${bus}`);
    const messageIds: (string | undefined)[] = events.map(() => undefined);
    const byQueue = new Map<string, { event: unknown; index: number }[]>();
    events.forEach((event, index) => {
      // As EventBridge: a read-only management event (InvokeModel is one) reaches only the rules enabled for all
      // CloudTrail management events; a rule in the plain enabled state never sees it.
      const readOnly = (event as { detail?: { readOnly?: unknown } })?.detail?.readOnly === true;
      const rule = rules.find((r) => (!readOnly || r.allManagementEvents) && matchesPattern(r.pattern, event));
      if (!rule) return;
      const delivered = bus === 'default' ? { ...(event as object), account: this.local.accountId } : event;
      for (const queueUrl of rule.queueUrls) {
        byQueue.set(queueUrl, [...(byQueue.get(queueUrl) ?? []), { event: delivered, index }]);
      }
    });
    this.sending++;
    try {
      for (const [queueUrl, matching] of byQueue) await this.sendToQueue(queueUrl, matching, messageIds);
    } finally {
      this.sending--;
    }
    return messageIds;
  }

  /** The template's rules with an event pattern (the others run on a schedule): their bus and SQS targets. */
  private patternRules(): { pattern: unknown; bus: string; queueUrls: string[]; allManagementEvents: boolean }[] {
    return Object.values(this.template.Resources ?? {}).flatMap((resource) => {
      const properties = resource.Properties ?? {};
      if (resource.Type !== 'AWS::Events::Rule' || properties.EventPattern === undefined) return [];
      const busName = properties.EventBusName as string | { Ref?: string } | undefined;
      const bus =
        busName === undefined
          ? 'default'
          : typeof busName === 'string'
            ? busName
            : (this.deployment.resources[busName.Ref ?? '']?.physicalId ?? '');
      const queueUrls = ((properties.Targets ?? []) as { Arn?: { 'Fn::GetAtt'?: [string, string] } }[]).flatMap(
        (target) => {
          const queue = this.deployment.resources[target.Arn?.['Fn::GetAtt']?.[0] ?? ''];
          return queue?.type === 'AWS::SQS::Queue' ? [queue.physicalId] : [];
        },
      );
      const allManagementEvents = properties.State === 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS';
      return [{ pattern: properties.EventPattern, bus, queueUrls, allManagementEvents }];
    });
  }

  private async sendToQueue(
    queueUrl: string,
    matching: { event: unknown; index: number }[],
    messageIds: (string | undefined)[],
  ): Promise<void> {
    for (let i = 0; i < matching.length; i += 10) {
      const chunk = matching.slice(i, i + 10);
      const entries = chunk.map(({ event }, j) => ({ Id: String(j), MessageBody: JSON.stringify(event) }));
      const sent = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      if (sent.Failed?.length) throw new Error(`SQS refused ${sent.Failed.length} events`);
      for (const ok of sent.Successful ?? []) {
        const match = chunk[Number(ok.Id)];
        if (match) messageIds[match.index] = ok.MessageId;
      }
    }
  }

  /**
   * The SQS event source mapping, run in the background: receives what the CloudTrail queue holds in batches of up
   * to the mapping's batch size, invokes ingest with the SQS event shape, and deletes what it did not report as
   * failed (failed messages become visible again and are retried, as in AWS).
   */
  private async pollCloudTrailQueue(): Promise<void> {
    while (!this.stopping) {
      try {
        const delivered = await this.deliverCloudTrailBatch();
        if (delivered === 0) await sleep(POLL_MS);
      } catch (error) {
        this.log(`sqs mapping: ${(error as Error).message}`);
        await sleep(POLL_MS * 4);
      }
    }
  }

  /**
   * Gathers a batch as the event source mapping does: it is delivered when it holds the batch size, or when the
   * batching window (counted from its first message) has passed, whichever comes first. So a busy machine, which
   * only slows the sending down, does not cut the batches smaller than AWS would.
   */
  private async deliverCloudTrailBatch(): Promise<number> {
    const messages: Message[] = [];
    let windowEnds = Number.POSITIVE_INFINITY;
    while (messages.length < this.cloudTrailBatchSize && !this.stopping) {
      const { Messages = [] } = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.cloudTrailQueueUrl,
          MaxNumberOfMessages: Math.min(10, this.cloudTrailBatchSize - messages.length),
          VisibilityTimeout: this.cloudTrailVisibilitySeconds,
        }),
      );
      if (Messages.length > 0) {
        if (messages.length === 0) windowEnds = Date.now() + this.cloudTrailBatchWindowMs;
        messages.push(...Messages);
        continue;
      }
      if (messages.length === 0 || this.settling > 0 || (Date.now() >= windowEnds && this.sending === 0)) break;
      await sleep(POLL_MS);
    }
    if (messages.length === 0) return 0;
    this.inFlight++;
    try {
      const event = {
        Records: messages.map((m) => ({
          messageId: m.MessageId,
          receiptHandle: m.ReceiptHandle,
          body: m.Body,
          attributes: {},
          messageAttributes: {},
          md5OfBody: m.MD5OfBody,
          eventSource: 'aws:sqs',
          eventSourceARN: this.cloudTrailQueueArn,
          awsRegion: this.local.region,
        })),
      };
      let failed = new Set(messages.map((m) => m.MessageId));
      try {
        const response = (await this.local.invoke(this.ingestName, event)) as {
          batchItemFailures?: { itemIdentifier: string }[];
        };
        failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      } catch (error) {
        this.log(`sqs mapping: ingest failed, the batch will be retried: ${(error as Error).message}`);
      }
      const done = messages.filter((m) => !failed.has(m.MessageId));
      for (let i = 0; i < done.length; i += 10) {
        await this.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.cloudTrailQueueUrl,
            Entries: done.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
      }
      return messages.length;
    } finally {
      this.inFlight--;
    }
  }

  /** EventBridge schedules: invokes once every function a scheduled rule targets, with the Scheduled Event shape. */
  async runScheduled(): Promise<void> {
    for (const [logicalId, resource] of Object.entries(this.template.Resources ?? {})) {
      const properties = resource.Properties ?? {};
      if (resource.Type !== 'AWS::Events::Rule' || properties.ScheduleExpression === undefined) continue;
      for (const target of (properties.Targets ?? []) as { Arn?: { 'Fn::GetAtt'?: [string, string] } }[]) {
        const fn = this.deployment.functions[target.Arn?.['Fn::GetAtt']?.[0] ?? ''];
        if (!fn) continue;
        await this.local.invoke(fn.name, {
          version: '0',
          id: crypto.randomUUID(),
          'detail-type': 'Scheduled Event',
          source: 'aws.events',
          account: this.local.accountId,
          time: new Date().toISOString(),
          region: this.local.region,
          resources: [`arn:aws:events:${this.local.region}:${this.local.accountId}:rule/${logicalId}`],
          detail: {},
        });
      }
    }
  }

  /** CloudWatch Logs subscription: one delivery of log records (gzip + base64), as Lambda receives it. */
  async deliverLogs(records: readonly unknown[], ids?: readonly string[]): Promise<unknown> {
    return this.local.invoke(this.ingestName, this.logsEvent(records, ids));
  }

  /**
   * The same delivery as CloudWatch Logs makes it: an asynchronous invocation, which Lambda tries up to three times
   * and then sends, with the last error, to the function's dead-letter queue (message attributes RequestID,
   * ErrorCode, ErrorMessage, as Lambda sets them).
   */
  async deliverLogsAsync(records: readonly unknown[]): Promise<{ attempts: number; deadLettered?: string }> {
    const event = this.logsEvent(records);
    let lastError = '';
    for (let attempt = 1; attempt <= ASYNC_ATTEMPTS; attempt++) {
      try {
        await this.local.invoke(this.ingestName, event);
        return { attempts: attempt };
      } catch (error) {
        lastError = (error as Error).message;
        this.log(`async invoke of ${this.ingestName} failed (attempt ${attempt}): ${lastError}`);
      }
    }
    const queueUrl = this.deadLetterQueueOf(this.ingestName);
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify(event),
        MessageAttributes: {
          RequestID: { DataType: 'String', StringValue: crypto.randomUUID() },
          ErrorCode: { DataType: 'Number', StringValue: '200' },
          ErrorMessage: { DataType: 'String', StringValue: lastError.slice(0, 1000) },
        },
      }),
    );
    return { attempts: ASYNC_ATTEMPTS, deadLettered: queueUrl };
  }

  /** The queue a function's `DeadLetterConfig` names. */
  deadLetterQueueOf(functionName: string): string {
    const fn = Object.values(this.deployment.functions).find((f) => f.name === functionName);
    const target = this.template.Resources?.[fn?.logicalId ?? '']?.Properties?.DeadLetterConfig as
      | { TargetArn?: { 'Fn::GetAtt'?: [string, string] } }
      | undefined;
    const queue = this.deployment.resources[target?.TargetArn?.['Fn::GetAtt']?.[0] ?? ''];
    if (!queue) throw new Error(`${functionName} has no dead-letter queue in the template`);
    return queue.physicalId;
  }

  /** Sets what the fault proxy injects from now on; returns what it injected under the settings replaced. */
  configureFaults(settings: FaultSettings) {
    if (!this.faults) throw new Error('this local stack was started without faults');
    return this.faults.configure(settings);
  }

  private logsEvent(records: readonly unknown[], ids?: readonly string[]) {
    const payload = {
      messageType: 'DATA_MESSAGE',
      owner: this.local.accountId,
      logGroup: '/aws/bedrock/modelinvocations',
      logStream: 'aws/bedrock/modelinvocations',
      subscriptionFilters: ['budgeteer-ingest'],
      logEvents: records.map((record, index) => ({
        id: ids?.[index] ?? `${Date.now()}${String(index).padStart(6, '0')}`,
        timestamp: Date.now(),
        message: typeof record === 'string' ? record : JSON.stringify(record),
      })),
    };
    return { awslogs: { data: gzipSync(JSON.stringify(payload)).toString('base64') } };
  }

  /**
   * Resolves once everything sent so far has been delivered: the CloudTrail queue is empty with no batch in flight,
   * and every stream mapping has caught up (handlers may write again, so it loops until a round is quiet).
   */
  async settle(timeoutMs = 30_000): Promise<void> {
    this.settling++;
    try {
      await this.settleWithin(Date.now() + timeoutMs, timeoutMs);
    } finally {
      this.settling--;
    }
  }

  private async settleWithin(deadline: number, timeoutMs: number): Promise<void> {
    for (;;) {
      if (Date.now() > deadline) throw new Error(`the local stack did not settle within ${timeoutMs} ms`);
      const { Attributes = {} } = await this.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: this.cloudTrailQueueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      const queued = Number(Attributes.ApproximateNumberOfMessages ?? 0);
      const invisible = Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0);
      if (queued > 0 || invisible > 0 || this.inFlight > 0) {
        await sleep(POLL_MS);
        continue;
      }
      await this.mappings.drain({ timeoutMs: Math.max(1, deadline - Date.now()) });
      if (this.inFlight > 0) continue;
      // Workflows write to Budgets too: settled only when each is at rest (waiting for a decision, or ended).
      if (await this.workflowsAtRest()) return;
      await sleep(POLL_MS);
    }
  }

  /**
   * Every running execution of the stack's state machines is waiting for a decision (its wait is recorded in the
   * pending-decisions table, undecided): deny applied, nothing more happens until an admin or the period end.
   */
  async workflowsAtRest(): Promise<boolean> {
    const waiting = new Set<string>();
    let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.dynamo.send(
        new ScanCommand({ TableName: this.output('PendingTableName'), ConsistentRead: true, ExclusiveStartKey }),
      );
      for (const item of page.Items ?? []) {
        if (!item.decided && item.executionArn?.S) waiting.add(item.executionArn.S);
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    for (const stateMachineArn of this.stateMachineArns()) {
      const { executions = [] } = await this.sfn.send(
        new ListExecutionsCommand({ stateMachineArn, statusFilter: 'RUNNING' }),
      );
      if (executions.some((e) => !waiting.has(e.executionArn ?? ''))) return false;
    }
    return true;
  }

  private stateMachineArns(): string[] {
    return this.deployment.filter('AWS::StepFunctions::StateMachine').map((r) => r.arn ?? r.physicalId);
  }

  /**
   * Serves what AWS would do on its own, for processes other than this one (integration tests, a user poking the
   * `--serve` stack): POST /events (EventBridge PutEvents: a JSON array of events), POST /logs (a CloudWatch Logs
   * delivery: a JSON array of log records), POST /settle, and POST /inference-profiles (an application inference
   * profile for Bedrock to describe); with an organization, POST /organization (its ids, accounts' client
   * configurations and SCP attachments), /organization/forward and /organization/logs (a member's CloudTrail event
   * and invocation log records, as its own AWS sends them). Loopback only.
   */
  async serveControl(): Promise<string> {
    const server = createServer((req, res) => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const run = async () => {
          const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined;
          if (req.method !== 'POST') return reply(405, { error: 'POST only' });
          if (req.url === '/events' && Array.isArray(body))
            return reply(200, { messageIds: await this.putEvents(body) });
          if (req.url === '/logs' && Array.isArray(body)) return reply(200, { result: await this.deliverLogs(body) });
          if (req.url === '/settle') return reply(200, { settled: await this.settle().then(() => true) });
          if (req.url === '/logs-async' && Array.isArray(body)) return reply(200, await this.deliverLogsAsync(body));
          // The fault proxy's settings (a FaultSettings object); answers what it injected under the previous ones.
          if (req.url === '/faults' && typeof body === 'object' && body !== null) {
            return reply(200, this.configureFaults(body as FaultSettings));
          }
          // Keys for a local IAM user, known to the function URLs' SigV4 check (tests act as that user).
          if (req.url === '/identity' && typeof (body as { user?: unknown })?.user === 'string') {
            return reply(200, await createAccessKeyFor(this.local, (body as { user: string }).user));
          }
          // The local organization's members (organization: true): their forwarding rule, their log subscription.
          const org = this.organization;
          const asked = body as { account?: unknown; event?: unknown; records?: unknown; ids?: unknown };
          if (org && req.url === '/organization/forward' && typeof asked?.account === 'string') {
            return reply(200, { messageId: await org.forwardEvent(asked.account, asked.event) });
          }
          if (org && req.url === '/organization/logs' && typeof asked?.account === 'string') {
            const records = Array.isArray(asked.records) ? asked.records : [];
            const ids = Array.isArray(asked.ids) ? asked.ids.map(String) : undefined;
            return reply(200, { put: await org.deliverInvocationLogs(asked.account, records, ids) });
          }
          // Its ids, each account's client configuration, and the SCPs attached now.
          if (org && req.url === '/organization') return reply(200, await org.describe());
          // An application inference profile for Bedrock's GetInferenceProfile and ListTagsForResource to describe.
          if (req.url === '/inference-profiles' && typeof body === 'object' && body !== null) {
            this.local.registerInferenceProfile(body as LocalInferenceProfile);
            return reply(200, { declared: (body as LocalInferenceProfile).arn });
          }
          return reply(404, {
            error:
              'POST /events, /logs, /logs-async (JSON arrays), /settle, /identity ({user}), /faults, /inference-profiles' +
              (this.organization
                ? ', /organization, /organization/forward ({account, event}) or /organization/logs ({account, records, ids?})'
                : ''),
          });
        };
        run().catch((error: unknown) => reply(500, { error: (error as Error).message }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.control = server;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => (this.control ? this.control.close(resolve) : resolve(undefined)));
    this.stopping = true;
    await this.poller;
    await this.mappings.stop();
    this.sqs.destroy();
    this.sfn.destroy();
    this.dynamo.destroy();
    this.organization?.stop();
    await this.faults?.stop();
    await this.local.stop();
  }
}
