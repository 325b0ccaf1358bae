import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';

/** An alert as an admin reads it in an e-mail, with the attributes subscribers filter on. */
export interface AlertMessage {
  /** At most 100 characters (SNS); longer subjects are cut with an ellipsis. */
  readonly subject: string;
  readonly body: string;
  /** String message attributes: severity, principal, threshold, kind, ... */
  readonly attributes: Readonly<Record<string, string>>;
}

const SNS_SUBJECT_LIMIT = 100;

export const clip = (text: string, limit = SNS_SUBJECT_LIMIT) =>
  text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;

export async function publishAlert(sns: SNSClient, topicArn: string, message: AlertMessage): Promise<void> {
  await sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Subject: clip(message.subject),
      Message: message.body,
      MessageAttributes: Object.fromEntries(
        Object.entries(message.attributes).map(([key, value]) => [key, { DataType: 'String', StringValue: value }]),
      ),
    }),
  );
}
