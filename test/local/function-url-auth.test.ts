import { GetUserCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { HttpRequest } from '@smithy/core/protocols';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { type LocalAws, type LocalIdentity, startLocalAws } from '../../local/aws';
import { type CloudFormationTemplateJson, deployTemplate } from '../../local/deploy';
import { createAccessKeyFor } from '../../local/iam';
import { signedFetch } from '../../shared/sigv4-fetch';

jest.setTimeout(30_000);

const FORBIDDEN = { status: 403, text: '{"Message":"Forbidden"}' };

interface IamEvent extends LambdaFunctionURLEvent {
  requestContext: LambdaFunctionURLEvent['requestContext'] & { authorizer?: { iam: Record<string, unknown> } };
}

/** Signs a request the way an SDK would, so a test can send something other than what was signed. */
async function signedHeaders(
  url: string,
  options: {
    body: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    region?: string;
    service?: string;
    signingDate?: Date;
    applyChecksum?: boolean;
  },
): Promise<Record<string, string>> {
  const target = new URL(url);
  const signer = new SignatureV4({
    service: options.service ?? 'lambda',
    region: options.region ?? 'us-east-1',
    credentials: options.credentials,
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: options.applyChecksum ?? true,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'POST',
      hostname: target.hostname,
      port: Number(target.port),
      path: target.pathname,
      headers: { host: target.host, 'content-type': 'application/json' },
      body: options.body,
    }),
    options.signingDate ? { signingDate: options.signingDate } : {},
  );
  const { host: _, ...headers } = signed.headers;
  return headers;
}

async function send(url: string, headers: Record<string, string>, body: string) {
  const response = await fetch(url, { method: 'POST', headers, body });
  return { status: response.status, text: await response.text() };
}

describe('function URLs with AuthType AWS_IAM', () => {
  let local: LocalAws;
  let alice: LocalIdentity;
  let adminUrl: string;
  let openUrl: string;
  const events: IamEvent[] = [];
  const body = JSON.stringify({ action: 'set-limit', principal: 'user/bob', limitUsd: '20' });

  beforeAll(async () => {
    local = await startLocalAws();
    alice = await createAccessKeyFor(local, 'alice');
    const record = async (event: unknown) => {
      events.push(event as IamEvent);
      return { statusCode: 200, body: '{"message":"done"}' };
    };
    local.registerFunction('admin', record);
    local.registerFunction('approve', record);
    adminUrl = await local.serveFunctionUrl('admin', 'AWS_IAM');
    openUrl = await local.serveFunctionUrl('approve', 'NONE');
  });

  afterAll(() => local.stop());

  beforeEach(() => {
    events.length = 0;
  });

  it('issues a key in the local IAM for a user it creates, and names that user', async () => {
    const iam = new IAMClient(local.clientConfig);
    const { User: user } = await iam.send(new GetUserCommand({ UserName: 'alice' }));
    const { AccessKeyMetadata: keys } = await iam.send(new ListAccessKeysCommand({ UserName: 'alice' }));
    iam.destroy();

    expect(alice).toEqual({
      accessKeyId: expect.stringMatching(/^AKIA/),
      secretAccessKey: expect.any(String),
      arn: 'arn:aws:iam::123456789012:user/alice',
      userId: user?.UserId,
    });
    expect(user?.Arn).toBe(alice.arn);
    expect(keys?.map((key) => key.AccessKeyId)).toContain(alice.accessKeyId);
  });

  it('refuses an unsigned request with 403 and does not run the function', async () => {
    const answer = await send(adminUrl, { 'content-type': 'application/json' }, body);

    expect(answer).toEqual(FORBIDDEN);
    expect(events).toEqual([]);
  });

  it('runs the function for a request signed by a registered key and names the signer as Lambda does', async () => {
    const answer = await signedFetch(`${adminUrl}limits?dry=1&dry=2`, {
      method: 'POST',
      body,
      credentials: alice,
      region: local.region,
    });

    expect(answer).toEqual({ status: 200, text: '{"message":"done"}' });
    expect(events).toHaveLength(1);
    expect(events[0]?.body).toBe(body);
    expect(events[0]?.requestContext.authorizer?.iam).toEqual({
      accessKey: alice.accessKeyId,
      accountId: '123456789012',
      callerId: alice.userId,
      cognitoIdentity: null,
      principalOrgId: null,
      userArn: 'arn:aws:iam::123456789012:user/alice',
      userId: alice.userId,
    });
  });

  it('takes a second key of the same user, created after the first', async () => {
    const again = await createAccessKeyFor(local, 'alice');

    const answer = await signedFetch(adminUrl, { method: 'POST', body, credentials: again, region: local.region });

    expect(again.accessKeyId).not.toBe(alice.accessKeyId);
    expect(answer.status).toBe(200);
    expect(events[0]?.requestContext.authorizer?.iam.userArn).toBe(alice.arn);
  });

  it('signs with the default provider chain when given no credentials (here: the environment)', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = alice.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = alice.secretAccessKey;
    try {
      const answer = await signedFetch(adminUrl, { method: 'POST', body, region: local.region });

      expect(answer.status).toBe(200);
      expect(events[0]?.requestContext.authorizer?.iam.accessKey).toBe(alice.accessKeyId);
    } finally {
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it.each([
    ['with', true],
    ['without', false],
  ])('refuses a body altered after signing (%s x-amz-content-sha256)', async (_, applyChecksum) => {
    const headers = await signedHeaders(adminUrl, { body, credentials: alice, applyChecksum });
    expect('x-amz-content-sha256' in headers).toBe(applyChecksum);

    const answer = await send(adminUrl, headers, body.replace('20', '2000'));

    expect(answer).toEqual(FORBIDDEN);
    expect(events).toEqual([]);
  });

  it('refuses a key it never issued, and a registered key with the wrong secret', async () => {
    const unknown = { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: alice.secretAccessKey };
    const wrongSecret = { accessKeyId: alice.accessKeyId, secretAccessKey: `${alice.secretAccessKey}x` };

    const answers = await Promise.all(
      [unknown, wrongSecret].map((credentials) =>
        signedFetch(adminUrl, { method: 'POST', body, credentials, region: local.region }),
      ),
    );

    expect(answers).toEqual([FORBIDDEN, FORBIDDEN]);
    expect(events).toEqual([]);
  });

  it('refuses a signature for another region or service, or dated more than 15 minutes off', async () => {
    const headerSets = await Promise.all([
      signedHeaders(adminUrl, { body, credentials: alice, region: 'eu-west-1' }),
      signedHeaders(adminUrl, { body, credentials: alice, service: 'execute-api' }),
      signedHeaders(adminUrl, { body, credentials: alice, signingDate: new Date(Date.now() - 16 * 60_000) }),
      signedHeaders(adminUrl, { body, credentials: alice, signingDate: new Date(Date.now() + 16 * 60_000) }),
    ]);

    const answers = await Promise.all(headerSets.map((headers) => send(adminUrl, headers, body)));

    expect(answers).toEqual([FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN]);
    expect(events).toEqual([]);
  });

  it('takes a signature dated within 15 minutes', async () => {
    const headers = await signedHeaders(adminUrl, {
      body,
      credentials: alice,
      signingDate: new Date(Date.now() - 14 * 60_000),
    });

    expect((await send(adminUrl, headers, body)).status).toBe(200);
  });

  it('still runs a NONE function URL for an unsigned request, with no authorizer', async () => {
    const answer = await send(openUrl, { 'content-type': 'application/json' }, body);

    expect(answer).toEqual({ status: 200, text: '{"message":"done"}' });
    expect(events).toHaveLength(1);
    expect(events[0]?.requestContext.authorizer).toBeUndefined();
  });
});

describe('deploying AWS::Lambda::Url', () => {
  let local: LocalAws;

  beforeAll(async () => {
    local = await startLocalAws();
  });

  afterAll(() => local.stop());

  const template = (authType: string): CloudFormationTemplateJson => ({
    Resources: {
      AdminFn: {
        Type: 'AWS::Lambda::Function',
        Properties: { FunctionName: 'admin' },
        Metadata: { 'budgeteer:entry': 'functions/admin/handler.ts' },
      },
      AdminFnUrl: {
        Type: 'AWS::Lambda::Url',
        Properties: { TargetFunctionArn: { 'Fn::GetAtt': ['AdminFn', 'Arn'] }, AuthType: authType },
      },
    },
  });

  it('serves the URL with the template AuthType: AWS_IAM refuses an unsigned request', async () => {
    const calls: unknown[] = [];
    const deployment = await deployTemplate(local, template('AWS_IAM'), {
      handlers: {
        'functions/admin/handler.ts': async (event) => {
          calls.push(event);
          return {};
        },
      },
    });
    const url = deployment.find('AWS::Lambda::Url').attributes.FunctionUrl ?? '';
    const bob = await createAccessKeyFor(local, 'bob');

    const unsigned = await send(url, {}, '{}');
    const signed = await signedFetch(url, { method: 'POST', body: '{}', credentials: bob, region: local.region });

    expect(unsigned).toEqual(FORBIDDEN);
    expect(signed.status).toBe(200);
    expect(calls).toHaveLength(1);
  });

  it('refuses an AuthType Lambda does not have', async () => {
    const handlers = { 'functions/admin/handler.ts': async () => ({}) };

    await expect(deployTemplate(local, template('COGNITO'), { handlers })).rejects.toThrow(
      'AdminFnUrl (AWS::Lambda::Url): AuthType must be NONE or AWS_IAM, not COGNITO',
    );
  });
});
