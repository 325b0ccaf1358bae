import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { AuditLog } from '../../shared/audit/log';
import { documents, sns } from '../../shared/clients';
import { requireEnv } from '../../shared/config';
import { publishAlert } from '../../shared/notify';
import { PriceRecorder } from '../../shared/pricing/admin';
import { fetchedPricesSchema, productsOf, readMapping } from '../../shared/pricing/price-list';
import { fetchPriceList, type PriceRefreshRequest } from '../../shared/pricing/price-list-client';
import { PRICES_TABLE_ENV, PriceStore } from '../../shared/pricing/store';
import { refreshPrices } from './refresh';

// Configuration is read and checked once, at cold start: a missing variable fails the init with its name.
const alertsTopicArn = requireEnv('ALERTS_TOPIC_ARN');
const mapping = readMapping();
const store = new PriceStore(documents, requireEnv(PRICES_TABLE_ENV));
const recorder = new PriceRecorder(store, AuditLog.fromEnv(documents));
const logger = new Logger({ serviceName: 'budgeteer-prices' });

/**
 * The daily Price List fetch (EventBridge schedule, an event without `pages` or `fetched`), or an admin's
 * `budgeteer prices refresh` through the admin function: `pages` (saved GetProducts answers or a bulk offer file)
 * or `fetched` (prices the CLI mapped from them) are recorded instead of fetching, audited as the admin.
 */
export async function refresh(event: PriceRefreshRequest | undefined) {
  const fetched = event?.fetched === undefined ? undefined : fetchedPricesSchema.parse(event.fetched);
  const source = fetched
    ? { fetched }
    : { products: event?.pages === undefined ? await fetchPriceList() : productsOf(event.pages) };
  const actor = typeof event?.actor === 'string' ? event.actor : undefined;
  const report = await refreshPrices(
    source,
    { store, recorder, mapping, alert: (message) => publishAlert(sns, alertsTopicArn, message) },
    actor,
  );
  if (report.unmapped.length > 0) logger.warn('Price List products no mapping names', { unmapped: report.unmapped });
  logger.info('prices refreshed', { products: report.products, priced: report.priced, changes: report.changes.length });
  return report;
}

export const handler = middy(refresh).use(injectLambdaContext(logger));
