import { type Inbox, type Notification, openInbox } from '../../local/inbox';
import { AuditLog } from '../../shared/audit/log';
import { invocationLog } from '../fixtures';
import { deliverLogs, documents, invoke, item, local, output, settle, unique } from './support';

const DIGEST = 'functions/digest/handler.ts';
const audit = new AuditLog(documents, output('AuditTableName'));

let inbox: Inbox;
beforeAll(async () => {
  inbox = await openInbox(local.clientConfig, [output('AlertsTopicArn'), output('CriticalTopicArn')]);
});
afterAll(() => inbox.close());

/** EventBridge's Scheduled Event as the digest's daily rule delivers it. */
const scheduledAt = (time: string) => ({
  version: '0',
  id: unique(),
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '111122223333',
  time,
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:111122223333:rule/digest'],
  detail: {},
});

describe('the daily digest on the local stack', () => {
  it('sends one message per topic for a day, however often it runs, audited once', async () => {
    const name = `dina-${unique()}`;
    const arn = `arn:aws:iam::111122223333:user/${name}`;
    const model = `acme.digest-${unique()}-v1`;
    // A day of its own, long past (after Bedrock existed, before the other suites' periods): its digest is this test's.
    const day = `2023-${String(6 + Math.floor(Math.random() * 6)).padStart(2, '0')}-1${Math.floor(Math.random() * 9)}`;
    const earlier = `${day.slice(0, 8)}0${day.slice(9)}`;
    await deliverLogs([
      invocationLog(`${name}-1`, arn, { timestamp: `${day}T09:00:00Z` }),
      invocationLog(`${name}-2`, arn, { timestamp: `${day}T10:00:00Z`, modelId: model }),
      // Earlier in the period: in the period's spend, not the day's.
      invocationLog(`${name}-0`, arn, { timestamp: `${earlier}T10:00:00Z` }),
    ]);
    await settle();
    await inbox.read(); // the unknown model's own alert is not the digest

    const fired = `${day.slice(0, 8)}${String(Number(day.slice(8)) + 1).padStart(2, '0')}T06:00:00Z`;
    const first = await invoke(DIGEST, scheduledAt(fired));
    const second = await invoke(DIGEST, scheduledAt(fired));
    await settle();

    expect(first).toEqual({ day, sent: true });
    expect(second).toEqual({ day, sent: false });
    const digests = (await inbox.read()).filter((n: Notification) => n.attributes.kind === 'digest');
    const ofDay = digests.filter((n) => n.attributes.day === day);
    expect(ofDay.map((n) => (n.topicArn === output('CriticalTopicArn') ? 'critical' : 'alerts')).sort()).toEqual([
      'alerts',
      'critical',
    ]);
    for (const message of ofDay) {
      expect(message.subject).toMatch(new RegExp(`^Bedrock daily digest ${day}: \\$\\d+\\.\\d\\d yesterday`));
      expect(message.attributes.decisionId).toBe(`digest|${day}`);
      // Whatever the message format per protocol, the day's principal and its unknown model are in it.
      expect(message.message).toContain(`user/${name}`);
      expect(message.message).toContain(model);
    }
    const entries = [];
    for await (const entry of audit.query({ subject: 'DIGEST', action: 'digest.sent' })) {
      if (entry.details.day === day) entries.push(entry);
    }
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor: 'system:digest', period: day.slice(0, 7) });
    expect(entries[0]?.details).toMatchObject({ decisionId: `digest|${day}`, principals: 1, unknownModels: 1 });
    // The claim stays, its effects delivered and cleared.
    const claim = await item('BudgetsTableName', { principal: 'DIGEST', period: day });
    expect(claim?.sentAt).toEqual(expect.any(String));
    expect(Object.keys(claim ?? {}).filter((key) => key.startsWith('outbox'))).toEqual([]);
  });
});
