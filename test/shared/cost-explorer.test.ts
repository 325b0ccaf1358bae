import { usd } from '../../shared/money';
import {
  BillUnavailableError,
  costAndUsageRequest,
  fetchDayBill,
  parsePrincipalGroup,
  savedCostAndUsage,
} from '../../shared/reconcile/cost-explorer';
import { billFromCostExplorer } from '../../shared/reconcile/reconcile';

const GROUP = { type: 'TAG', key: 'iamPrincipal/arn' } as const;

/** fetchDayBill reads the local fixtures when AWS_ENDPOINT_URL is set (the local stack): off for these tests. */
let saved: string | undefined;
beforeEach(() => {
  saved = process.env.AWS_ENDPOINT_URL;
  delete process.env.AWS_ENDPOINT_URL;
});
afterEach(() => {
  if (saved !== undefined) process.env.AWS_ENDPOINT_URL = saved;
});

describe('the principal group Cost Explorer is asked for', () => {
  it('reads TAG:, DIMENSION: and COST_CATEGORY: keys, and refuses anything else with the forms it takes', () => {
    expect(parsePrincipalGroup('TAG:iamPrincipal/arn')).toEqual(GROUP);
    expect(parsePrincipalGroup('DIMENSION:IAM_PRINCIPAL')).toEqual({ type: 'DIMENSION', key: 'IAM_PRINCIPAL' });
    expect(() => parsePrincipalGroup('iamPrincipal/arn')).toThrow(/TAG:<key>, DIMENSION:<key> or COST_CATEGORY:<key>/);
  });

  it('asks one UTC day, Daily UnblendedCost of usage lines, grouped by the principal then by service', () => {
    expect(costAndUsageRequest('2026-12-31', GROUP)).toEqual({
      TimePeriod: { Start: '2026-12-31', End: '2027-01-01' },
      Granularity: 'DAILY',
      Metrics: ['UnblendedCost'],
      Filter: { Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } },
      GroupBy: [
        { Type: 'TAG', Key: 'iamPrincipal/arn' },
        { Type: 'DIMENSION', Key: 'SERVICE' },
      ],
    });
  });
});

describe('fetchDayBill: ce:GetCostAndUsage, every page', () => {
  it('signs for the ce service in us-east-1, follows NextPageToken, and keeps every page', async () => {
    const page = (amount: string, token?: string) => ({
      status: 200,
      text: JSON.stringify({
        ResultsByTime: [
          {
            TimePeriod: { Start: '2026-11-30', End: '2026-12-01' },
            Groups: [
              {
                Keys: [`iamPrincipal/arn$arn:aws:iam::111122223333:user/u${amount}`, 'Amazon Bedrock'],
                Metrics: { UnblendedCost: { Amount: amount } },
              },
            ],
          },
        ],
        ...(token ? { NextPageToken: token } : {}),
      }),
    });
    const send = jest.fn(async (_url: string, options: { body?: string }) =>
      JSON.parse(options.body ?? '{}').NextPageToken ? page('2') : page('1', 'next'),
    );

    const answer = await fetchDayBill('2026-11-30', GROUP, 'https://ce.example/', send);

    expect(send).toHaveBeenCalledTimes(2);
    expect(send.mock.calls[0]?.[1]).toMatchObject({
      method: 'POST',
      region: 'us-east-1',
      service: 'ce',
      headers: { 'x-amz-target': 'AWSInsightsIndexService.GetCostAndUsage' },
    });
    expect(JSON.parse(send.mock.calls[1]?.[1].body ?? '{}').NextPageToken).toBe('next');
    expect(billFromCostExplorer(answer, '2026-11-30').map((line) => line.usd.toFixed())).toEqual(['1', '2']);
  });

  it('tells a bill Cost Explorer does not have (not enabled, no data yet) from a failure', async () => {
    const answering = (status: number, body: unknown) => async () => ({ status, text: JSON.stringify(body) });

    const unavailable = (body: unknown) =>
      expect(fetchDayBill('2026-11-30', GROUP, undefined, answering(400, body))).rejects.toThrow(BillUnavailableError);

    await unavailable({ __type: 'DataUnavailableException', message: 'Data is not available.' });
    await unavailable({ __type: 'AccessDeniedException', Message: 'User not enabled for cost explorer access' });
    const throttled = fetchDayBill(
      '2026-11-30',
      GROUP,
      undefined,
      answering(400, { __type: 'LimitExceededException' }),
    );
    await expect(throttled).rejects.toThrow('GetCostAndUsage answered 400 LimitExceededException');
    await expect(throttled).rejects.not.toThrow(BillUnavailableError);
  });
});

describe('the bill the local stack serves', () => {
  it("is the project's saved GetCostAndUsage answer: a drift for recon-drift, a match for recon-match", () => {
    const bill = billFromCostExplorer(savedCostAndUsage(), '2094-06-15');
    expect(bill).toEqual([
      {
        arn: 'arn:aws:iam::111122223333:user/recon-match',
        model: 'anthropic.claude-3-haiku-20240307-v1:0',
        billedAs: 'Claude 3 Haiku (Amazon Bedrock Edition)',
        usd: usd('0.00075'),
      },
      {
        arn: 'arn:aws:iam::111122223333:user/recon-drift',
        model: 'anthropic.claude-3-haiku-20240307-v1:0',
        billedAs: 'Claude 3 Haiku (Amazon Bedrock Edition)',
        usd: usd('0.500375'),
      },
    ]);
  });
});
