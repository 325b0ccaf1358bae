import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { type FaultProxy, startFaultProxy } from '../../local/faults';

/*
 * The fault proxy must answer in each protocol's own error shape, so that the SDK's retry logic engages exactly as
 * it does against AWS: throttling and 5xx retried, an injected crash not. A stub stands in for the local AWS.
 */

let upstream: Server;
let proxy: FaultProxy;
const seen: string[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const target = req.headers['x-amz-target'];
    seen.push(typeof target === 'string' ? target : 'query');
    req.resume();
    req.on('end', () => {
      if (typeof target === 'string') {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{"Item":{"id":{"S":"x"}}}');
      } else {
        res
          .writeHead(200, { 'content-type': 'text/xml' })
          .end(
            '<GetUserResponse><GetUserResult><User><UserName>u</UserName><UserId>AIDAX</UserId><Arn>arn:aws:iam::123456789012:user/u</Arn><Path>/</Path><CreateDate>2026-01-01T00:00:00Z</CreateDate></User></GetUserResult></GetUserResponse>',
          );
      }
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  proxy = await startFaultProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
});
afterAll(async () => {
  await proxy.stop();
  await new Promise((resolve) => upstream.close(resolve));
});
beforeEach(() => {
  seen.length = 0;
});

const config = () => ({
  endpoint: proxy.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  maxAttempts: 3,
});
const getItem = () => new GetItemCommand({ TableName: 't', Key: { id: { S: 'x' } } });

describe('fault proxy', () => {
  it('answers DynamoDB throttling and 5xx in JSON 1.0 shape, which the SDK retries until an attempt goes through', async () => {
    proxy.configure({
      rules: [
        { operation: 'dynamodb:GetItem', effect: 'throttled' },
        { operation: 'dynamodb:GetItem', effect: 'unavailable' },
      ],
    });
    const dynamo = new DynamoDBClient(config());
    const { Item, $metadata } = await dynamo.send(getItem());
    expect(Item).toEqual({ id: { S: 'x' } });
    expect($metadata.attempts).toBe(3);
    expect(seen).toEqual(['DynamoDB_20120810.GetItem']);
    expect(proxy.counts()).toMatchObject({ injected: 2, byKind: { throttled: 1, unavailable: 1 } });
    dynamo.destroy();
  });

  it('gives a crash as an error the SDK does not retry, after the request went through', async () => {
    proxy.configure({ rules: [{ operation: 'dynamodb:GetItem', effect: 'crash' }] });
    const dynamo = new DynamoDBClient(config());
    await expect(dynamo.send(getItem())).rejects.toMatchObject({ name: 'InjectedCrash', $metadata: { attempts: 1 } });
    expect(seen).toEqual(['DynamoDB_20120810.GetItem']);
    dynamo.destroy();
  });

  it('answers IAM (query protocol) in XML: Throttling is retried, and a lost answer is retried after the write', async () => {
    proxy.configure({
      rules: [
        { operation: 'iam:GetUser', effect: 'throttled' },
        { operation: 'iam:GetUser', effect: 'lost-answer' },
      ],
    });
    const iam = new IAMClient(config());
    const { User, $metadata } = await iam.send(new GetUserCommand({ UserName: 'u' }));
    expect(User?.UserName).toBe('u');
    expect($metadata.attempts).toBe(3);
    // The lost answer's request reached the service: two requests went through for one call.
    expect(seen).toEqual(['query', 'query']);
    iam.destroy();
  });

  it('draws random faults from its seed, never on the last attempt a caller announces, and only in scope', async () => {
    const draws = async (seed: number) => {
      proxy.configure({ seed, rate: 0.5, scope: ['"x"'] });
      const dynamo = new DynamoDBClient(config());
      for (let i = 0; i < 10; i++) await dynamo.send(getItem());
      dynamo.destroy();
      return proxy.counts();
    };
    const first = await draws(42);
    expect(first.injected).toBeGreaterThan(0);
    expect(await draws(42)).toEqual(first);
    proxy.configure({ seed: 42, rate: 1, scope: ['not in any body'] });
    const dynamo = new DynamoDBClient(config());
    await dynamo.send(getItem());
    expect(proxy.counts().injected).toBe(0);
    dynamo.destroy();
  });
});
