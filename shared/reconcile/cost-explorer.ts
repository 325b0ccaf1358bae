import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { awsJsonCall, signedFetch } from '../sigv4-fetch';
import { ReconcileError } from './reconcile';

/** Cost Explorer answers from us-east-1 only, whatever Region the stack runs in. */
export const COST_EXPLORER_ENDPOINT = 'https://ce.us-east-1.amazonaws.com/';
const COST_EXPLORER_REGION = 'us-east-1';
/** One day grouped by principal and service is a few pages at most; a runaway loop stops here. */
const MAX_PAGES = 50;

/** How Cost Explorer groups cost by IAM principal in this account: `TAG:<key>`, `DIMENSION:<key>` or `COST_CATEGORY:<key>`. */
export interface PrincipalGroup {
  readonly type: 'TAG' | 'DIMENSION' | 'COST_CATEGORY';
  readonly key: string;
}

const GROUP = /^(TAG|DIMENSION|COST_CATEGORY):(.+)$/;

export function parsePrincipalGroup(text: string): PrincipalGroup {
  const match = GROUP.exec(text.trim());
  if (!match?.[1] || !match[2]) {
    throw new ReconcileError(
      `not a Cost Explorer group: ${JSON.stringify(text)} (write TAG:<key>, DIMENSION:<key> or COST_CATEGORY:<key>)`,
    );
  }
  return { type: match[1] as PrincipalGroup['type'], key: match[2] };
}

/**
 * The bill is not there to compare with: Cost Explorer is not enabled for the account, or has no data for the day
 * yet. Not a drift: the day is reconciled when it is.
 */
export class BillUnavailableError extends ReconcileError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BillUnavailableError';
  }
}

const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

/** The GetCostAndUsage request for one day: Daily UnblendedCost of usage lines, by principal and by service. */
export function costAndUsageRequest(day: string, group: PrincipalGroup, nextPageToken?: string) {
  return {
    TimePeriod: { Start: day, End: nextDay(day) },
    Granularity: 'DAILY',
    Metrics: ['UnblendedCost'],
    // Usage only: tax, credits and refunds are no calls. Services are filtered after (billFromCostExplorer keeps
    // Bedrock's), so a Marketplace model newer than the mapping still counts as billed.
    Filter: { Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } },
    GroupBy: [
      { Type: group.type, Key: group.key },
      { Type: 'DIMENSION', Key: 'SERVICE' },
    ],
    ...(nextPageToken ? { NextPageToken: nextPageToken } : {}),
  };
}

interface Page {
  readonly ResultsByTime?: readonly { readonly Groups?: readonly unknown[] }[];
  readonly NextPageToken?: string;
}

/**
 * The day's GetCostAndUsage answer, every page in one (signed with the function's role, AWS JSON 1.1: one request
 * shape, so no Cost Explorer SDK client is bundled). On the local stack (AWS_ENDPOINT_URL set; Lambda never sets
 * it), which has no Cost Explorer, the answers the project keeps in local/cost-explorer stand in for it.
 */
export async function fetchDayBill(
  day: string,
  group: PrincipalGroup,
  endpoint: string = COST_EXPLORER_ENDPOINT,
  send: typeof signedFetch = signedFetch,
): Promise<{ ResultsByTime: unknown[] }> {
  if (process.env.AWS_ENDPOINT_URL) return savedCostAndUsage();
  const results: unknown[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const response = await send(
      endpoint,
      awsJsonCall(
        COST_EXPLORER_REGION,
        'ce',
        'AWSInsightsIndexService.GetCostAndUsage',
        costAndUsageRequest(day, group, token),
      ),
    );
    if (response.status !== 200) throw answerError(response.status, response.text);
    const page = JSON.parse(response.text) as Page;
    results.push(...(page.ResultsByTime ?? []));
    token = page.NextPageToken || undefined;
    pages++;
  } while (token && pages < MAX_PAGES);
  // A bill cut short would read as drift for every principal past the cut.
  if (token) throw new ReconcileError(`GetCostAndUsage has more than ${MAX_PAGES} pages for ${day}: not compared`);
  return { ResultsByTime: results };
}

function answerError(status: number, text: string): ReconcileError {
  let type = '';
  let message = text.slice(0, 300);
  try {
    const body = JSON.parse(text) as { __type?: string; message?: string; Message?: string };
    type = (body.__type ?? '').split('#').pop() ?? '';
    message = body.message ?? body.Message ?? message;
  } catch {
    // not JSON: the text itself says what happened
  }
  // DataUnavailableException: no data for the period yet; AccessDenied "not enabled for cost explorer": never opened.
  if (type === 'DataUnavailableException' || /not enabled for cost explorer/i.test(message)) {
    return new BillUnavailableError(`Cost Explorer has no bill to compare with (${type || status}): ${message}`);
  }
  return new ReconcileError(`GetCostAndUsage answered ${status} ${type}: ${message}`);
}

/** The GetCostAndUsage answers the local stack serves (local/cost-explorer), every file's days in one answer. */
export function savedCostAndUsage(dir: string = join(__dirname, '..', '..', 'local', 'cost-explorer')): {
  ResultsByTime: unknown[];
} {
  return {
    ResultsByTime: readdirSync(dir)
      .filter((name) => name.endsWith('.json'))
      .sort()
      .flatMap((name) => (JSON.parse(readFileSync(join(dir, name), 'utf8')) as Page).ResultsByTime ?? []),
  };
}
