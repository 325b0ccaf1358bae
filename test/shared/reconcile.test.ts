import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { usd } from '../../shared/money';
import type { Bill } from '../../shared/reconcile/reconcile';
import {
  billByPrincipal,
  billFromCostExplorer,
  billFromCur,
  billFromFile,
  drifted,
  meteredOf,
  reconcile,
} from '../../shared/reconcile/reconcile';

const CUR = readFileSync(join(__dirname, '..', 'fixtures', 'reconcile', 'cur-2026-11-30.csv'), 'utf8');
const rules = { perSessionRoles: ['AWSReservedSSO_*'] };
const text = (bill: Bill) =>
  Object.fromEntries([...billByPrincipal(bill)].map(([arn, amount]) => [arn, amount.toFixed()]));
const ALICE = 'arn:aws:iam::111122223333:user/alice';
const BOB = 'arn:aws:iam::111122223333:user/bob';
const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const NOVA_LITE = 'amazon.nova-lite-v1:0';

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

describe('a Cost Explorer answer grouped by principal and service', () => {
  it("keeps Bedrock's services only, and names a Marketplace model by its service; Amazon Bedrock names none", () => {
    const group = (principal: string, service: string, amount: string) => ({
      Keys: [`iamPrincipal/arn$${principal}`, service],
      Metrics: { UnblendedCost: { Amount: amount, Unit: 'USD' } },
    });
    const answer = {
      ResultsByTime: [
        {
          TimePeriod: { Start: '2026-11-30', End: '2026-12-01' },
          Groups: [
            group(ALICE, 'Claude 3 Haiku (Amazon Bedrock Edition)', '0.3'),
            group(ALICE, 'Amazon Bedrock', '0.02'),
            group(ALICE, 'Amazon Simple Storage Service', '9.99'),
            group('', 'Amazon Elastic Compute Cloud - Compute', '40'),
          ],
        },
      ],
    };

    expect(billFromCostExplorer(answer, '2026-11-30')).toEqual([
      { arn: ALICE, model: HAIKU, billedAs: 'Claude 3 Haiku (Amazon Bedrock Edition)', usd: usd('0.3') },
      { arn: ALICE, model: null, billedAs: 'Amazon Bedrock', usd: usd('0.02') },
    ]);
  });
});

describe('metered against billed', () => {
  it('meets both sides under the principal id ingest uses (per SSO session), with exact differences', () => {
    const metered = meteredOf([
      { principal: 'user/alice', model: NOVA_LITE, costUsd: usd('0.05') },
      { principal: 'user/alice', model: HAIKU, costUsd: usd('0.0500015') },
      { principal: 'role/AWSReservedSSO_Dev_0123/maria@example.com', model: HAIKU, costUsd: usd('1.2') },
      { principal: 'user/carol', model: HAIKU, costUsd: usd('0.3') },
    ]);

    const result = reconcile('2026-11-30', metered, billFromCur(CUR, '2026-11-30'), rules);

    expect(result.date).toBe('2026-11-30');
    expect(result.principals.map(({ models: _, modelsAttributed: __, ...totals }) => totals)).toEqual([
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
    ]);
    expect(drifted(result, usd('0.05')).map((p) => p.principal)).toEqual([
      'role/AWSReservedSSO_Dev_0123/li@example.com',
      'user/carol',
    ]);
    // This CUR names no product: alice's models are listed as metered, her bill as unattributed, nothing met.
    const alice = result.principals.find((p) => p.principal === 'user/alice');
    expect(alice?.modelsAttributed).toBe(false);
    expect(alice?.models).toEqual([
      { model: NOVA_LITE, billedAs: null, meteredUsd: '0.05', billedUsd: null, differenceUsd: null },
      { model: HAIKU, billedAs: null, meteredUsd: '0.0500015', billedUsd: null, differenceUsd: null },
      { model: null, billedAs: null, meteredUsd: null, billedUsd: '0.1000015', differenceUsd: null },
    ]);
  });

  it('meets metered and billed per model where the CUR names the product, by the explicit Price List mapping', () => {
    const csv = [
      'line_item_usage_start_date,line_item_product_code,line_item_iam_principal,line_item_unblended_cost,product_product_name,product',
      `2026-11-30T01:00:00Z,AmazonBedrockFoundationModels,${ALICE},0.30,Claude 3 Haiku (Amazon Bedrock Edition),`,
      `2026-11-30T02:00:00Z,AmazonBedrock,${ALICE},0.02,Amazon Bedrock,"{""model"":""Nova Lite"",""inferenceType"":""Input tokens""}"`,
      // A product no mapping entry names: not taken for a sibling, listed as the bill writes it.
      `2026-11-30T03:00:00Z,AmazonBedrockFoundationModels,${BOB},0.40,Claude 9 Mystery (Amazon Bedrock Edition),`,
      `2026-11-30T03:00:00Z,AmazonBedrockFoundationModels,${BOB},0.10,Claude 3 Haiku (Amazon Bedrock Edition),`,
    ].join('\n');
    const metered = meteredOf([
      { principal: 'user/alice', model: HAIKU, costUsd: usd('0.25') },
      { principal: 'user/alice', model: NOVA_LITE, costUsd: usd('0.02') },
      { principal: 'user/bob', model: HAIKU, costUsd: usd('0.10') },
    ]);

    const result = reconcile('2026-11-30', metered, billFromCur(csv, '2026-11-30'), rules);

    expect(result.principals.find((p) => p.principal === 'user/alice')).toEqual({
      principal: 'user/alice',
      principalArn: ALICE,
      meteredUsd: '0.27',
      billedUsd: '0.32',
      differenceUsd: '0.05',
      modelsAttributed: true,
      models: [
        {
          model: NOVA_LITE,
          billedAs: 'Nova Lite',
          meteredUsd: '0.02',
          billedUsd: '0.02',
          differenceUsd: '0',
        },
        {
          model: HAIKU,
          billedAs: 'Claude 3 Haiku (Amazon Bedrock Edition)',
          meteredUsd: '0.25',
          billedUsd: '0.3',
          differenceUsd: '0.05',
        },
      ],
    });
    const bob = result.principals.find((p) => p.principal === 'user/bob');
    expect(bob?.modelsAttributed).toBe(false);
    expect(bob?.models).toEqual([
      { model: HAIKU, billedAs: null, meteredUsd: '0.1', billedUsd: null, differenceUsd: null },
      {
        model: null,
        billedAs: 'Claude 9 Mystery (Amazon Bedrock Edition)',
        meteredUsd: null,
        billedUsd: '0.4',
        differenceUsd: null,
      },
      {
        model: HAIKU,
        billedAs: 'Claude 3 Haiku (Amazon Bedrock Edition)',
        meteredUsd: null,
        billedUsd: '0.1',
        differenceUsd: null,
      },
    ]);
  });

  it('is no drift exactly at the tolerance, and drift a millionth above it, either way', () => {
    const bill: Bill = [{ arn: ALICE, model: HAIKU, billedAs: null, usd: usd('1.01') }];
    const at = (metered: string) =>
      drifted(
        reconcile(
          '2026-11-30',
          meteredOf([{ principal: 'user/alice', model: HAIKU, costUsd: usd(metered) }]),
          bill,
          rules,
        ),
        usd('0.01'),
      ).map((p) => p.principal);

    expect(at('1')).toEqual([]);
    expect(at('1.02')).toEqual([]);
    expect(at('0.999999')).toEqual(['user/alice']);
    expect(at('1.020001')).toEqual(['user/alice']);
  });

  it('sums a million small costs without a rounding error', () => {
    const calls = Array.from({ length: 1_000_000 }, () => ({
      principal: 'user/a',
      model: HAIKU,
      costUsd: usd('0.0000001'),
    }));
    expect(meteredOf(calls).get('user/a')?.get(HAIKU)?.toFixed()).toBe('0.1');
  });
});
