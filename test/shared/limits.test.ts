import { executionName } from '../../shared/decisions/outbox';
import {
  EXECUTION_NAME,
  IAM_NAME,
  MAX_ARN_LENGTH,
  MAX_MODEL_ID_BYTES,
  MAX_PARTITION_KEY_BYTES,
  MAX_REQUEST_ID_BYTES,
  MAX_TOKENS_PER_RECORD,
} from '../../shared/events/limits';
import { parseRecord } from '../../shared/events/parse';
import { cloudTrailEvent, invocationLog } from '../fixtures';

const rules = { perSessionRoles: ['AWSReservedSSO_*'] };
const ACCOUNT = '111122223333';
const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const session = (role: string, name: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${name}`;

const overLimit = (record: unknown) => {
  const parsed = parseRecord(record, rules);
  expect(parsed).toMatchObject({ status: 'invalid', kind: 'over-limit' });
  return parsed.status === 'invalid' ? parsed.error : '';
};

describe('input limits, checked when a record is parsed', () => {
  it('rejects a principal ARN of 3,000 bytes (more than a DynamoDB partition key holds), naming the limit', () => {
    const arn = user('a'.repeat(3000));
    expect(Buffer.byteLength(`user/${'a'.repeat(3000)}`)).toBeGreaterThan(MAX_PARTITION_KEY_BYTES);

    expect(overLimit(invocationLog('r-1', arn))).toBe(
      `invalid invocation log record: the principal ARN is ${arn.length} characters; IAM ARNs have at most ${MAX_ARN_LENGTH}`,
    );
    expect(overLimit(cloudTrailEvent('r-1', arn))).toMatch(/^invalid CloudTrail event: the principal ARN is/);
  });

  it.each([
    ['a user name of 65 characters', user('u'.repeat(65)), 'the user name is 65 characters; IAM takes 1 to 64'],
    [
      'a session name of 65 characters',
      session('AWSReservedSSO_Dev_0123', 's'.repeat(65)),
      'the role session name is 65 characters; IAM takes 2 to 64',
    ],
    [
      'a role name of 65 characters',
      session('r'.repeat(65), 'job'),
      'the role name is 65 characters; IAM takes 1 to 64',
    ],
    [
      'a federated user name of 33 characters',
      `arn:aws:sts::${ACCOUNT}:federated-user/${'f'.repeat(33)}`,
      'the federated user name is 33 characters; IAM takes 2 to 32',
    ],
    ['a user name with a space', user('al ice'), 'the user name "al ice" has characters IAM does not allow'],
    [
      'a user path of 513 characters',
      user(`${'p'.repeat(511)}/alice`),
      "the principal's IAM path is 513 characters; IAM paths have at most 512",
    ],
  ])('rejects %s, which IAM would refuse a deny policy on', (_case, arn, reason) => {
    expect(overLimit(invocationLog('r-1', arn))).toBe(`invalid invocation log record: ${reason}`);
  });

  it('accepts names at IAM bounds', () => {
    for (const arn of [
      user('u'.repeat(IAM_NAME.user)),
      session('AWSReservedSSO_Dev_0123', 's'.repeat(IAM_NAME.session)),
      user(`${'p'.repeat(510)}/alice`),
    ]) {
      expect(parseRecord(invocationLog('r-1', arn), rules).status).toBe('call');
    }
  });

  it.each([
    [
      'requestId',
      { requestId: 'r'.repeat(MAX_REQUEST_ID_BYTES + 1) },
      /requestId is 257 bytes, too long for a Usage key/,
    ],
    ['requestId', { requestId: 'r-\n1' }, /requestId "r-\\n1" holds control characters/],
    [
      'modelId',
      { modelId: `x.${'m'.repeat(MAX_MODEL_ID_BYTES)}` },
      /modelId is 1026 bytes, too long for a Budgets key/,
    ],
    ['region', { region: 'us-east-1; drop' }, /region "us-east-1; drop" is not an AWS region name/],
    ['operation', { operation: 'o'.repeat(257) }, /operation is 257 bytes/],
    [
      'inputTokenCount',
      { input: { inputTokenCount: MAX_TOKENS_PER_RECORD + 1 } },
      /input is 1000000001, more than 1,000,000,000 per record/,
    ],
    [
      'outputTokenCount',
      { output: { outputTokenCount: Number.MAX_SAFE_INTEGER } },
      /output is 9007199254740991, more than 1,000,000,000 per record/,
    ],
  ])('rejects a %s over its bound', (_field, overrides, reason) => {
    expect(overLimit(invocationLog('r-1', user('alice'), overrides))).toMatch(reason);
  });

  it('accepts a count of tokens at the bound', () => {
    const record = invocationLog('r-1', user('alice'), { input: { inputTokenCount: MAX_TOKENS_PER_RECORD } });
    expect(parseRecord(record, rules).status).toBe('call');
  });

  it('cuts a long value short in its reason', () => {
    const reason = overLimit(invocationLog('r-1', user(`al ice${'x'.repeat(50)}`)));
    expect(reason.length).toBeLessThan(150);
  });

  it('never lets an input value reach a Step Functions execution name as it is', () => {
    for (const readable of ['user/al ice*?[]', `role/${'r'.repeat(64)}/${'s'.repeat(64)}-2026-11`, 'é'.repeat(3000)]) {
      expect(executionName('suspend', 'decision-1', readable)).toMatch(EXECUTION_NAME);
    }
  });
});
