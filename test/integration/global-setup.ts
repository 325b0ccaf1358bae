// Handlers are loaded lazily, on their first invocation, after jest's own transform hook is gone: tsx compiles them.
require('tsx/cjs');

import { appendFileSync } from 'node:fs';
import { LocalStack } from '../../local/stack';

/** One local AWS for the whole integration run; test files reach it over loopback through BUDGETEER_LOCAL. */
export default async function globalSetup(): Promise<void> {
  Object.assign(process.env, {
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  // BUDGETEER_LOCAL_LOG=<file> keeps the local AWS's log (moto, deployments, invocations, mapping retries).
  const logFile = process.env.BUDGETEER_LOCAL_LOG;
  const stack = await LocalStack.start({
    // Weekly and prepaid (total) counters too, so per-principal weekly and total budgets are tested end to end;
    // the daily digest is opt-in.
    // Price versions are read again every second, not every minute: a suite sees a price it set take effect at once.
    // The daily reconciliation is opt-in too (its bill comes from local/cost-explorer here).
    context: {
      extraPeriodKinds: ['weekly', 'total'],
      digest: true,
      priceCacheSeconds: 1,
      groupCacheSeconds: 1,
      reconcilePrincipalGroup: 'TAG:iamPrincipal/arn',
    },
    // The handlers' AWS calls pass a fault proxy, which injects nothing until a suite asks (faults.test.ts).
    faults: true,
    ...(logFile ? { log: (line: string) => appendFileSync(logFile, `${line}\n`) } : {}),
  });
  const control = await stack.serveControl();
  (globalThis as { budgeteerStack?: LocalStack }).budgeteerStack = stack;
  process.env.BUDGETEER_LOCAL = JSON.stringify({
    clientConfig: stack.local.clientConfig,
    outputs: stack.deployment.outputs,
    admin: stack.admin,
    functions: Object.fromEntries(Object.values(stack.deployment.functions).map((f) => [f.entry, f.name])),
    control,
  });
}
