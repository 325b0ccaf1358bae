import type { Command } from 'commander';
import * as z from 'zod';
import type { AdminRequest } from '../shared/admin/requests';
import { type PriceEntry, priceEntriesSchema, type RecordedPrice } from '../shared/pricing/admin';
import { PriceStore } from '../shared/pricing/store';
import type { PriceVersion } from '../shared/pricing/versions';
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
