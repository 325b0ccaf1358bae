import { createServer } from 'node:net';
import { CreateTopicCommand, PublishCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { type LocalAws, startLocalAws } from '../../local/aws';
import { type ChatEndpoint, openChatEndpoint } from './chat-endpoint';

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// local/moto_server.py's patch_http_delivery: HTTP(S) subscriptions as SNS delivers to them.
describe('SNS HTTP(S) subscriptions on the local AWS', () => {
  let local: LocalAws;
  let sns: SNSClient;
  let endpoint: ChatEndpoint;

  beforeAll(async () => {
    local = await startLocalAws();
    sns = new SNSClient({ ...local.clientConfig, maxAttempts: 1 });
    endpoint = await openChatEndpoint();
  });

  afterAll(async () => {
    sns.destroy();
    await endpoint.close();
    await local.stop();
  });

  it('accepts a Publish whose http subscriber is down, as SNS does (moto failed it with HTTP 500)', async () => {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'down' }));
    const port = await closedPort();
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'http', Endpoint: `http://127.0.0.1:${port}/` }));

    await expect(sns.send(new PublishCommand({ TopicArn, Message: 'hello' }))).resolves.toMatchObject({
      MessageId: expect.any(String),
    });
  });

  it('delivers the https message of a per-protocol publish to a loopback https endpoint, with SNS headers', async () => {
    const { TopicArn = '' } = await sns.send(new CreateTopicCommand({ Name: 'chat' }));
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'https', Endpoint: endpoint.url }));

    await sns.send(
      new PublishCommand({
        TopicArn,
        Subject: 'budget',
        MessageStructure: 'json',
        Message: JSON.stringify({ default: 'for e-mail', https: '{"version":"1.0"}' }),
      }),
    );
    const [delivery] = await endpoint.waitFor((d) => d.envelope.TopicArn === TopicArn);

    expect(delivery?.envelope).toMatchObject({ Type: 'Notification', Subject: 'budget', Message: '{"version":"1.0"}' });
    expect(delivery?.headers).toMatchObject({
      'x-amz-sns-message-type': 'Notification',
      'x-amz-sns-topic-arn': TopicArn,
      'x-amz-sns-message-id': delivery?.envelope.MessageId,
    });
  });
});
