import { InvokeCommand } from '@aws-sdk/client-lambda';
import type { NumberValue } from '@aws-sdk/lib-dynamodb';
import Big from 'big.js';
import { type Inbox, openInbox } from '../../local/inbox';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { usd } from '../../shared/money';
import { cloudTrailEvent, invocationLog } from '../fixtures';
import { deliverLogs, documents, eventually, item, lambda, local, output, putEvents, settle, unique } from './support';

const audit = new AuditLog(documents, output('AuditTableName'));
const budgets = new BudgetStore(documents, output('BudgetsTableName'), {
  configuredDefault: usd('50'),
  configuredAccount: usd('1000'),
});

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
    // Long past, so certainly older than the 15-minute delay, yet after Bedrock existed (ingest rejects a call time
    // before April 2023); a period of its own.
    const year = 2024 + Math.floor(Math.random() * 2);
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

    // The log of a swept call arriving late replaces the estimate with the exact cost, once, audited; the same log
    // again and another sweep change nothing.
    const late = invocationLog(`${name}-2`, arn, { timestamp: `${year}-02-03T10:00:02Z` });
    await deliverLogs([late]);
    await deliverLogs([late]);
    await runSweep();
    const corrected = await item('BudgetsTableName', { principal: `user/${name}`, period });
    expect(value(corrected?.spendUsd)).toBe('0.50075'); // 1 x $0.50 estimate + 2 metered calls
    expect(value(corrected?.requests)).toBe('3');
    expect(await item('UsageTableName', { requestId: `${name}-2` })).toMatchObject({ chargedBy: 'invocation-log' });
    const entries = await eventually('the correction audited', async () => {
      const found = [];
      for await (const entry of audit.query({ subject: `user/${name}`, action: 'usage.estimate-replaced' }))
        found.push(entry);
      return found.length > 0 ? found : undefined;
    });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      period,
      requestId: `${name}-2`,
      details: { estimateUsd: '0.5', exactUsd: '0.000375', addedUsd: '-0.499625' },
    });
    const accountSpend = await eventually('the account moved', async () => {
      const total = await budgets.accountTotal(period);
      return total.spendUsd.eq('0.50075') ? total.spendUsd : undefined;
    });
    expect(accountSpend.toFixed()).toBe('0.50075');
  });
});
