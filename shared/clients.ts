import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Built once per process and passed to the code that uses them. `AWS_ENDPOINT_URL` (read by the SDK itself)
 * points every client at the local stack when it runs on loopback. */
export const dynamo = new DynamoDBClient({ maxAttempts: 6 });

/** Numbers stay exact: marshalled from NumberValue/strings and read back as NumberValue, never as JS floats. */
export const documents = DynamoDBDocumentClient.from(dynamo, {
  marshallOptions: { removeUndefinedValues: true },
  unmarshallOptions: { wrapNumbers: true },
});

export const sqs = new SQSClient({});
export const sns = new SNSClient({});
export const sfn = new SFNClient({});
