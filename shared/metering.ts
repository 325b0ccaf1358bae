import type { BedrockCall } from './events/parse';
import type { Charge } from './ledger';
import { priceCall } from './pricing';
import type { ResolvedProfile } from './pricing/profiles';
import type { PriceBook } from './pricing/versions';

/**
 * Prices a call whose tokens are known (an invocation log record), with the price versions in `book` that were in
 * effect at the call's own time laid over the catalog. A call through an application inference profile resolved
 * to its model (`profile`) is priced as that model; one not resolved is priced on the id it names (the fallback).
 */
export function chargeFor(
  call: BedrockCall & { tokens: NonNullable<BedrockCall['tokens']> },
  book?: PriceBook,
  profile?: ResolvedProfile,
): Charge {
  const quote = priceCall({
    modelId: profile?.pricedAs ?? call.modelId,
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
    ...(profile ? { inferenceProfile: profile.arn } : {}),
    ...(profile?.tags ? { inferenceProfileTags: profile.tags } : {}),
  };
}

export const hasTokens = (call: BedrockCall): call is BedrockCall & { tokens: NonNullable<BedrockCall['tokens']> } =>
  call.tokens !== undefined;
