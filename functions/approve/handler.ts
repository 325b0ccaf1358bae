import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { AuditLog } from '../../shared/audit/log';
import { documents, sfn, sns } from '../../shared/clients';
import { requireEnv } from '../../shared/config';
import { Approvals } from '../../shared/decisions/approvals';
import { signingSecret } from '../../shared/decisions/secret';
import { answer } from './approve';

const audit = AuditLog.fromEnv(documents);
const deps = {
  approvals: Approvals.fromEnv({ documents, sns, sfn, audit }),
  secret: signingSecret(requireEnv('SIGNING_SECRET_ARN')),
};
const logger = new Logger({ serviceName: 'budgeteer-approve' });

/** Serves approval links. Logs name the method and status only: never the query (the link's signature). */
export async function approve(event: LambdaFunctionURLEvent) {
  const result = await answer(event, deps);
  logger.info('approval request', { method: event.requestContext.http.method, status: result.statusCode });
  return result;
}

// The event holds the link's signature and the form's token: it is never logged, whatever POWERTOOLS_LOGGER_LOG_EVENT
// says (this option wins over it).
export const handler = middy(approve).use(injectLambdaContext(logger, { logEvent: false }));
