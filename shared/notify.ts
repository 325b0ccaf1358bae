import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';

/** A link an alert offers: a decision's confirmation page with one choice selected. */
export interface AlertLink {
  /** What following it does, as a person reads it: `Lift until the period ends`. */
  readonly label: string;
  readonly url: string;
  /** The choice it selects (raise, lift, keep, resume), for programs. */
  readonly choice?: string;
  /** For a raise: by how much, in USD, a decimal string. */
  readonly amountUsd?: string;
}

/** One labelled value of an alert, as the e-mail's table and the chat message show it. */
export interface AlertFact {
  readonly label: string;
  /** Further lines continue the value (indented under it in the e-mail). */
  readonly value: string;
}

/**
 * An alert, once, from which every channel's message is derived: the e-mail reads `body`; chat shows `summary`,
 * `facts` and `links`; programs get every attribute and `data`. Only subject, body and attributes are required:
 * messages claimed into an outbox before the structured parts existed still deliver.
 */
export interface AlertMessage {
  /** At most 100 characters (SNS); longer subjects are cut with an ellipsis. */
  readonly subject: string;
  /** The readable text, as an e-mail shows it, with the decision links where there are any. */
  readonly body: string;
  /** String message attributes: severity, principal, threshold, kind, ... */
  readonly attributes: Readonly<Record<string, string>>;
  /** What happened, in a sentence or two: the head of a chat message. @default the body's first paragraph */
  readonly summary?: string;
  readonly facts?: readonly AlertFact[];
  readonly links?: readonly AlertLink[];
  /** What a reader should know of the links (they open a confirmation page, work once, expire): under them in chat. */
  readonly linksNote?: string;
  /** Commands an admin may run instead, shown after the links in chat. */
  readonly commands?: readonly string[];
  /** Typed values for programs (money as exact decimal strings); beside the attributes in the structured JSON. */
  readonly data?: Readonly<Record<string, AlertValue>>;
}

export type AlertValue =
  | string
  | number
  | boolean
  | null
  | readonly AlertValue[]
  | { readonly [k: string]: AlertValue };

const SNS_SUBJECT_LIMIT = 100;
/** SNS refuses a message (the whole JSON structure, with attributes) over 256 KiB; this leaves room for attributes. */
export const SNS_MESSAGE_BYTES = 256 * 1024 - 8 * 1024;
/** A chat message's text beyond this is cut: Slack shows at most 3,000 characters of a section. */
const CHAT_DESCRIPTION_LIMIT = 3000;
/** Marks the structured JSON for programs, so a consumer can tell its version. */
export const ALERT_SCHEMA = 'budgeteer.alert/1';

export const clip = (text: string, limit = SNS_SUBJECT_LIMIT) =>
  text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;

/** Labels padded to the widest, continuation lines indented under their value: the e-mail's table of facts. */
export function factTable(facts: readonly AlertFact[], indent = '  '): string[] {
  const width = Math.max(0, ...facts.map((fact) => fact.label.length + 1)) + 1;
  return facts.flatMap((fact) => {
    const [first = '', ...rest] = fact.value.split('\n');
    return [
      `${indent}${`${fact.label}:`.padEnd(width)}${first}`,
      ...rest.map((line) => `${indent}${' '.repeat(width)}${line}`),
    ];
  });
}

/** The id a subscriber drops repeats by: the decision's, else the alert's. */
export const alertId = (message: AlertMessage): string | undefined =>
  message.attributes.decisionId ?? message.attributes.alertId;

const firstParagraph = (body: string) => body.split(/\n\s*\n/)[0] ?? body;

/** One principal's alerts of one period stay in one chat thread. */
function threadId(message: AlertMessage): string | undefined {
  const { principal, period } = message.attributes;
  if (principal && period) return `budgeteer/${principal}/${period}`;
  return principal ? `budgeteer/${principal}` : undefined;
}

/**
 * The custom notification Amazon Q Developer in chat applications (formerly AWS Chatbot) renders in Slack and
 * Microsoft Teams: version 1.0, source custom, the links as next steps, a thread per principal and period.
 */
export function chatNotification(message: AlertMessage, bodyLimit = CHAT_DESCRIPTION_LIMIT): Record<string, unknown> {
  const description = message.facts
    ? [message.summary ?? firstParagraph(message.body), '', ...message.facts.map((f) => `${f.label}: ${f.value}`)]
    : [message.body];
  if (message.linksNote && message.links?.length) description.push('', message.linksNote);
  const id = alertId(message);
  const thread = threadId(message);
  const { kind, severity } = message.attributes;
  return {
    version: '1.0',
    source: 'custom',
    ...(id ? { id } : {}),
    content: {
      textType: 'client-markdown',
      title: `${severity === 'critical' ? '🚨' : '⚠️'} ${clip(message.subject, 250)}`,
      description: clip(description.join('\n'), bodyLimit),
      nextSteps: [
        ...(message.links ?? []).map((link) => `${link.label}: ${link.url}`),
        ...(message.commands ?? []).map((command) => `\`${command}\``),
      ],
      keywords: [severity, kind].filter((k): k is string => Boolean(k)),
    },
    metadata: {
      ...(thread ? { threadId: thread } : {}),
      summary: clip(message.subject),
      ...(kind ? { eventType: kind } : {}),
      ...(message.attributes.principalArn ? { relatedResources: [message.attributes.principalArn] } : {}),
      additionalContext: message.attributes,
      // The channel reads; buttons that run commands have no place in a read-only channel.
      enableCustomActions: false,
    },
  };
}

/** Every attribute, the typed data, the links and the readable text: what a program subscribed to a topic gets. */
export function structuredAlert(message: AlertMessage, body = message.body): Record<string, unknown> {
  const id = alertId(message);
  return {
    schema: ALERT_SCHEMA,
    ...(id ? { id } : {}),
    ...message.attributes,
    ...message.data,
    subject: message.subject,
    summary: message.summary ?? firstParagraph(body),
    facts: message.facts ?? [],
    links: message.links ?? [],
    commands: message.commands ?? [],
    text: body,
  };
}

/**
 * The per-protocol messages of one publish (`MessageStructure: json`): e-mail (and any protocol not named) reads the
 * text; HTTP(S), where Amazon Q Developer in chat applications subscribes, gets the chat notification; SQS and
 * Lambda get the structured JSON. A body too long for SNS is cut, in every channel alike.
 */
export function protocolMessages(message: AlertMessage): Record<string, string> {
  let body = message.body;
  for (;;) {
    const chat = JSON.stringify(chatNotification(message));
    const program = JSON.stringify(structuredAlert(message, body));
    const messages = { default: body, email: body, https: chat, http: chat, sqs: program, lambda: program };
    const size = Buffer.byteLength(JSON.stringify(messages));
    if (size <= SNS_MESSAGE_BYTES || body.length < 100) return messages;
    // Each copy of the body shrinks by its share of the excess (JSON escapes may make a character several bytes).
    body = clip(body, Math.floor(body.length * (SNS_MESSAGE_BYTES / size) * 0.95));
  }
}

export async function publishAlert(sns: SNSClient, topicArn: string, message: AlertMessage): Promise<void> {
  await sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Subject: clip(message.subject),
      MessageStructure: 'json',
      Message: JSON.stringify(protocolMessages(message)),
      MessageAttributes: Object.fromEntries(
        Object.entries(message.attributes).map(([key, value]) => [key, { DataType: 'String', StringValue: value }]),
      ),
    }),
  );
}
