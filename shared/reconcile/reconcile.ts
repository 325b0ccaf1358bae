import { type IdentityRules, principalFromArn } from '../identity';
import { toDecimalString, type Usd, usd, ZERO } from '../money';
import { BUILT_IN_MAPPING, type ModelMapping } from '../pricing/price-list';

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

/** One amount AWS billed a day: whose (principal ARN, `''` for none) and for what. */
export interface BillLine {
  readonly arn: string;
  /** The Bedrock model id the bill's product is (by the Price List mapping); null when the bill does not say. */
  readonly model: string | null;
  /** What the bill calls it (a CUR product name, a Cost Explorer service); null when it names nothing. */
  readonly billedAs: string | null;
  readonly usd: Usd;
}

/** What AWS billed a day. */
export type Bill = readonly BillLine[];

/** The bill's total per principal ARN. */
export function billByPrincipal(bill: Bill): Map<string, Usd> {
  const byArn = new Map<string, Usd>();
  for (const line of bill) byArn.set(line.arn, (byArn.get(line.arn) ?? ZERO).plus(line.usd));
  return byArn;
}

/**
 * One model of a principal. Where the bill names no model for some of the principal's cost, billed and metered
 * cannot be met per model: the metered models are listed with `billedUsd` null, the unattributed cost with `model`
 * null and what the bill calls it, and no difference is made up.
 */
export interface ReconciledModel {
  readonly model: string | null;
  readonly billedAs: string | null;
  readonly meteredUsd: string | null;
  readonly billedUsd: string | null;
  readonly differenceUsd: string | null;
}

export interface ReconciledPrincipal {
  readonly principal: string;
  /** The ARN the bill names (null when only metered). */
  readonly principalArn: string | null;
  readonly meteredUsd: string;
  readonly billedUsd: string;
  /** billed - metered: positive when AWS bills more than was metered. */
  readonly differenceUsd: string;
  /** False when the bill names no model for some of this principal's cost (see ReconciledModel). */
  readonly modelsAttributed: boolean;
  readonly models: readonly ReconciledModel[];
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

/** CUR line item types that are usage at its list or discounted rate (not Tax, Credit, Refund, Fee, ...). */
const USAGE_LINE_TYPES = new Set(['Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage']);

/**
 * The model a bill's product is, by the explicit mapping the price fetch uses (a product name is never matched
 * loosely: an unlisted model is not taken for its sibling). `Amazon Bedrock` names a service, not a model.
 */
export function modelOfProduct(
  productCode: string,
  product: string,
  mapping: readonly ModelMapping[] = BUILT_IN_MAPPING,
): string | null {
  const models = new Set(
    mapping.filter((m) => m.product === product && (!productCode || m.serviceCode === productCode)).map((m) => m.model),
  );
  return models.size === 1 ? ([...models][0] ?? null) : null;
}

/**
 * What a CUR 2.0 line says it is: `product_model` (AmazonBedrock's models), else `product_product_name`
 * (Marketplace models: `Claude 3 Haiku (Amazon Bedrock Edition)`), else the same keys in the `product` map column
 * (JSON in a CSV export). The usage type (`USE1-MP:USE1_InputTokenCount-Units`) names no Marketplace model.
 */
function productOfCurLine(row: readonly string[], at: Readonly<Record<string, number>>): string | null {
  const column = (name: string) => {
    const i = at[name] ?? -1;
    return i >= 0 ? (row[i] ?? '').trim() : '';
  };
  let map: Record<string, unknown> = {};
  const raw = column('product');
  if (raw.startsWith('{')) {
    try {
      map = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      map = {};
    }
  }
  const named = [column('product_model'), map.model, column('product_product_name'), map.product_name].find(
    (value): value is string => typeof value === 'string' && value.trim() !== '',
  );
  return named?.trim() ?? null;
}

const MODEL_COLUMNS = ['product_model', 'product_product_name', 'product'] as const;

/**
 * The day's Bedrock cost per principal and model from a CUR 2.0 export in CSV, read by its column names (any order,
 * other columns ignored). Parquet is not read: export the CUR as CSV, or convert it.
 */
export function billFromCur(text: string, date: string, mapping?: readonly ModelMapping[]): Bill {
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
  const modelAt = Object.fromEntries(MODEL_COLUMNS.map((name) => [name, header.indexOf(name)]));
  const bill: BillLine[] = [];
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
    const billedAs = productOfCurLine(row, modelAt);
    const productCode = (row[at.line_item_product_code] ?? '').trim();
    const model = billedAs === null ? null : modelOfProduct(productCode, billedAs, mapping);
    bill.push({ arn, model, billedAs, usd: amount });
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

/** Bedrock in Cost Explorer: its own service, and each Marketplace model as a service of its own. */
export const BEDROCK_SERVICE = 'Amazon Bedrock';
const isBedrockService = (service: string, mapping: readonly ModelMapping[]) =>
  service === BEDROCK_SERVICE ||
  /\(Amazon Bedrock Edition\)$/.test(service) ||
  mapping.some((m) => m.serviceCode === 'AmazonBedrockFoundationModels' && m.product === service);

/**
 * The day's cost per principal (and model, where it says) from a Cost Explorer `GetCostAndUsage` answer (DAILY,
 * grouped by the IAM principal, and by SERVICE as a second group): a principal key is the ARN, or `<key>$<ARN>` as
 * tag and category groups are written. With a SERVICE group, only Bedrock's services count, and a Marketplace
 * model's service names its model; `Amazon Bedrock` (Amazon's and open models) names none. Without one, the answer
 * must have been filtered to Bedrock.
 */
export function billFromCostExplorer(
  answer: unknown,
  date: string,
  mapping: readonly ModelMapping[] = BUILT_IN_MAPPING,
): Bill {
  const results = (answer as CostExplorerAnswer)?.ResultsByTime;
  if (!Array.isArray(results))
    throw new ReconcileError('not a Cost Explorer GetCostAndUsage answer (no ResultsByTime)');
  const bill: BillLine[] = [];
  for (const result of results) {
    if (result.TimePeriod?.Start !== date) continue;
    for (const group of result.Groups ?? []) {
      const key = group.Keys?.[0] ?? '';
      const service = group.Keys?.[1];
      if (service !== undefined && !isBedrockService(service, mapping)) continue;
      const arn = key.includes('$') ? key.slice(key.indexOf('$') + 1) : key;
      const amount = group.Metrics?.UnblendedCost?.Amount;
      if (amount === undefined) throw new ReconcileError(`group ${key} has no UnblendedCost`);
      const model = service === undefined ? null : modelOfProduct('AmazonBedrockFoundationModels', service, mapping);
      bill.push({ arn, model, billedAs: service ?? null, usd: usd(amount) });
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

/** Metered spend per principal, per model. */
export type Metered = ReadonlyMap<string, ReadonlyMap<string, Usd>>;

const NO_PRINCIPAL = '(no principal)';
const sumOf = (amounts: Iterable<Usd>) => [...amounts].reduce((a, b) => a.plus(b), ZERO);

/** A principal's models: met where the bill names every model of its cost, else side by side (see ReconciledModel). */
function modelsOf(metered: ReadonlyMap<string, Usd>, billed: readonly BillLine[]): ReconciledModel[] {
  const attributed = billed.every((line) => line.model !== null);
  if (attributed) {
    const byModel = new Map<string, { usd: Usd; billedAs: string | null }>();
    for (const line of billed) {
      const model = line.model ?? '';
      byModel.set(model, { usd: (byModel.get(model)?.usd ?? ZERO).plus(line.usd), billedAs: line.billedAs });
    }
    return [...new Set([...metered.keys(), ...byModel.keys()])].sort().map((model) => {
      const m = metered.get(model) ?? ZERO;
      const b = byModel.get(model)?.usd ?? ZERO;
      return {
        model,
        billedAs: byModel.get(model)?.billedAs ?? null,
        meteredUsd: toDecimalString(m),
        billedUsd: toDecimalString(b),
        differenceUsd: toDecimalString(b.minus(m)),
      };
    });
  }
  const byName = new Map<string, { model: string | null; billedAs: string | null; usd: Usd }>();
  for (const line of billed) {
    const name = `${line.model ?? ''}\u0000${line.billedAs ?? ''}`;
    const seen = byName.get(name);
    byName.set(name, { model: line.model, billedAs: line.billedAs, usd: (seen?.usd ?? ZERO).plus(line.usd) });
  }
  return [
    ...[...metered]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([model, amount]) => ({
        model,
        billedAs: null,
        meteredUsd: toDecimalString(amount),
        billedUsd: null,
        differenceUsd: null,
      })),
    ...[...byName.values()].map((line) => ({
      model: line.model,
      billedAs: line.billedAs,
      meteredUsd: null,
      billedUsd: toDecimalString(line.usd),
      differenceUsd: null,
    })),
  ];
}

/**
 * Metered against billed per principal and model: the bill's ARNs become principal ids as ingest makes them
 * (per-session roles per session), so both sides meet under one name. A principal on one side only is listed with
 * zero on the other. Sorted by the size of the difference, largest first.
 */
export function reconcile(date: string, metered: Metered, bill: Bill, rules: IdentityRules): Reconciliation {
  const billed = new Map<string, { arn: string | null; lines: BillLine[] }>();
  for (const line of bill) {
    let principal = NO_PRINCIPAL;
    try {
      if (line.arn !== '') principal = principalFromArn(line.arn, rules).id;
    } catch {
      principal = line.arn;
    }
    const seen = billed.get(principal) ?? { arn: line.arn || null, lines: [] };
    seen.lines.push(line);
    billed.set(principal, seen);
  }
  const principals = [...new Set([...metered.keys(), ...billed.keys()])].map((principal) => {
    const meteredModels = metered.get(principal) ?? new Map<string, Usd>();
    const lines = billed.get(principal)?.lines ?? [];
    const m = sumOf(meteredModels.values());
    const b = sumOf(lines.map((line) => line.usd));
    return {
      principal,
      principalArn: billed.get(principal)?.arn ?? null,
      meteredUsd: toDecimalString(m),
      billedUsd: toDecimalString(b),
      differenceUsd: toDecimalString(b.minus(m)),
      modelsAttributed: lines.every((line) => line.model !== null),
      models: modelsOf(meteredModels, lines),
    };
  });
  principals.sort(
    (a, b) => usd(b.differenceUsd).abs().cmp(usd(a.differenceUsd).abs()) || a.principal.localeCompare(b.principal),
  );
  return { date, principals };
}

/** The principals whose difference is above the tolerance (either way); exactly at the tolerance is no drift. */
export const drifted = (reconciliation: Reconciliation, toleranceUsd: Usd) =>
  reconciliation.principals.filter((p) => usd(p.differenceUsd).abs().gt(toleranceUsd));

/** Metered spend per principal and model from the day's charged calls. */
export function meteredOf(
  calls: readonly { principal: string; model: string; costUsd: Usd }[],
): Map<string, Map<string, Usd>> {
  const byPrincipal = new Map<string, Map<string, Usd>>();
  for (const call of calls) {
    const models = byPrincipal.get(call.principal) ?? new Map<string, Usd>();
    models.set(call.model, (models.get(call.model) ?? ZERO).plus(call.costUsd));
    byPrincipal.set(call.principal, models);
  }
  return byPrincipal;
}
