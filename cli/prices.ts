import type { Command } from 'commander';
import * as z from 'zod';
import type { RefreshReport } from '../functions/prices/refresh';
import type { AdminRequest } from '../shared/admin/requests';
import { usd } from '../shared/money';
import { ratesAt } from '../shared/pricing';
import { type PriceEntry, priceEntriesSchema, type RecordedPrice } from '../shared/pricing/admin';
import {
  type FetchedPrices,
  MAX_FETCHED_PER_REQUEST,
  mapPriceList,
  productsOf,
  readMapping,
} from '../shared/pricing/price-list';
import { PriceStore } from '../shared/pricing/store';
import { ANY_SCOPE, GLOBAL_SCOPE, PriceBook, type PriceVersion } from '../shared/pricing/versions';
import { callAdmin } from './admin-client';
import { CommandError } from './args';
import { readInput } from './documents';
import { alignedTable } from './format';
import { InputFileError, parseJsonFile } from './json-file';
import { output, resolveTarget, type TargetOptions, targetOptions, withDocuments } from './target';

/**
 * A `prices set --from FILE` (and `local --prices FILE`) file: a JSON list of
 * `{"model", "input", "output", "cacheRead", "cacheWrite", "effectiveFrom"}`, prices in USD per 1M tokens as decimal
 * strings, fields left out keeping their price. Read by the schema the admin function checks requests with.
 */
export function parsePricesFile(text: string, file: string): PriceEntry[] {
  const parsed = priceEntriesSchema.safeParse(parseJsonFile(text, file));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new InputFileError(
    `${file}: ${issue?.path.length ? `${issue.path.join('.')}: ` : ''}${issue?.message ?? 'not a list of prices'} ` +
      '(a JSON list of {"model", "input", "output", "cacheRead", "cacheWrite", "effectiveFrom"}, prices as ' +
      'decimal strings in USD per 1M tokens)',
  );
}

const ISO_TIME = z.iso.datetime({ offset: true });

function describeRecorded(prices: readonly RecordedPrice[]): string {
  const rows = prices.map((p) => [
    p.model,
    p.source,
    p.scope,
    p.effectiveFrom,
    p.removed ? 'removed' : `${p.new.input} / ${p.new.output}`,
    `${p.old.input} / ${p.old.output}`,
    p.recorded ? 'recorded' : 'already recorded',
  ]);
  return alignedTable(['model', 'source', 'scope', 'effective from', 'new in/out', 'was in/out', ''], rows);
}

/** `prices list` rows: every version, newest effective first within a model. */
export function formatVersions(versions: readonly PriceVersion[]): string {
  if (versions.length === 0) return 'no price versions: the catalog prices every call\n';
  const shown = (v: PriceVersion) =>
    v.removed
      ? 'removed'
      : Object.entries(v.prices)
          .map(([field, value]) => `${field} ${value}`)
          .join(', ');
  return alignedTable(
    ['model', 'source', 'scope', 'effective from', 'prices (USD per 1M tokens)', 'recorded by'],
    sortedVersions(versions).map((v) => [v.model, v.source, v.scope, v.effectiveFrom, shown(v), v.recordedBy]),
  );
}

export const sortedVersions = (versions: readonly PriceVersion[]) =>
  [...versions].sort(
    (a, b) =>
      a.model.localeCompare(b.model) ||
      b.effectiveFrom.localeCompare(a.effectiveFrom) ||
      b.recordedAt.localeCompare(a.recordedAt),
  );

type JsonOption = TargetOptions & { json?: boolean };

/** One price where the latest fetch and the catalog disagree (or the catalog lacks the model: `catalog` null). */
export interface PriceDifference {
  readonly model: string;
  readonly scope: string;
  readonly field: string;
  readonly catalog: string | null;
  readonly fetched: string;
}

/** The fetched prices in effect at `at`, field by field, against what the catalog alone charges in their scope. */
export function catalogDiff(book: PriceBook, at: Date): PriceDifference[] {
  const rows: PriceDifference[] = [];
  const layers = new Set(book.all.filter((v) => v.source === 'fetched').map((v) => `${v.model}\u0000${v.scope}`));
  for (const layer of [...layers].sort()) {
    const [model = '', scope = ''] = layer.split('\u0000');
    const current = book.latest(model, 'fetched', scope, at.getTime());
    if (!current) continue;
    const call =
      scope === GLOBAL_SCOPE
        ? { modelId: `global.${model}` }
        : scope === ANY_SCOPE
          ? { modelId: model }
          : { modelId: model, region: scope };
    const catalog = ratesAt(call);
    for (const [field, fetched] of Object.entries(current.prices)) {
      const known = catalog.known ? (catalog.rates[field] ?? null) : null;
      if (known === null || !usd(known).eq(usd(fetched))) rows.push({ model, scope, field, catalog: known, fetched });
    }
  }
  return rows;
}

function formatDiff(rows: readonly PriceDifference[]): string {
  if (rows.length === 0) return 'the latest fetch agrees with the catalog (or nothing was fetched yet)\n';
  return alignedTable(
    ['model', 'scope', 'price', 'catalog', 'fetched'],
    rows.map((r) => [r.model, r.scope, r.field, r.catalog ?? 'not in catalog', r.fetched]),
    [3, 4],
  );
}

function describeRefresh(report: RefreshReport & { unmapped?: readonly string[] }): string {
  const changed = report.changes.filter((c) => c.recorded);
  const lines = changed.map(
    (c) =>
      `${c.change.padEnd(8)} ${c.model} (${c.scope}): input ${c.new.input}, output ${c.new.output} (was ${c.old.input} / ${c.old.output})`,
  );
  return (
    `${report.priced} model prices read, ${changed.length} recorded from ${report.fetchedAt}\n` +
    (lines.length ? `${lines.join('\n')}\n` : '') +
    (report.unmapped?.length ? `not priced (no mapping names them): ${report.unmapped.join(', ')}\n` : '')
  );
}

/** Sends a price change to the admin function (signed, audited) and prints the versions it recorded. */
async function askAdmin(options: JsonOption, request: AdminRequest): Promise<void> {
  const reply = await callAdmin(await resolveTarget(options), request);
  const recorded = (reply.result?.prices ?? []) as RecordedPrice[];
  process.stdout.write(options.json ? `${JSON.stringify(recorded, null, 2)}\n` : describeRecorded(recorded));
}

/** `prices set|list|remove`: admin prices through the admin function (signed, audited); the list from the table. */
export function registerPricesCommands(program: Command): Command {
  const prices = program
    .command('prices')
    .description('price versions: negotiated prices set by admins and prices fetched from the AWS Price List');

  targetOptions(
    prices
      .command('set')
      .description(
        'set negotiated prices from a file, each from its effectiveFrom on; a set price wins over a fetched one ' +
          'until removed (as you: signed with your AWS credentials, audited as price.changed)',
      )
      .requiredOption(
        '--from <file>',
        'JSON list of {"model", "input", "output", "cacheRead", "cacheWrite", "effectiveFrom"}',
      )
      .option('--json', 'print the versions recorded as one JSON document'),
  ).action(async (options: JsonOption & { from: string }) => {
    const entries = parsePricesFile(readInput(options.from), options.from);
    await askAdmin(options, { action: 'prices set', prices: entries });
  });

  targetOptions(
    prices
      .command('remove')
      .description("withdraw a model's set price: from --from (default now) the fetched or catalog price applies")
      .argument('<model>', 'the Bedrock model id (a profile prefix or ARN is resolved to the base model)')
      .option('--from <time>', 'ISO 8601 time the removal takes effect (default: now)')
      .option('--json', 'print the version recorded as one JSON document'),
  ).action(async (model: string, options: JsonOption & { from?: string }) => {
    if (options.from !== undefined && !ISO_TIME.safeParse(options.from).success) {
      throw new CommandError(`--from must be an ISO 8601 time such as 2026-12-01T00:00:00Z, not ${options.from}`);
    }
    await askAdmin(options, {
      action: 'prices remove',
      model,
      ...(options.from ? { effectiveFrom: options.from } : {}),
    });
  });

  targetOptions(
    prices
      .command('refresh')
      .description(
        'run the AWS Price List fetch now (through the admin function, audited as you); with --from, record the ' +
          'prices of saved GetProducts pages or a bulk offer file instead (accounts that cannot reach the Price List)',
      )
      .option('--from <file>', 'saved GetProducts answers (a page or a list of pages) or a bulk offer file')
      .option('--json', 'print the report as one JSON document'),
  ).action(async (options: JsonOption & { from?: string }) => {
    let fetched: (FetchedPrices & { skus: string[] })[] | undefined;
    let unmapped: string[] = [];
    if (options.from) {
      const mapped = mapPriceList(productsOf(parseJsonFile(readInput(options.from), options.from)), readMapping());
      if (mapped.prices.length > MAX_FETCHED_PER_REQUEST) {
        throw new CommandError(
          `${options.from} prices ${mapped.prices.length} models and scopes; one refresh takes at most ` +
            `${MAX_FETCHED_PER_REQUEST}. Do not split it: a refresh withdraws every fetched price its file lacks, so ` +
            'parts would withdraw each other. Record the prices you need with prices set, or run prices refresh ' +
            'without --from where the account reaches the Price List',
        );
      }
      fetched = mapped.prices.map((p) => ({ ...p, skus: [...p.skus] }));
      unmapped = mapped.unmapped;
    }
    const reply = await callAdmin(await resolveTarget(options), {
      action: 'prices refresh',
      ...(fetched ? { fetched } : {}),
    });
    const report = { ...(reply.result as unknown as RefreshReport), ...(fetched ? { unmapped } : {}) };
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : describeRefresh(report));
  });

  targetOptions(
    prices
      .command('diff')
      .description("the repo catalog's prices against the latest Price List fetch, per model and scope")
      .option('--json', 'print one JSON document, prices as decimal strings'),
  ).action(async (options: JsonOption) => {
    await withDocuments(options, async (documents, target) => {
      const book = new PriceBook(await new PriceStore(documents, output(target, 'PricesTableName')).all());
      const rows = catalogDiff(book, new Date());
      process.stdout.write(options.json ? `${JSON.stringify({ differences: rows }, null, 2)}\n` : formatDiff(rows));
    });
  });

  targetOptions(
    prices
      .command('list')
      .description('list every price version (set and fetched), newest first per model')
      .option('--model <id>', 'only this model')
      .option('--json', 'print one JSON document, prices as decimal strings'),
  ).action(async (options: JsonOption & { model?: string }) => {
    await withDocuments(options, async (documents, target) => {
      const all = await new PriceStore(documents, output(target, 'PricesTableName')).all();
      const versions = sortedVersions(all.filter((v) => options.model === undefined || v.model === options.model));
      process.stdout.write(options.json ? `${JSON.stringify({ versions }, null, 2)}\n` : formatVersions(versions));
    });
  });
  return prices;
}
