import { InvokeCommand } from '@aws-sdk/client-lambda';
import type { NumberValue } from '@aws-sdk/lib-dynamodb';
import Big from 'big.js';
import { type Inbox, openInbox } from '../../local/inbox';
import { cloudTrailEvent, invocationLog } from '../fixtures';
import { deliverLogs, item, lambda, local, output, putEvents, settle, unique } from './support';

let inbox: Inbox;
beforeAll(async () => {
  inbox = await openInbox(local.clientConfig, [output('AlertsTopicArn')]);
});
afterAll(() => inbox.close());

async function runSweep() {
  const result = await lambda.send(
    new InvokeCommand({ FunctionName: local.functions['functions/sweep/handler.ts'], Payload: Buffer.from('{}') }),
  );
  if (result.FunctionError) throw new Error(Buffer.from(result.Payload ?? []).toString());
  await settle();
}

const value = (n: unknown) => new Big((n as NumberValue).value).toFixed();

describe('coverage sweep on the local stack', () => {
  it('charges calls whose invocation log never came at the estimate, once, and alerts once a day', async () => {
    const name = `gil-${unique()}`;
    const arn = `arn:aws:iam::111122223333:user/${name}`;
    // Long past, so certainly older than the 15-minute delay; a period of its own.
    const year = 1900 + Math.floor(Math.random() * 100);
    const period = `${year}-02`;
    const events = [1, 2, 3].map((i) => {
      const event = cloudTrailEvent(`${name}-${i}`, arn) as { detail: Record<string, unknown> };
      event.detail.eventTime = `${year}-02-03T10:00:0${i}Z`;
      return event;
    });
    await putEvents(events);
    await settle();
    // One of the three does get its log in time: that one is metered exactly and not swept.
    await deliverLogs([invocationLog(`${name}-1`, arn, { timestamp: `${year}-02-03T10:00:01Z` })]);

    await runSweep();
    await runSweep(); // a second run finds nothing left to charge and alerts no more

    const counter = await item('BudgetsTableName', { principal: `user/${name}`, period });
    expect(value(counter?.spendUsd)).toBe('1.000375'); // 2 x $0.50 estimate + the metered call
    const swept = await item('UsageTableName', { requestId: `${name}-2` });
    expect(swept).toMatchObject({ chargedBy: 'coverage-sweep', catalogVersion: 'unmetered-estimate' });
    expect(swept?.unmeteredSince).toBeUndefined();
    expect(await item('UsageTableName', { requestId: `${name}-1` })).toMatchObject({ chargedBy: 'invocation-log' });

    const alerts = (await inbox.read()).filter((n) => n.attributes.principal === `user/${name}`);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.message).toMatch(/^2 Bedrock call\(s\) by user\/gil-/);

    // The log of a swept call arriving late does not charge it twice.
    await deliverLogs([invocationLog(`${name}-2`, arn, { timestamp: `${year}-02-03T10:00:02Z` })]);
    expect(value((await item('BudgetsTableName', { principal: `user/${name}`, period }))?.spendUsd)).toBe('1.000375');
  });
});
