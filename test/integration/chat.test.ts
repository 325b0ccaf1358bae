import { CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { SNSClient, SubscribeCommand, UnsubscribeCommand } from '@aws-sdk/client-sns';
import { deploymentOf } from '../../cli/deployment';
import { type Inbox, openInbox } from '../../local/inbox';
import { setBudgetLimit } from '../../shared/admin/set-limit';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { usd } from '../../shared/money';
import { invocationLog } from '../fixtures';
import { type ChatEndpoint, type Delivery, openChatEndpoint } from '../local/chat-endpoint';
import { deliverLogs, documents, eventually, local, output, settle, unique } from './support';

// Drives a principal through the real pipeline to a suspension: longer than jest's 5 s default on a busy machine.
jest.setTimeout(60_000);

const OPUS = 'anthropic.claude-opus-4-20250514-v1:0'; // $15 per million input tokens
const ADMIN = 'arn:aws:iam::123456789012:user/admin';
const ACCOUNT = '111122223333';
const LINK = /http:\/\/127\.0\.0\.1:\d+\/d\/[A-Za-z0-9_-]+\?e=\d+&s=[A-Za-z0-9_-]+/;
const iam = new IAMClient(local.clientConfig);
const sns = new SNSClient(local.clientConfig);
const store = new BudgetStore(documents, output('BudgetsTableName'), {
  configuredDefault: usd('50'),
  configuredAccount: usd('1000'),
});
const audit = new AuditLog(documents, output('AuditTableName'));
const deployment = deploymentOf({ clientConfig: local.clientConfig, outputs: local.outputs });

interface Chat {
  version: string;
  source: string;
  id?: string;
  content: { textType: string; title: string; description: string; nextSteps: string[] };
  metadata: { threadId: string; summary: string; additionalContext: Record<string, string> };
}
const chatOf = (delivery: Delivery) => JSON.parse(delivery.envelope.Message) as Chat;

let endpoint: ChatEndpoint;
let inbox: Inbox;
const subscriptions: string[] = [];
beforeAll(async () => {
  endpoint = await openChatEndpoint();
  inbox = await openInbox(local.clientConfig, [output('CriticalTopicArn')], `chat-${unique()}`);
  for (const topic of ['AlertsTopicArn', 'CriticalTopicArn']) {
    const { SubscriptionArn } = await sns.send(
      new SubscribeCommand({
        TopicArn: output(topic),
        Protocol: 'https',
        Endpoint: endpoint.url,
        ReturnSubscriptionArn: true,
      }),
    );
    subscriptions.push(SubscriptionArn ?? '');
  }
});
afterAll(async () => {
  // The topics are every suite's: nothing more goes to an endpoint that is gone.
  for (const arn of subscriptions) await sns.send(new UnsubscribeCommand({ SubscriptionArn: arn }));
  await endpoint.close();
  inbox.close();
  sns.destroy();
  iam.destroy();
});

describe('alerts in chat: an https subscriber (where Amazon Q Developer in chat applications subscribes)', () => {
  it('receives the custom notification of each alert, with the decision links as next steps, in one thread per principal and period', async () => {
    const name = `chat-${unique()}`;
    const principal = `user/${name}`;
    await iam.send(new CreateUserCommand({ UserName: name }));
    await setBudgetLimit(store, audit, deployment, { principal, limitUsd: usd('1'), actor: ADMIN });
    await settle();
    await deliverLogs([
      invocationLog(`${unique()}-${unique()}`, `arn:aws:iam::${ACCOUNT}:user/${name}`, {
        timestamp: new Date().toISOString(),
        modelId: OPUS,
        input: { inputTokenCount: Math.round((2 * 1_000_000) / 15) }, // $2 of a $1 budget
        output: { outputTokenCount: 0 },
      }),
    ]);
    await settle();

    const mine = (d: Delivery) => chatOf(d).metadata.additionalContext.principal === principal;
    const kindOf = (d: Delivery) => chatOf(d).metadata.additionalContext.kind;
    const deliveries = (await endpoint.waitFor((d) => mine(d) && kindOf(d) === 'suspended')).filter(mine);
    const suspended = chatOf(deliveries.find((d) => kindOf(d) === 'suspended') as Delivery);

    expect(suspended).toMatchObject({
      version: '1.0',
      source: 'custom',
      id: expect.stringMatching(/^suspend\|/),
      content: { textType: 'client-markdown', title: `🚨 Bedrock suspended: ${principal} (${thisMonth()})` },
      metadata: { threadId: `budgeteer/${principal}/${thisMonth()}` },
    });
    expect(suspended.content.description).toContain(`${principal} has reached its Bedrock budget`);
    const choices = suspended.content.nextSteps.map((step) => /[?&]d=(\w+)/.exec(step)?.[1]);
    expect(choices).toEqual(['raise', 'raise', 'raise', 'lift', 'keep', undefined]);
    for (const step of suspended.content.nextSteps.slice(0, 5)) expect(step).toMatch(LINK);
    expect(suspended.content.nextSteps[5]).toMatch(/^`npx budgeteer override [\w-]+ raise\|lift\|keep/);

    // The threshold alert came from the alerts topic, the suspension from the critical one: one thread.
    const fromAlerts = await endpoint.waitFor((d) => mine(d) && d.envelope.TopicArn === output('AlertsTopicArn'));
    const threads = new Set(fromAlerts.filter(mine).map((d) => chatOf(d).metadata.threadId));
    expect(threads).toEqual(new Set([`budgeteer/${principal}/${thisMonth()}`]));

    // A link in chat is the link in the e-mail, and it opens the decision's page.
    const mailed = await eventually('the suspension in the inbox', async () =>
      (await inbox.read()).find((n) => n.attributes.principal === principal && n.attributes.kind === 'suspended'),
    );
    const lift = suspended.content.nextSteps[3]?.replace(/^Lift until the period ends: /, '') ?? '';
    expect(mailed.message).toContain(lift);
    const urls = suspended.content.nextSteps.slice(0, 5).map((step) => step.slice(step.indexOf('http')));
    expect(mailed.alert?.links.map((l) => l.url)).toEqual(urls);
    const page = await fetch(lift, { redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(principal);
  });
});

const thisMonth = () => new Date().toISOString().slice(0, 7);
