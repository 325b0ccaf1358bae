import type { BedrockCall } from './events/parse';
import type { Charge } from './ledger';
import { priceCall } from './pricing';

/** Prices a call whose tokens are known (an invocation log record). */
export function chargeFor(call: BedrockCall & { tokens: NonNullable<BedrockCall['tokens']> }): Charge {
  const quote = priceCall({ modelId: call.modelId, region: call.region, tokens: call.tokens });
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
