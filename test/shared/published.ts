import type { PublishCommandInput } from '@aws-sdk/client-sns';

/**
 * A publish as an e-mail subscriber reads it: Message is the `email` text of the per-protocol JSON (shared/notify.ts
 * publishes every alert with MessageStructure json). Throws on a publish of any other shape.
 */
export function asEmail<T extends Pick<PublishCommandInput, 'Message' | 'MessageStructure'>>(input: T): T {
  if (input.MessageStructure !== 'json') throw new Error(`not a per-protocol publish: ${input.MessageStructure}`);
  const { email } = JSON.parse(input.Message ?? '{}') as { email?: string };
  if (email === undefined) throw new Error('the publish has no email message');
  return { ...input, Message: email };
}
