import { Agent, request } from 'node:http';
import {
  type AttributeValue,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { CreateStateMachineCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { CreateTopicCommand, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { type LocalAws, startLocalAws } from '../../local/aws';
import { openInbox } from '../../local/inbox';
import { finishedExecution, PASS_MACHINE, ROLE_ARN } from './support';

jest.setTimeout(30_000);

type Item = Record<string, AttributeValue>;

const inScanOrder = (items: Item[]) => [...items].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

// The launcher patches moto 5.2.1 (the version pinned for the local run). These tests state what the local run
// relies on; on another moto version, a failure here says which patch to review.
describe('local AWS on moto 5.2.1 through local/moto_server.py', () => {
  let local: LocalAws;
  let dynamo: DynamoDBClient;
  let streams: DynamoDBStreamsClient;

  beforeAll(async () => {
    local = await startLocalAws();
    dynamo = new DynamoDBClient({ ...local.clientConfig, maxAttempts: 1 });
    streams = new DynamoDBStreamsClient({ ...local.clientConfig, maxAttempts: 1 });
  });

  afterAll(() => local.stop());

  /** A table with a NEW_AND_OLD_IMAGES stream; `pk` alone, or `pk` + `sk`. Resolves to its stream's ARN. */
  async function createTable(name: string, withSortKey: boolean): Promise<string> {
    const keys = withSortKey ? ['pk', 'sk'] : ['pk'];
    const created = await dynamo.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: keys.map((key, i) => ({ AttributeName: key, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
        AttributeDefinitions: keys.map((key) => ({ AttributeName: key, AttributeType: 'S' })),
        BillingMode: 'PAY_PER_REQUEST',
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
      }),
    );
    return created.TableDescription?.LatestStreamArn ?? '';
  }

  async function put(table: string, item: Item) {
    await dynamo.send(new PutItemCommand({ TableName: table, Item: item }));
  }

  async function scan(table: string): Promise<Item[]> {
    const { Items = [] } = await dynamo.send(new ScanCommand({ TableName: table }));
    return inScanOrder(Items);
  }

  async function iterator(streamArn: string, type: 'TRIM_HORIZON' | 'LATEST'): Promise<string> {
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const { ShardIterator } = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: StreamDescription?.Shards?.[0]?.ShardId,
        ShardIteratorType: type,
      }),
    );
    return ShardIterator ?? '';
  }

  /** Follows NextShardIterator until a page comes back empty: what a stream poller reads. */
  async function readAll(start: string, limit = 2) {
    const records: { key: string; event: string; sequence: string }[] = [];
    let next = start;
    for (;;) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: next, Limit: limit }));
      next = page.NextShardIterator ?? '';
      for (const record of page.Records ?? []) {
        const keys = record.dynamodb?.Keys ?? {};
        records.push({
          key: [keys.pk?.S, keys.sk?.S].filter(Boolean).join('/'),
          event: record.eventName ?? '',
          sequence: record.dynamodb?.SequenceNumber ?? '',
        });
      }
      if (!page.Records?.length) return { records, next };
    }
  }

  it('lets two named executions of one state machine both succeed (moto alone fails the second with HTTP 500)', async () => {
    const sfn = new SFNClient(local.clientConfig);
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({ name: 'twice', definition: PASS_MACHINE, roleArn: ROLE_ARN }),
    );

    const statuses: (string | undefined)[] = [];
    for (const name of ['first', 'second']) {
      const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: '{}' }));
      statuses.push((await finishedExecution(sfn, executionArn ?? '')).status);
    }

    expect(statuses).toEqual(['SUCCEEDED', 'SUCCEEDED']);
  });

  describe('a cancelled TransactWriteItems', () => {
    const ledger = 'cancel-ledger';
    const counters = 'cancel-counters';
    let ledgerStream: string;
    const seedLedger: Item[] = [
      { pk: { S: 'p1' }, sk: { S: 'a' }, n: { N: '1' } },
      { pk: { S: 'p1' }, sk: { S: 'b' }, n: { N: '2' } },
      { pk: { S: 'p2' }, sk: { S: 'a' }, n: { N: '3' } },
    ];
    const seedCounters: Item[] = [
      { pk: { S: 'c1' }, spend: { N: '5.25' } },
      { pk: { S: 'c2' }, spend: { N: '7' } },
      { pk: { S: 'c3' }, spend: { N: '1' } },
    ];
    let cancellation: unknown;

    beforeAll(async () => {
      ledgerStream = await createTable(ledger, true);
      await createTable(counters, false);
      for (const item of seedLedger) await put(ledger, item);
      for (const item of seedCounters) await put(counters, item);
      // Every write action comes first, so moto applies them all before the last action fails.
      cancellation = await dynamo
        .send(
          new TransactWriteItemsCommand({
            TransactItems: [
              { Put: { TableName: ledger, Item: { pk: { S: 'p1' }, sk: { S: 'c' }, n: { N: '4' } } } },
              { Put: { TableName: ledger, Item: { pk: { S: 'p3' }, sk: { S: 'a' }, n: { N: '5' } } } },
              { Put: { TableName: ledger, Item: { pk: { S: 'p1' }, sk: { S: 'a' }, n: { N: '99' } } } },
              {
                Update: {
                  TableName: counters,
                  Key: { pk: { S: 'c1' } },
                  UpdateExpression: 'ADD spend :cost',
                  ExpressionAttributeValues: { ':cost': { N: '10' } },
                },
              },
              { Delete: { TableName: counters, Key: { pk: { S: 'c3' } } } },
              { Put: { TableName: counters, Item: { pk: { S: 'c4' }, spend: { N: '2' } } } },
              {
                ConditionCheck: {
                  TableName: counters,
                  Key: { pk: { S: 'c2' } },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ],
          }),
        )
        .then(
          () => undefined,
          (error: unknown) => error,
        );
    });

    it('is refused with the failed condition named', () => {
      expect(cancellation).toMatchObject({ name: 'TransactionCanceledException' });
      const reasons = (cancellation as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
      expect(reasons?.map((reason) => reason.Code)).toEqual([
        'None',
        'None',
        'None',
        'None',
        'None',
        'None',
        'ConditionalCheckFailed',
      ]);
    });

    it('leaves every item as it was: new ones gone, the updated and the deleted ones back', async () => {
      expect(await scan(ledger)).toEqual(inScanOrder(seedLedger));
      expect(await scan(counters)).toEqual(inScanOrder(seedCounters));
    });

    it('leaves no stream record of its actions', async () => {
      const { records } = await readAll(await iterator(ledgerStream, 'TRIM_HORIZON'));

      expect(records.map((r) => `${r.event} ${r.key}`)).toEqual(['INSERT p1/a', 'INSERT p1/b', 'INSERT p2/a']);
    });

    it('is undone too when an action names no full key (moto applies the actions before it)', async () => {
      const refused = dynamo.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: ledger, Item: { pk: { S: 'p4' }, sk: { S: 'a' } } } },
            { Put: { TableName: ledger, Item: { pk: { S: 'p4' } } } },
          ],
        }),
      );

      await expect(refused).rejects.toMatchObject({ $metadata: { httpStatusCode: 400 } });
      expect(await scan(ledger)).toEqual(inScanOrder(seedLedger));
    });

    it('does not stop the next transaction from committing and streaming', async () => {
      const start = await iterator(ledgerStream, 'LATEST');
      await dynamo.send(
        new TransactWriteItemsCommand({
          TransactItems: [{ Put: { TableName: ledger, Item: { pk: { S: 'p3' }, sk: { S: 'a' }, n: { N: '5' } } } }],
        }),
      );

      const { records } = await readAll(start);

      expect(records.map((r) => `${r.event} ${r.key}`)).toEqual(['INSERT p3/a']);
      expect(await scan(ledger)).toContainEqual({ pk: { S: 'p3' }, sk: { S: 'a' }, n: { N: '5' } });
    });
  });

  describe('DynamoDB stream records, trimmed once read', () => {
    it('reach a reader following NextShardIterator once each, in order, with rising sequence numbers', async () => {
      const stream = await createTable('stream-order', false);
      const start = await iterator(stream, 'TRIM_HORIZON');
      for (const pk of ['a', 'b', 'c', 'd', 'e']) await put('stream-order', { pk: { S: pk } });

      const first = await readAll(start);
      for (const pk of ['f', 'g', 'h']) await put('stream-order', { pk: { S: pk } });
      const second = await readAll(first.next);

      const records = [...first.records, ...second.records];
      expect(records.map((r) => r.key)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
      const sequences = records.map((r) => BigInt(r.sequence));
      expect(sequences.slice(1).every((s, i) => s > (sequences[i] as bigint))).toBe(true);
    });

    it('stay for an iterator that has not read them yet', async () => {
      const stream = await createTable('stream-unread', false);
      const slow = await iterator(stream, 'TRIM_HORIZON');
      const fast = await iterator(stream, 'TRIM_HORIZON');
      for (const pk of ['a', 'b', 'c']) await put('stream-unread', { pk: { S: pk } });

      await readAll(fast);
      const { records } = await readAll(slow);

      expect(records.map((r) => r.key)).toEqual(['a', 'b', 'c']);
    });

    it('are gone once every iterator is past them: reading them again is TrimmedDataAccessException', async () => {
      const stream = await createTable('stream-trimmed', false);
      const start = await iterator(stream, 'TRIM_HORIZON');
      for (const pk of ['a', 'b']) await put('stream-trimmed', { pk: { S: pk } });
      const { records } = await readAll(start, 10);
      expect(records.map((r) => r.key)).toEqual(['a', 'b']);

      await expect(streams.send(new GetRecordsCommand({ ShardIterator: start }))).rejects.toMatchObject({
        name: 'TrimmedDataAccessException',
        $metadata: { httpStatusCode: 400 },
      });
      const fromOldest = await iterator(stream, 'TRIM_HORIZON');
      await put('stream-trimmed', { pk: { S: 'c' } });
      expect((await readAll(fromOldest)).records.map((r) => r.key)).toEqual(['c']);
    });

    it('answer an unknown iterator with ExpiredIteratorException (HTTP 400, where moto answered 500)', async () => {
      const stream = await createTable('stream-unknown', false);

      await expect(
        streams.send(new GetRecordsCommand({ ShardIterator: `${stream}|1|no-such-iterator` })),
      ).rejects.toMatchObject({ name: 'ExpiredIteratorException', $metadata: { httpStatusCode: 400 } });
    });
  });

  describe('DynamoDB items and update expressions (parsed, validated and written out faster than moto does)', () => {
    const table = 'shapes';
    const key = (pk: string): Item => ({ pk: { S: pk } });
    const everyType: Item = {
      pk: { S: 'every-type' },
      text: { S: 'é ✓' },
      amount: { N: '0.000000035' },
      flag: { BOOL: false },
      nothing: { NULL: true },
      names: { SS: ['alice', 'bob'] },
      counts: { NS: ['1', '2.5'] },
      blob: { B: new Uint8Array([0, 1, 254, 255]) },
      nested: { M: { list: { L: [{ S: 'a' }, { N: '1' }, { M: {} }, { L: [] }] }, empty: { M: {} } } },
    };

    beforeAll(async () => {
      await createTable(table, false);
    });

    async function update(pk: string, expression: string, values?: Item, names?: Record<string, string>) {
      const { Attributes } = await dynamo.send(
        new UpdateItemCommand({
          TableName: table,
          Key: key(pk),
          UpdateExpression: expression,
          ExpressionAttributeValues: values,
          ExpressionAttributeNames: names,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes;
    }

    it('gives back every attribute type as it was written, by GetItem, Scan and the stream', async () => {
      const stream = await iterator(await createTable('shapes-stream', false), 'TRIM_HORIZON');
      await put(table, everyType);
      await put('shapes-stream', everyType);

      const { Item: read } = await dynamo.send(new GetItemCommand({ TableName: table, Key: key('every-type') }));
      const { Items = [] } = await dynamo.send(new ScanCommand({ TableName: 'shapes-stream' }));
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: stream }));

      expect(read).toEqual(everyType);
      expect(Items).toEqual([everyType]);
      expect(page.Records?.[0]?.dynamodb?.NewImage).toEqual(everyType);
    });

    it('applies SET, ADD, REMOVE and if_not_exists as DynamoDB does', async () => {
      await update(
        'counter',
        'SET #p = :p, firstSeen = if_not_exists(firstSeen, :now) ADD spend :cost, requests :one',
        {
          ':p': { S: 'user/alice' },
          ':now': { S: '2026-10-01' },
          ':cost': { N: '0.25' },
          ':one': { N: '1' },
        },
        { '#p': 'principal' },
      );
      const after = await update(
        'counter',
        'SET firstSeen = if_not_exists(firstSeen, :now), tokens = :tokens ADD spend :cost, requests :one REMOVE #p',
        {
          ':now': { S: '2026-10-02' },
          ':cost': { N: '0.5' },
          ':one': { N: '1' },
          ':tokens': { M: { input: { N: '7' } } },
        },
        { '#p': 'principal' },
      );

      expect(after).toEqual({
        pk: { S: 'counter' },
        firstSeen: { S: '2026-10-01' },
        spend: { N: '0.75' },
        requests: { N: '2' },
        tokens: { M: { input: { N: '7' } } },
      });
    });

    it.each([
      ['two SET clauses', 'SET a = :v SET b = :v', 'The "SET" section can only be used once'],
      ['one attribute twice', 'SET a = :v, a = :v', 'Two document paths overlap'],
      ['the key', 'SET pk = :v', 'Cannot update attribute pk'],
    ])('refuses an update expression with %s', async (_, expression, message) => {
      await expect(update('refused', expression, { ':v': { S: 'x' } })).rejects.toMatchObject({
        name: 'ValidationException',
        message: expect.stringContaining(message),
      });
    });

    // Plain expressions (SET a = :v, REMOVE b, ADD c :n on top-level attributes) skip moto's validator walks.
    it('applies a plain expression as DynamoDB does: SET of any type, ADD to nothing and to a number, REMOVE', async () => {
      await update(
        'plain',
        'SET #r = :r, kept = :kept, gone = :kept ADD spend :cost',
        {
          ':r': { S: 'us-east-1' },
          ':kept': { L: [{ S: 'a' }, { M: { n: { N: '1' } } }] },
          ':cost': { N: '0.000000035' },
        },
        { '#r': 'region' },
      );
      const after = await update(
        'plain',
        'ADD spend :cost, requests :one REMOVE gone, neverThere SET #r = :r',
        {
          ':cost': { N: '1.5' },
          ':one': { N: '1' },
          ':r': { S: 'eu-west-1' },
        },
        { '#r': 'region' },
      );

      expect(after).toEqual({
        pk: { S: 'plain' },
        region: { S: 'eu-west-1' },
        kept: { L: [{ S: 'a' }, { M: { n: { N: '1' } } }] },
        spend: { N: '1.500000035' },
        requests: { N: '1' },
      });
    });

    it.each([
      ['a reserved word as a name', 'SET size = :v', { ':v': { S: 'x' } }, undefined, 'reserved keyword'],
      ['ADD of a string', 'ADD a :v', { ':v': { S: 'x' } }, undefined, 'incorrect data type'],
      ['the key by a name', 'REMOVE #k', undefined, { '#k': 'pk' }, 'Cannot update attribute pk'],
    ])('refuses a plain expression with %s, as moto does', async (_, expression, values, names, message) => {
      await expect(update('plain-refused', expression, values, names)).rejects.toMatchObject({
        name: 'ValidationException',
        message: expect.stringContaining(message),
      });
    });

    it('refuses a plain update that would take the item past 400 KB, and writes none of it', async () => {
      await update('plain-big', 'SET a = :small', { ':small': { S: 'kept' } });

      await expect(
        update('plain-big', 'SET b = :half, c = :half', { ':half': { S: 'x'.repeat(210_000) } }),
      ).rejects.toMatchObject({
        name: 'ValidationException',
        message: expect.stringContaining('maximum allowed size'),
      });
      const { Item } = await dynamo.send(new GetItemCommand({ TableName: table, Key: key('plain-big') }));
      expect(Item).toEqual({ pk: { S: 'plain-big' }, a: { S: 'kept' } });
    });

    it('refuses ADD to an attribute that is not a number, and leaves the item as it was', async () => {
      await update('plain-text', 'SET a = :text', { ':text': { S: 'words' } });

      await expect(update('plain-text', 'ADD a :n', { ':n': { N: '1' } })).rejects.toMatchObject({
        name: 'ValidationException',
        message: expect.stringContaining('incorrect data type'),
      });
      const { Item } = await dynamo.send(new GetItemCommand({ TableName: table, Key: key('plain-text') }));
      expect(Item).toEqual({ pk: { S: 'plain-text' }, a: { S: 'words' } });
    });
  });

  it('answers requests on one kept-alive connection (werkzeug, moto alone, closes it after every response)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const listTables = () =>
      new Promise<{ status?: number; connection?: string; socket: unknown }>((resolve, reject) => {
        const req = request(
          `${local.motoEndpoint}/`,
          {
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/x-amz-json-1.0',
              'x-amz-target': 'DynamoDB_20120810.ListTables',
              authorization:
                'AWS4-HMAC-SHA256 Credential=local/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
            },
          },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({ status: res.statusCode, connection: res.headers.connection, socket: req.socket }),
            );
          },
        );
        req.on('error', reject);
        req.end('{}');
      });

    const first = await listTables();
    const second = await listTables();
    agent.destroy();

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(first.connection).not.toBe('close');
    expect(second.socket).toBe(first.socket);
  });

  it('delivers SNS messages to subscribers though it keeps no history of published messages', async () => {
    const sns = new SNSClient(local.clientConfig);
    const { TopicArn = '' } = await sns.send(new CreateTopicCommand({ Name: 'alerts' }));
    const inbox = await openInbox(local.clientConfig, [TopicArn]);

    for (const subject of ['80% of budget', '90% of budget']) {
      await sns.send(new PublishCommand({ TopicArn, Subject: subject, Message: `alice reached ${subject}` }));
    }
    const received = await inbox.read();
    inbox.close();

    expect(received.map((n) => n.subject)).toEqual(['80% of budget', '90% of budget']);
  });
});
