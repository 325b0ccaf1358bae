import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { awsJsonCall, signedFetch } from '../sigv4-fetch';
import { type FetchedPrices, type PriceListProduct, productsOf, SERVICE_CODES } from './price-list';

/** The Price List Query API answers from us-east-1 (also eu-central-1, ap-south-1) whatever Region is priced. */
export const PRICE_LIST_ENDPOINT = 'https://api.pricing.us-east-1.amazonaws.com/';
const PRICE_LIST_REGION = 'us-east-1';
/** A runaway paging loop stops here: both service codes hold a few hundred products. */
const MAX_PAGES = 200;

export class PriceListError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PriceListError';
  }
}

/**
 * Every product of Bedrock's two service codes, through `pricing:GetProducts` (AWS JSON 1.1, signed with the
 * function's role). The SDK's own Price List client is not used: its newest release trails the SDK version the
 * project pins, and this is one request shape.
 */
export async function fetchPriceList(
  endpoint: string = PRICE_LIST_ENDPOINT,
  send: typeof signedFetch = signedFetch,
): Promise<PriceListProduct[]> {
  // AWS_ENDPOINT_URL points every SDK client at a local AWS (the local stack sets it; Lambda never does), and moto
  // serves no Price List: there the answers the project keeps in local/price-list stand in for it.
  if (process.env.AWS_ENDPOINT_URL) return savedPriceList();
  const products: PriceListProduct[] = [];
  for (const serviceCode of SERVICE_CODES) {
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const response = await send(
        endpoint,
        awsJsonCall(PRICE_LIST_REGION, 'pricing', 'AWSPriceListService.GetProducts', {
          ServiceCode: serviceCode,
          FormatVersion: 'aws_v1',
          MaxResults: 100,
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      );
      if (response.status !== 200) {
        throw new PriceListError(
          `GetProducts ${serviceCode} answered ${response.status}: ${response.text.slice(0, 300)}`,
        );
      }
      const page = JSON.parse(response.text) as { PriceList?: unknown[]; NextToken?: string };
      products.push(...productsOf({ PriceList: page.PriceList ?? [] }));
      nextToken = page.NextToken || undefined;
      pages++;
    } while (nextToken && pages < MAX_PAGES);
    // A Price List cut short would withdraw every price past the cut (a fetch records what vanished from it).
    if (nextToken) {
      throw new PriceListError(
        `GetProducts ${serviceCode} has more than ${MAX_PAGES} pages: refusing a partial Price List`,
      );
    }
  }
  return products;
}

/** What the prices function is asked: the Price List itself, saved pages, or prices already mapped (by the CLI). */
export interface PriceRefreshRequest {
  readonly pages?: unknown;
  readonly fetched?: readonly FetchedPrices[];
  /** Who asked (an admin's ARN, through the admin function); the schedule names nobody: `system:prices`. */
  readonly actor?: string;
}

/** Runs the prices function now and answers its report (the admin function's `prices refresh`). */
export function priceRefresher(lambda: LambdaClient, functionName: string) {
  return async (request: PriceRefreshRequest): Promise<Record<string, unknown>> => {
    const result = await lambda.send(
      new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(request)) }),
    );
    const text = Buffer.from(result.Payload ?? []).toString();
    if (result.FunctionError) throw new PriceListError(`the prices function failed: ${text.slice(0, 300)}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
}

/** The GetProducts answers the local stack serves (local/price-list, shapes from the AWS documentation). */
export function savedPriceList(dir: string = join(__dirname, '..', '..', 'local', 'price-list')): PriceListProduct[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .flatMap((name) => productsOf(JSON.parse(readFileSync(join(dir, name), 'utf8'))));
}
