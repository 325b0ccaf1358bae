import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { usd } from '../../shared/money';
import {
  billFromCostExplorer,
  billFromCur,
  billFromFile,
  drifted,
  meteredOf,
  reconcile,
} from '../../shared/reconcile/reconcile';

const CUR = readFileSync(join(__dirname, '..', 'fixtures', 'reconcile', 'cur-2026-11-30.csv'), 'utf8');
const rules = { perSessionRoles: ['AWSReservedSSO_*'] };
const text = (bill: ReadonlyMap<string, { toFixed(): string }>) =>
  Object.fromEntries([...bill].map(([arn, amount]) => [arn, amount.toFixed()]));

describe('the bill of a day', () => {
  it('reads a CUR 2.0 CSV by its column names: Bedrock lines of that day only, summed exactly per principal ARN', () => {
    expect(text(billFromCur(CUR, '2026-11-30'))).toEqual({
      'arn:aws:iam::111122223333:user/alice': '0.1000015',
      'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0123/maria@example.com': '1.25',
      'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0123/li@example.com': '0.5',
    });
  });

  it('counts only usage lines where the export has the line type: tax, credits and refunds are no calls', () => {
    const csv = [
      'line_item_usage_start_date,line_item_product_code,line_item_iam_principal,line_item_unblended_cost,line_item_line_item_type',
      '2026-11-30T10:00:00Z,AmazonBedrock,arn:aws:iam::111122223333:user/alice,0.25,Usage',
      '2026-11-30T10:00:00Z,AmazonBedrock,arn:aws:iam::111122223333:user/alice,0.05,DiscountedUsage',
      '2026-11-30T10:00:00Z,AmazonBedrock,arn:aws:iam::111122223333:user/alice,-0.10,Credit',
      '2026-11-30T10:00:00Z,AmazonBedrock,,0.02,Tax',
      '2026-11-30T10:00:00Z,AmazonBedrock,arn:aws:iam::111122223333:user/alice,-0.25,Refund',
    ].join('\n');

    expect(text(billFromCur(csv, '2026-11-30'))).toEqual({ 'arn:aws:iam::111122223333:user/alice': '0.3' });
  });

  it('names the columns a CUR lacks, and refuses Parquet with what to do instead', () => {
    expect(() => billFromCur('line_item_usage_start_date,line_item_product_code\n', '2026-11-30')).toThrow(
      'the CUR file lacks line_item_iam_principal, line_item_unblended_cost',
    );
    expect(() => billFromCur('PAR1\u0000\u0000', '2026-11-30')).toThrow(/Parquet.*CSV/);
  });

  it('reads a Cost Explorer answer grouped by principal (plain or key$ARN group keys)', () => {
    const answer = {
      ResultsByTime: [
        {
          TimePeriod: { Start: '2026-11-30', End: '2026-12-01' },
          Groups: [
            {
              Keys: ['arn:aws:iam::111122223333:user/alice'],
              Metrics: { UnblendedCost: { Amount: '0.1000015', Unit: 'USD' } },
            },
            {
              Keys: ['aws:PrincipalArn$arn:aws:iam::111122223333:user/bob'],
              Metrics: { UnblendedCost: { Amount: '2', Unit: 'USD' } },
            },
          ],
        },
        {
          TimePeriod: { Start: '2026-11-29', End: '2026-11-30' },
          Groups: [{ Keys: ['x'], Metrics: { UnblendedCost: { Amount: '5' } } }],
        },
      ],
    };
    expect(text(billFromCostExplorer(answer, '2026-11-30'))).toEqual({
      'arn:aws:iam::111122223333:user/alice': '0.1000015',
      'arn:aws:iam::111122223333:user/bob': '2',
    });
    expect(text(billFromFile(JSON.stringify(answer), '2026-11-30'))).toHaveProperty(
      ['arn:aws:iam::111122223333:user/bob'],
      '2',
    );
  });
});

describe('metered against billed', () => {
  it('meets both sides under the principal id ingest uses (per SSO session), with exact differences', () => {
    const metered = meteredOf([
      { principal: 'user/alice', costUsd: usd('0.05') },
      { principal: 'user/alice', costUsd: usd('0.0500015') },
      { principal: 'role/AWSReservedSSO_Dev_0123/maria@example.com', costUsd: usd('1.2') },
      { principal: 'user/carol', costUsd: usd('0.3') },
    ]);

    const result = reconcile('2026-11-30', metered, billFromCur(CUR, '2026-11-30'), rules);

    expect(result).toEqual({
      date: '2026-11-30',
      principals: [
        {
          principal: 'role/AWSReservedSSO_Dev_0123/li@example.com',
          principalArn: 'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0123/li@example.com',
          meteredUsd: '0',
          billedUsd: '0.5',
          differenceUsd: '0.5',
        },
        { principal: 'user/carol', principalArn: null, meteredUsd: '0.3', billedUsd: '0', differenceUsd: '-0.3' },
        {
          principal: 'role/AWSReservedSSO_Dev_0123/maria@example.com',
          principalArn: 'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0123/maria@example.com',
          meteredUsd: '1.2',
          billedUsd: '1.25',
          differenceUsd: '0.05',
        },
        {
          principal: 'user/alice',
          principalArn: 'arn:aws:iam::111122223333:user/alice',
          meteredUsd: '0.1000015',
          billedUsd: '0.1000015',
          differenceUsd: '0',
        },
      ],
    });
    expect(drifted(result, usd('0.05')).map((p) => p.principal)).toEqual([
      'role/AWSReservedSSO_Dev_0123/li@example.com',
      'user/carol',
    ]);
  });

  it('sums a million small costs without a rounding error', () => {
    const calls = Array.from({ length: 1_000_000 }, () => ({ principal: 'user/a', costUsd: usd('0.0000001') }));
    expect(meteredOf(calls).get('user/a')?.toFixed()).toBe('0.1');
  });
});
