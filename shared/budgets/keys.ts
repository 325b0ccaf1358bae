import { ACCOUNT_PRINCIPAL } from '../identity';

/**
 * The account's spend is kept in ACCOUNT_SHARDS counter items (`ACCOUNT#0` … `ACCOUNT#63` of a period), never in
 * the ACCOUNT item itself: every ingest transaction adds to the account total, and one item under concurrent
 * transactions conflicts (TransactionConflict) and caps at one partition's write rate. An ingest execution
 * environment keeps to one shard and moves to another only when a transaction conflicts on it, so the
 * environments spread over the shards. The ACCOUNT item keeps the account's decisions (state, alert level,
 * generation, effects owed); readers add the shards up (`BudgetStore.accountTotal`).
 *
 * 64: at least the design concurrency of 50 ingest environments, so each can settle on a shard of its own, and
 * with the ACCOUNT item 65 keys, one BatchGetItem (at most 100). See docs/performance.md for the arithmetic.
 * The number may grow, never shrink: readers sum shards 0..ACCOUNT_SHARDS-1, and spend in a shard past that
 * would be missed.
 */
export const ACCOUNT_SHARDS = 64;

const ACCOUNT_SHARD_PREFIX = `${ACCOUNT_PRINCIPAL}#`;

/** The principal key of account shard `shard`. */
export const accountShardPrincipal = (shard: number) => `${ACCOUNT_SHARD_PREFIX}${shard}`;

export const isAccountShard = (principal: string) => principal.startsWith(ACCOUNT_SHARD_PREFIX);

/** Every account shard's key in a period. */
export const accountShardKeys = (period: string) =>
  Array.from({ length: ACCOUNT_SHARDS }, (_, shard) => ({ principal: accountShardPrincipal(shard), period }));
