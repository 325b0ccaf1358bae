import { gzipSync } from 'node:zlib';
import { recordsOf } from '../../functions/ingest/sources';

const TRUSTED = { account: '111122223333', invocationLogGroup: '/aws/bedrock/modelinvocations' };
const INVOCATION = { schemaType: 'ModelInvocationLog', requestId: 'r-1' };

/** A subscription delivery as a Logs destination puts it on Kinesis, and as Lambda hands it over (base64). */
function kinesisRecord(sequenceNumber: string, payload: unknown, data?: string) {
  return {
    eventSource: 'aws:kinesis',
    eventID: `shardId-000000000000:${sequenceNumber}`,
    kinesis: { sequenceNumber, data: data ?? gzipSync(JSON.stringify(payload)).toString('base64') },
  };
}
const delivery = (owner: string, events: { id: string; message: string }[]) => ({
  messageType: 'DATA_MESSAGE',
  owner,
  logGroup: TRUSTED.invocationLogGroup,
  logStream: 'aws/bedrock/modelinvocations',
  subscriptionFilters: ['InvocationLogSubscription'],
  logEvents: events.map((event) => ({ ...event, timestamp: 1 })),
});

describe('ingest sources: Kinesis deliveries of CloudWatch Logs subscriptions (an organization)', () => {
  it('reads each log event of each record as an invocation log record on the Logs subscription route', () => {
    const batch = {
      Records: [
        kinesisRecord('49590', delivery(TRUSTED.account, [{ id: 'e1', message: JSON.stringify(INVOCATION) }])),
        kinesisRecord('49591', delivery(TRUSTED.account, [{ id: 'e2', message: JSON.stringify(INVOCATION) }])),
      ],
    };

    const { records, rejected } = recordsOf(batch, TRUSTED);

    expect(rejected).toEqual([]);
    expect(records).toEqual([
      { id: 'e1', body: INVOCATION, route: 'logs-subscription', account: '111122223333' },
      { id: 'e2', body: INVOCATION, route: 'logs-subscription', account: '111122223333' },
    ]);
  });

  it('rejects a delivery whose owner is not a trusted account, naming the record by its sequence number', () => {
    const member = delivery('444455556666', [{ id: 'e1', message: JSON.stringify(INVOCATION) }]);

    const { records, rejected } = recordsOf({ Records: [kinesisRecord('49592', member)] }, TRUSTED);

    expect(records).toEqual([]);
    expect(rejected).toEqual([expect.objectContaining({ id: '49592', kind: 'untrusted-envelope' })]);
  });

  it('rejects a record whose data is not gzip JSON, and still reads the rest of the batch', () => {
    const batch = {
      Records: [
        kinesisRecord('49593', undefined, Buffer.from('not gzip').toString('base64')),
        kinesisRecord('49594', delivery(TRUSTED.account, [{ id: 'e3', message: JSON.stringify(INVOCATION) }])),
      ],
    };

    const { records, rejected } = recordsOf(batch, TRUSTED);

    expect(rejected).toEqual([expect.objectContaining({ id: '49593', kind: 'unreadable-payload' })]);
    expect(records.map((record) => record.id)).toEqual(['e3']);
  });
});
