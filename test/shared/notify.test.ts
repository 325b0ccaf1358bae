import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { thresholdAlertMessage } from '../../functions/evaluate/alerts';
import { suspendedMessage } from '../../functions/suspend/messages';
import { usd } from '../../shared/money';
import { type AlertMessage, protocolMessages, publishAlert, SNS_MESSAGE_BYTES } from '../../shared/notify';

const sns = mockClient(SNSClient);
beforeEach(() => sns.reset());

const URL = 'https://approve.example/d/abcdefgh12?e=1795262400&s=sig';

const suspended = (principal = 'user/alice', period = '2026-11') =>
  suspendedMessage({
    decisionId: `suspend|${principal}|${period}|g0`,
    principal,
    principalArn: `arn:aws:iam::111122223333:${principal}`,
    period,
    spendUsd: '10.5',
    limitUsd: '10',
    target: `arn:aws:iam::111122223333:${principal}`,
    until: '2026-12-01T00:00:00.000Z',
    decide: { id: 'abcdefgh12', expiresAt: '2026-11-21T12:00:00.000Z', url: URL },
  });

const thresholdInput = {
  alertId: 'threshold|user/bob|2026-11|g0|80',
  principal: 'user/bob',
  period: '2026-11',
  periodEnd: new Date('2026-12-01T00:00:00Z'),
  threshold: 80,
  skipped: [],
  percent: usd('81.5'),
  spend: usd('81.5'),
  confirmed: usd('80'),
  limit: usd('100'),
  topModels: [{ model: 'anthropic.claude-opus-4', spend: usd('81.5') }],
};

const threshold = (): AlertMessage => ({ ...thresholdAlertMessage(thresholdInput) });

const parse = (message: AlertMessage) => {
  const messages = protocolMessages(message);
  return {
    messages,
    chat: JSON.parse(messages.https ?? '') as {
      version: string;
      source: string;
      id?: string;
      content: { textType: string; title: string; description: string; nextSteps: string[]; keywords: string[] };
      metadata: { threadId?: string; summary: string; eventType?: string; enableCustomActions: boolean };
    },
    program: JSON.parse(messages.sqs ?? '') as Record<string, unknown>,
  };
};

describe('one publish, a message per protocol', () => {
  it('publishes once with MessageStructure json; e-mail and default read the text, attributes kept for filters', async () => {
    sns.on(PublishCommand).resolves({});
    const message = suspended();

    await publishAlert(sns as unknown as SNSClient, 'arn:aws:sns:us-east-1:111122223333:critical', message);

    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    const input = sns.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      Subject: 'Bedrock suspended: user/alice (2026-11)',
      MessageStructure: 'json',
      MessageAttributes: expect.objectContaining({
        kind: { DataType: 'String', StringValue: 'suspended' },
        decisionId: { DataType: 'String', StringValue: 'suspend|user/alice|2026-11|g0' },
      }),
    });
    const messages = JSON.parse(input?.Message ?? '') as Record<string, string>;
    expect(Object.keys(messages).sort()).toEqual(['default', 'email', 'http', 'https', 'lambda', 'sqs']);
    expect(messages.email).toBe(message.body);
    expect(messages.default).toBe(message.body);
  });

  it('e-mail: the readable text carries every decision link and the decision id', () => {
    const { messages } = parse(suspended());
    expect(messages.email).toContain(`  Raise the limit by $2.50 (25%):   ${URL}&d=raise&a=2.50\n`);
    expect(messages.email).toMatch(
      /Lift until the period ends: +https:\/\/approve\.example\/d\/abcdefgh12\?e=1795262400&s=sig&d=lift/,
    );
    expect(messages.email).toContain(`  Keep suspended:                   ${URL}&d=keep\n`);
    expect(messages.email).toContain('Decision id: suspend|user/alice|2026-11|g0');
  });

  it('chat: the custom notification Amazon Q Developer renders, with the links as next steps', () => {
    const { chat } = parse(suspended());
    expect(chat).toMatchObject({
      version: '1.0',
      source: 'custom',
      id: 'suspend|user/alice|2026-11|g0',
      content: {
        textType: 'client-markdown',
        title: '🚨 Bedrock suspended: user/alice (2026-11)',
        keywords: ['critical', 'suspended'],
      },
      metadata: {
        threadId: 'budgeteer/user/alice/2026-11',
        summary: 'Bedrock suspended: user/alice (2026-11)',
        eventType: 'suspended',
        enableCustomActions: false,
      },
    });
    expect(chat.content.description).toMatch(
      /^user\/alice has reached its Bedrock budget for 2026-11 and is suspended\./,
    );
    expect(chat.content.description).toContain('Spend: 10.5 USD of a 10 USD limit');
    expect(chat.content.description).toMatch(/They work once and expire at 2026-11-21T12:00:00\.000Z\.$/i);
    expect(chat.content.nextSteps).toEqual([
      `Raise the limit by $2.50 (25%): ${URL}&d=raise&a=2.50`,
      `Raise the limit by $5.00 (50%): ${URL}&d=raise&a=5.00`,
      `Raise the limit by $10.00 (100%): ${URL}&d=raise&a=10.00`,
      `Lift until the period ends: ${URL}&d=lift`,
      `Keep suspended: ${URL}&d=keep`,
      '`npx budgeteer override abcdefgh12 raise|lift|keep --reason "…" [--amount USD]`',
    ]);
  });

  it('a prepaid (TOTAL) budget: no period end in the threshold alert or the suspension, a lift until a new limit', () => {
    const { periodEnd: _never, ...prepaid } = thresholdInput;
    const alert = thresholdAlertMessage({ ...prepaid, period: 'TOTAL' });
    const suspension = suspended('user/alice', 'TOTAL');

    expect(alert.body).toContain('never (a prepaid total budget)');
    expect(alert.body).toContain('until an admin approves an override or the budget is raised.');
    expect(alert.data).not.toHaveProperty('periodEnd');
    expect(suspension.body).toContain('the limit is raised or an admin decides (a prepaid budget has no period end)');
    expect(suspension.body).toContain('(allow until its limit is next set)');
    expect(suspension.links?.map((link) => link.label)).toContain('Lift until its limit is next set');
    expect(suspension.body).not.toContain('2026-12-01T00:00:00.000Z');
  });

  it('chat: one thread per principal and period', () => {
    const thread = (message: AlertMessage) => parse(message).chat.metadata.threadId;
    expect(thread(suspended())).toBe(
      thread({ ...threshold(), attributes: { ...threshold().attributes, principal: 'user/alice' } }),
    );
    expect(thread(suspended('user/alice', '2026-12'))).not.toBe(thread(suspended()));
    expect(thread(suspended('user/bob'))).not.toBe(thread(suspended()));
  });

  it('programs: every attribute, typed values in exact decimals, the links with their choice, the text', () => {
    const message = threshold();
    const { program } = parse(message);
    expect(program).toMatchObject({
      schema: 'budgeteer.alert/1',
      id: 'threshold|user/bob|2026-11|g0|80',
      alertId: 'threshold|user/bob|2026-11|g0|80',
      kind: 'threshold',
      severity: 'warning',
      principal: 'user/bob',
      period: '2026-11',
      threshold: 80,
      percent: '81.50',
      spendUsd: '81.5',
      confirmedSpendUsd: '80',
      limitUsd: '100',
      periodEnd: '2026-12-01T00:00:00.000Z',
      topModels: [{ model: 'anthropic.claude-opus-4', spendUsd: '81.5' }],
      subject: 'Bedrock budget 80% reached: user/bob (2026-11)',
      summary: 'user/bob has used 81.50% of its Bedrock budget for 2026-11.',
      text: message.body,
    });
    const links = parse(suspended()).program.links;
    expect(links).toContainEqual({
      label: 'Raise the limit by $5.00 (50%)',
      url: `${URL}&d=raise&a=5.00`,
      choice: 'raise',
      amountUsd: '5.00',
    });
    expect(links).toContainEqual({ label: 'Keep suspended', url: `${URL}&d=keep`, choice: 'keep' });
    expect(protocolMessages(message).lambda).toBe(protocolMessages(message).sqs);
    expect(parse(message).chat.content.nextSteps).toEqual([
      '`npx budgeteer status --principal user/bob`',
      '`npx budgeteer budget set user/bob <higher USD>`',
    ]);
  });

  it('a message claimed before the structured parts existed still goes to every channel', () => {
    const legacy: AlertMessage = {
      subject: 'alice suspended',
      body: 'over budget',
      attributes: { kind: 'suspended', severity: 'critical', principal: 'user/alice', decisionId: 'd-1' },
    };
    const { chat, program, messages } = parse(legacy);
    expect(messages.email).toBe('over budget');
    expect(chat.content).toMatchObject({ title: '🚨 alice suspended', description: 'over budget', nextSteps: [] });
    expect(chat.metadata.threadId).toBe('budgeteer/user/alice');
    expect(program).toMatchObject({ id: 'd-1', summary: 'over budget', text: 'over budget', links: [] });
  });

  it('stays within what SNS accepts: a body too long is cut alike in every channel, the subject at 100', async () => {
    sns.on(PublishCommand).resolves({});
    const huge: AlertMessage = { ...suspended(), subject: 'S'.repeat(150), body: `${'é'.repeat(200_000)}\nend` };

    await publishAlert(sns as unknown as SNSClient, 'arn:aws:sns:us-east-1:111122223333:critical', huge);

    const input = sns.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(Buffer.byteLength(input?.Message ?? '')).toBeLessThanOrEqual(SNS_MESSAGE_BYTES);
    expect(input?.Subject).toHaveLength(100);
    const messages = JSON.parse(input?.Message ?? '') as Record<string, string>;
    expect(messages.email?.endsWith('…')).toBe(true);
    expect((JSON.parse(messages.sqs ?? '') as { text: string }).text).toBe(messages.email);
    expect(
      (JSON.parse(messages.https ?? '') as { content: { description: string } }).content.description.length,
    ).toBeLessThanOrEqual(3000);
  });
});
