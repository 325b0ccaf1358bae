import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { ALERT_SCHEMA, type AlertLink } from '../shared/notify';
import type { LocalAws } from './aws';

/** One SNS notification as a subscriber receives it. */
export interface Notification {
  readonly topicArn: string;
  readonly subject: string;
  /** The readable text, as an e-mail subscriber reads it. */
  readonly message: string;
  /** The structured JSON a program subscribed over SQS gets (shared/notify.ts), when the alert was one. */
  readonly alert?: StructuredAlert;
  /** Message attributes, by name (severity, principal, threshold, ...). */
  readonly attributes: Readonly<Record<string, string>>;
}

export interface Inbox {
  /** Everything delivered since the last read, in arrival order (consumed). */
  read(): Promise<Notification[]>;
  close(): void;
}

/** The fields of the structured alert the inbox reads; every other attribute is there too. */
export interface StructuredAlert {
  readonly schema: string;
  readonly id?: string;
  readonly text: string;
  readonly links: readonly AlertLink[];
  readonly [attribute: string]: unknown;
}

/** The structured alert of an SQS delivery, or undefined for a message that is not one (published raw). */
function structuredOf(message: string): StructuredAlert | undefined {
  try {
    const parsed = JSON.parse(message) as Partial<StructuredAlert> | null;
    return parsed?.schema === ALERT_SCHEMA && typeof parsed.text === 'string' ? (parsed as StructuredAlert) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Plays an admin's mailbox: an SQS queue subscribed to the given topics, so the local run, tests and benchmarks see
 * exactly what SNS delivered. SQS receives the structured JSON for programs; its text is what an e-mail shows.
 */
export async function openInbox(
  clientConfig: LocalAws['clientConfig'],
  topicArns: readonly string[],
  name = `inbox-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
): Promise<Inbox> {
  const sqs = new SQSClient(clientConfig);
  const sns = new SNSClient(clientConfig);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  for (const topicArn of topicArns) {
    await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn }));
  }
  return {
    async read() {
      return (await drainQueue(sqs, QueueUrl as string)).map((raw) => {
        const body = JSON.parse(raw) as {
          TopicArn?: string;
          Subject?: string;
          Message?: string;
          MessageAttributes?: Record<string, { Value?: string }>;
        };
        const alert = structuredOf(body.Message ?? '');
        return {
          topicArn: body.TopicArn ?? '',
          subject: body.Subject ?? '',
          message: alert ? alert.text : (body.Message ?? ''),
          ...(alert ? { alert } : {}),
          attributes: Object.fromEntries(
            Object.entries(body.MessageAttributes ?? {}).map(([key, value]) => [key, value.Value ?? '']),
          ),
        };
      });
    },
    close() {
      sqs.destroy();
      sns.destroy();
    },
  };
}

/** Receives (and deletes) every message a queue holds now; resolves to their bodies in arrival order. */
export async function drainQueue(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
    );
    if (Messages.length === 0) return bodies;
    bodies.push(...Messages.map((m) => m.Body ?? '{}'));
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
}
