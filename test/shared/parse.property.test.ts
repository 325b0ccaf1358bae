import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import {
  decodeLogsSubscription,
  EnvelopeError,
  expandDocument,
  type ParsedRecord,
  PayloadError,
  parseRecord,
  type RejectionKind,
} from '../../shared/events/parse';
import { usageOf } from '../../shared/events/usage';
import { cloudTrailEvent, invocationLog } from '../fixtures';

/**
 * The parser's contract for any input: it never throws; it returns a call, an ignored event with its reason, or a
 * rejection with a reason and a kind the rejections metric knows. A valid record means the same whatever order its
 * fields come in and whatever unrelated fields ride along.
 */
const rules = { perSessionRoles: ['AWSReservedSSO_*'] };
const trusted = { account: '111122223333', invocationLogGroup: '/aws/bedrock/modelinvocations' };
const alice = 'arn:aws:iam::111122223333:user/alice';
const KINDS: readonly RejectionKind[] = [
  'not-json',
  'unrecognised-event',
  'invalid-cloudtrail-event',
  'invalid-invocation-log',
  'self-contradicting-log',
  'unknown-principal',
  'over-limit',
  'unknown-operation',
  'unpriceable',
  'unreadable-payload',
  'untrusted-envelope',
];

function expectReasoned(parsed: ParsedRecord) {
  if (parsed.status === 'invalid') {
    expect(KINDS).toContain(parsed.kind);
    expect(parsed.error.length).toBeGreaterThan(0);
    expect(parsed.error.length).toBeLessThan(600);
  } else if (parsed.status === 'ignored') expect(parsed.reason.length).toBeGreaterThan(0);
  else expect(parsed.call.requestId.length).toBeGreaterThan(0);
}

const validLog = invocationLog('r-valid', alice);
const validEvent = { ...cloudTrailEvent('r-valid', alice), account: trusted.account };
const origins = [
  undefined,
  { route: 'eventbridge' as const, trusted },
  { route: 'logs-subscription' as const, trusted },
];

/** A valid record with one of its fields (nested too) replaced by any JSON value, or removed. */
function mutated(record: Record<string, unknown>) {
  const paths = Object.entries(record).flatMap(([key, value]) =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? [[key], ...Object.keys(value).map((inner) => [key, inner])]
      : [[key]],
  );
  return fc.tuple(fc.constantFrom(...paths), fc.option(fc.jsonValue(), { nil: undefined })).map(([path, value]) => {
    const copy = structuredClone(record) as Record<string, Record<string, unknown>>;
    const [outer = '', inner] = path;
    if (inner === undefined) (copy as Record<string, unknown>)[outer] = value;
    else copy[outer] = { ...copy[outer], [inner]: value };
    return JSON.parse(JSON.stringify(copy)) as unknown;
  });
}

/** The record's fields in another order, with unrelated fields among them. */
function reordered(record: Record<string, unknown>) {
  const extraKey = fc.string({ minLength: 1, maxLength: 12 }).map((key) => `x-${key}`);
  return fc
    .tuple(fc.dictionary(extraKey, fc.jsonValue(), { maxKeys: 6 }), fc.infiniteStream(fc.double()))
    .map(([extra, noise]) => {
      const entries = [...Object.entries(record), ...Object.entries(extra)];
      const order = entries.map((entry) => ({ entry, at: noise.next().value as number }));
      order.sort((a, b) => a.at - b.at);
      return Object.fromEntries(order.map(({ entry }) => entry));
    });
}

describe('parsing, for any input', () => {
  it('never throws on any JSON value, by any route', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(...origins), (value, origin) => {
        expectReasoned(parseRecord(value, rules, origin));
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on any object shaped like either source', () => {
    const shaped = fc.oneof(
      fc.dictionary(fc.constantFrom(...Object.keys(validLog)), fc.jsonValue()),
      fc.dictionary(fc.constantFrom(...Object.keys(validEvent)), fc.jsonValue()),
    );
    fc.assert(
      fc.property(shaped, fc.constantFrom(...origins), (value, origin) => {
        expectReasoned(parseRecord(value, rules, origin));
      }),
      { numRuns: 1000 },
    );
  });

  it('gives a reason, never an exception, for a valid record with any one field replaced or removed', () => {
    fc.assert(
      fc.property(fc.oneof(mutated(validLog), mutated(validEvent)), fc.constantFrom(...origins), (value, origin) => {
        expectReasoned(parseRecord(value, rules, origin));
      }),
      { numRuns: 3000 },
    );
  });

  it('reads a valid record the same whatever the order of its fields and the unrelated fields beside them', () => {
    const logOrigin = { route: 'logs-subscription' as const, trusted };
    const eventOrigin = { route: 'eventbridge' as const, trusted };
    const expectedLog = parseRecord(validLog, rules, logOrigin);
    const expectedEvent = parseRecord(validEvent, rules, eventOrigin);
    expect([expectedLog.status, expectedEvent.status]).toEqual(['call', 'call']);
    fc.assert(
      fc.property(reordered(validLog), reordered(validEvent), (log, event) => {
        expect(parseRecord(log, rules, logOrigin)).toEqual(expectedLog);
        expect(parseRecord(event, rules, eventOrigin)).toEqual(expectedEvent);
      }),
      { numRuns: 400 },
    );
  });

  it('reads only well-formed counts from any output body', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const usage = usageOf(body);
        for (const value of Object.values(usage)) {
          if (typeof value === 'number') expect(Number.isSafeInteger(value) && value >= 0).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses any undecodable Logs data with a PayloadError, and nothing else', () => {
    const data = fc.oneof(
      fc.string(),
      fc.base64String(),
      fc.jsonValue().map((value) => gzipSync(JSON.stringify(value)).toString('base64')),
    );
    fc.assert(
      fc.property(data, (text) => {
        try {
          decodeLogsSubscription(text);
        } catch (error) {
          expect(error).toBeInstanceOf(PayloadError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('splits any delivered document into records without throwing, but for an envelope it cannot read or believe', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (document) => {
        try {
          for (const record of expandDocument(document, 'id', trusted)) expectReasoned(parseRecord(record.body, rules));
        } catch (error) {
          expect(error instanceof PayloadError || error instanceof EnvelopeError).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
