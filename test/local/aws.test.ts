import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateStateMachineCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { type LocalAws, LocalAwsError, startLocalAws } from '../../local/aws';
import { finishedExecution, processExists, ROLE_ARN } from './support';

jest.setTimeout(30_000);

class OverBudgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OverBudgetError';
  }
}

describe('startLocalAws', () => {
  let local: LocalAws;
  let sfn: SFNClient;
  let lambda: LambdaClient;

  beforeAll(async () => {
    local = await startLocalAws();
    sfn = new SFNClient(local.clientConfig);
    lambda = new LambdaClient(local.clientConfig);
  });

  afterAll(() => local.stop());

  it('answers a state machine lambda:invoke Task with a registered handler and returns its result', async () => {
    const received: unknown[] = [];
    local.registerFunction('price-call', async (event) => {
      received.push(event);
      return { spend: '0.75' };
    });
    const definition = {
      StartAt: 'Price',
      States: {
        Price: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: local.functionArn('price-call'), 'Payload.$': '$' },
          ResultSelector: { 'spend.$': '$.Payload.spend' },
          End: true,
        },
      },
    };
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({ name: 'price', definition: JSON.stringify(definition), roleArn: ROLE_ARN }),
    );

    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: 'alice-2026-11', input: '{"principal":"alice"}' }),
    );
    const execution = await finishedExecution(sfn, executionArn ?? '');

    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output ?? 'null')).toEqual({ spend: '0.75' });
    expect(received).toEqual([{ principal: 'alice' }]);
  });

  it("turns a handler's error into a Task error named by its errorType", async () => {
    local.registerFunction('refuse', async () => {
      throw new OverBudgetError('alice is over budget');
    });
    const definition = {
      StartAt: 'Refuse',
      States: {
        Refuse: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: 'refuse', Payload: {} },
          Catch: [{ ErrorEquals: ['OverBudgetError'], ResultPath: '$.error', Next: 'Caught' }],
          End: true,
        },
        Caught: { Type: 'Pass', End: true },
      },
    };
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({ name: 'refuse', definition: JSON.stringify(definition), roleArn: ROLE_ARN }),
    );

    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'once', input: '{}' }));
    const execution = await finishedExecution(sfn, executionArn ?? '');

    expect(execution.status).toBe('SUCCEEDED');
    const output = JSON.parse(execution.output ?? '{}') as { error: { Error: string; Cause: string } };
    expect(output.error.Error).toBe('OverBudgetError');
    expect(JSON.parse(output.error.Cause)).toEqual({
      errorType: 'OverBudgetError',
      errorMessage: 'alice is over budget',
    });
  });

  it('answers Invoke from the Lambda client with the result, the event and a Lambda context', async () => {
    let seen: { event: unknown; context: Context } | undefined;
    local.registerFunction(
      'echo',
      async (event, context) => {
        seen = { event, context };
        return { echoed: event };
      },
      { timeoutSeconds: 30, memorySizeMb: 256 },
    );

    const response = await lambda.send(new InvokeCommand({ FunctionName: 'echo', Payload: '{"period":"2026-11"}' }));

    expect(response.StatusCode).toBe(200);
    expect(response.FunctionError).toBeUndefined();
    expect(JSON.parse(Buffer.from(response.Payload ?? []).toString())).toEqual({ echoed: { period: '2026-11' } });
    expect(seen?.event).toEqual({ period: '2026-11' });
    expect(seen?.context).toMatchObject({
      functionName: 'echo',
      invokedFunctionArn: local.functionArn('echo'),
      memoryLimitInMB: '256',
    });
    expect(seen?.context.getRemainingTimeInMillis()).toBeGreaterThan(25_000);
  });

  it('answers a failing Invoke with X-Amz-Function-Error Unhandled and {errorType, errorMessage}', async () => {
    local.registerFunction('broken', async () => {
      throw new TypeError('no principal');
    });

    const response = await lambda.send(new InvokeCommand({ FunctionName: local.functionArn('broken') }));

    expect(response.StatusCode).toBe(200);
    expect(response.FunctionError).toBe('Unhandled');
    expect(JSON.parse(Buffer.from(response.Payload ?? []).toString())).toEqual({
      errorType: 'TypeError',
      errorMessage: 'no principal',
    });
  });

  it('answers Invoke of an unknown function with ResourceNotFoundException', async () => {
    await expect(lambda.send(new InvokeCommand({ FunctionName: 'nobody' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  it('forwards other calls to moto: an item written through the front is in moto', async () => {
    const front = new DynamoDBClient(local.clientConfig);
    const moto = new DynamoDBClient({ ...local.clientConfig, endpoint: local.motoEndpoint });
    await front.send(
      new CreateTableCommand({
        TableName: 'Budgets',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );

    await front.send(new PutItemCommand({ TableName: 'Budgets', Item: { pk: { S: 'alice' }, spend: { N: '1.25' } } }));
    const stored = await moto.send(new GetItemCommand({ TableName: 'Budgets', Key: { pk: { S: 'alice' } } }));

    expect(stored.Item).toEqual({ pk: { S: 'alice' }, spend: { N: '1.25' } });
  });

  it('serves a function URL with a payload 2.0 event and maps the structured result', async () => {
    let event: { rawPath?: string; queryStringParameters?: Record<string, string>; body?: string } = {};
    local.registerFunction('approve', async (received) => {
      event = received as typeof event;
      return { statusCode: 201, headers: { 'content-type': 'text/html' }, body: '<p>approved</p>' };
    });
    const url = await local.serveFunctionUrl('approve');

    const response = await fetch(`${url}decide?token=t1`, { method: 'POST', body: 'reason=ok' });

    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('text/html');
    expect(await response.text()).toBe('<p>approved</p>');
    expect(event).toMatchObject({ rawPath: '/decide', queryStringParameters: { token: 't1' }, body: 'reason=ok' });
  });
});

describe('stopping the local AWS', () => {
  it('leaves no moto process behind', async () => {
    const local = await startLocalAws();
    const pid = local.motoPid;
    expect(processExists(pid)).toBe(true);

    await local.stop();

    expect(processExists(pid)).toBe(false);
    await expect(fetch(`${local.endpoint}/`)).rejects.toThrow();
  });

  it('says how to install moto when python cannot be started', async () => {
    const failure = startLocalAws({ python: 'python3-that-does-not-exist' });

    await expect(failure).rejects.toThrow(LocalAwsError);
    await expect(failure).rejects.toThrow("pip install 'moto[server]'");
  });
});
