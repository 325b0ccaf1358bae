import type { BedrockCall } from './events/parse';
import type { Charge } from './ledger';
import { priceCall } from './pricing';
import type { PriceBook } from './pricing/versions';

/**
 * Prices a call whose tokens are known (an invocation log record), with the price versions in `book` that were in
 * effect at the call's own time laid over the catalog.
 */
export function chargeFor(
  call: BedrockCall & { tokens: NonNullable<BedrockCall['tokens']> },
  book?: PriceBook,
): Charge {
  const quote = priceCall({
    modelId: call.modelId,
    region: call.region,
    tokens: call.tokens,
    ...(book ? { book, time: call.time } : {}),
  });
  return {
    call,
    model: quote.model,
    costUsd: quote.costUsd,
    unknownModel: quote.unknownModel,
    catalogVersion: quote.catalogVersion,
  };
}

export const hasTokens = (call: BedrockCall): call is BedrockCall & { tokens: NonNullable<BedrockCall['tokens']> } =>
  call.tokens !== undefined;
