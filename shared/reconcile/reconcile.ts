import { type IdentityRules, principalFromArn } from '../identity';
import { toDecimalString, type Usd, usd, ZERO } from '../money';

/**
 * Reconciliation: each principal's metered spend for one UTC day against what AWS bills for it (Cost and Usage
 * Report 2.0 with IAM principal data, or a Cost Explorer answer grouped by principal). Exact decimals throughout.
 */

export class ReconcileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReconcileError';
  }
}

/** What AWS billed a day: USD per principal ARN (`''`: lines with no principal). */
export type Bill = ReadonlyMap<string, Usd>;

export interface ReconciledPrincipal {
  readonly principal: string;
  /** The ARN the bill names (null when only metered). */
  readonly principalArn: string | null;
  readonly meteredUsd: string;
  readonly billedUsd: string;
  /** billed - metered: positive when AWS bills more than was metered. */
  readonly differenceUsd: string;
}

export interface Reconciliation {
  readonly date: string;
  readonly principals: readonly ReconciledPrincipal[];
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function checkDay(date: string): string {
  if (!DAY.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) {
    throw new ReconcileError(`not a day: ${JSON.stringify(date)} (write it as 2026-11-30)`);
  }
  return date;
}

/** Bedrock's lines in a CUR: its own service code and the Marketplace models' (AmazonBedrockFoundationModels). */
const isBedrock = (productCode: string) => productCode.startsWith('AmazonBedrock');

export const CUR_COLUMNS = [
  'line_item_usage_start_date',
  'line_item_product_code',
  'line_item_iam_principal',
  'line_item_unblended_cost',
] as const;

/** The fields of one CSV line (RFC 4180: quoted fields, doubled quotes, commas and newlines inside quotes). */
function* csvRows(text: string): Generator<string[]> {
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      if (row.some((f) => f !== '')) yield row;
      row = [];
      field = '';
    } else field += c;
  }
  row.push(field);
  if (row.some((f) => f !== '')) yield row;
}

/**
 * The day's Bedrock cost per principal from a CUR 2.0 export in CSV, read by its column names (any order, other
 * columns ignored). Parquet is not read: export the CUR as CSV, or convert it.
 */
/** CUR line item types that are usage at its list or discounted rate (not Tax, Credit, Refund, Fee, ...). */
const USAGE_LINE_TYPES = new Set(['Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage']);

export function billFromCur(text: string, date: string): Bill {
  if (text.startsWith('PAR1')) {
    throw new ReconcileError(
      'this is a Parquet file: reconcile reads CUR 2.0 exports in CSV (export as CSV, or convert)',
    );
  }
  const rows = csvRows(text.replace(/^\uFEFF/, ''));
  const header = rows.next().value;
  if (!header) throw new ReconcileError('the CUR file is empty');
  const at = Object.fromEntries(CUR_COLUMNS.map((name) => [name, header.indexOf(name)])) as Record<
    (typeof CUR_COLUMNS)[number],
    number
  >;
  const missing = CUR_COLUMNS.filter((name) => at[name] < 0);
  if (missing.length > 0) {
    throw new ReconcileError(
      `the CUR file lacks ${missing.join(', ')} (IAM principal data must be included in the CUR 2.0 export)`,
    );
  }
  // Where the export has the line type, only usage lines are what metering charged: tax, credits, refunds and
  // discounts are not spend on calls, and would read as drift (often of no principal).
  const lineType = header.indexOf('line_item_line_item_type');
  const bill = new Map<string, Usd>();
  let line = 1;
  for (const row of rows) {
    line++;
    const start = row[at.line_item_usage_start_date] ?? '';
    if (!start.startsWith(date) || !isBedrock(row[at.line_item_product_code] ?? '')) continue;
    if (lineType >= 0 && !USAGE_LINE_TYPES.has((row[lineType] ?? '').trim())) continue;
    const cost = (row[at.line_item_unblended_cost] ?? '').trim();
    let amount: Usd;
    try {
      amount = usd(cost);
    } catch {
      throw new ReconcileError(
        `line ${line}: line_item_unblended_cost is not a decimal amount: ${JSON.stringify(cost)}`,
      );
    }
    const arn = (row[at.line_item_iam_principal] ?? '').trim();
    bill.set(arn, (bill.get(arn) ?? ZERO).plus(amount));
  }
  return bill;
}

interface CostExplorerAnswer {
  readonly ResultsByTime?: readonly {
    readonly TimePeriod?: { readonly Start?: string };
    readonly Groups?: readonly {
      readonly Keys?: readonly string[];
      readonly Metrics?: Readonly<Record<string, { readonly Amount?: string }>>;
    }[];
  }[];
}

/**
 * The day's cost per principal from a Cost Explorer `GetCostAndUsage` answer (DAILY, grouped by the IAM principal,
 * filtered to Bedrock): a group key is the principal ARN, or `<key>$<ARN>` as tag and category groups are written.
 */
export function billFromCostExplorer(answer: unknown, date: string): Bill {
  const results = (answer as CostExplorerAnswer)?.ResultsByTime;
  if (!Array.isArray(results))
    throw new ReconcileError('not a Cost Explorer GetCostAndUsage answer (no ResultsByTime)');
  const bill = new Map<string, Usd>();
  for (const result of results) {
    if (result.TimePeriod?.Start !== date) continue;
    for (const group of result.Groups ?? []) {
      const key = group.Keys?.[0] ?? '';
      const arn = key.includes('$') ? key.slice(key.indexOf('$') + 1) : key;
      const amount = group.Metrics?.UnblendedCost?.Amount;
      if (amount === undefined) throw new ReconcileError(`group ${key} has no UnblendedCost`);
      bill.set(arn, (bill.get(arn) ?? ZERO).plus(usd(amount)));
    }
  }
  return bill;
}

/** A saved bill: Cost Explorer JSON, else CUR CSV. */
export function billFromFile(text: string, date: string): Bill {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) return billFromCostExplorer(JSON.parse(trimmed), date);
  return billFromCur(text, date);
}

/**
 * Metered against billed per principal: the bill's ARNs become principal ids as ingest makes them (per-session
 * roles per session), so both sides meet under one name. A principal on one side only is listed with zero on the
 * other. Sorted by the size of the difference, largest first.
 */
export function reconcile(
  date: string,
  metered: ReadonlyMap<string, Usd>,
  bill: Bill,
  rules: IdentityRules,
): Reconciliation {
  const billed = new Map<string, { arn: string | null; usd: Usd }>();
  for (const [arn, amount] of bill) {
    let principal = '(no principal)';
    try {
      if (arn !== '') principal = principalFromArn(arn, rules).id;
    } catch {
      principal = arn;
    }
    const seen = billed.get(principal);
    billed.set(principal, { arn: seen?.arn ?? (arn || null), usd: (seen?.usd ?? ZERO).plus(amount) });
  }
  const principals = [...new Set([...metered.keys(), ...billed.keys()])].map((principal) => {
    const m = metered.get(principal) ?? ZERO;
    const b = billed.get(principal)?.usd ?? ZERO;
    return {
      principal,
      principalArn: billed.get(principal)?.arn ?? null,
      meteredUsd: toDecimalString(m),
      billedUsd: toDecimalString(b),
      differenceUsd: toDecimalString(b.minus(m)),
    };
  });
  principals.sort(
    (a, b) => usd(b.differenceUsd).abs().cmp(usd(a.differenceUsd).abs()) || a.principal.localeCompare(b.principal),
  );
  return { date, principals };
}

/** The principals whose difference is above the tolerance (either way). */
export const drifted = (reconciliation: Reconciliation, toleranceUsd: Usd) =>
  reconciliation.principals.filter((p) => usd(p.differenceUsd).abs().gt(toleranceUsd));

/** Metered spend per principal from the day's charged calls. */
export function meteredOf(calls: readonly { principal: string; costUsd: Usd }[]): Map<string, Usd> {
  const byPrincipal = new Map<string, Usd>();
  for (const call of calls)
    byPrincipal.set(call.principal, (byPrincipal.get(call.principal) ?? ZERO).plus(call.costUsd));
  return byPrincipal;
}
