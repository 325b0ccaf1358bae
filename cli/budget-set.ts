import { type Command, Option } from 'commander';
import { AdminError, checkPeriodKind, grantStartOf, rateRuleOf, type SetLimitReply } from '../shared/admin/set-limit';
import { DEFAULT_PRINCIPAL } from '../shared/budgets';
import { ACCOUNT_PRINCIPAL } from '../shared/identity';
import { toDecimalString, type Usd, usd } from '../shared/money';
import { PERIOD_KINDS, type PeriodKind } from '../shared/period';
import { RATE_ACTIONS, type RateAction } from '../shared/rate/rules';
import { callAdmin } from './admin-client';
import { CommandError, parseLimitArgument, parsePrincipal } from './args';
import { deploymentOf } from './deployment';
import { dollars, perPeriod } from './format';
import { resolveTarget, type TargetOptions, targetOptions } from './target';

export function describeSet(result: SetLimitReply): string {
  const fallback =
    result.principal === ACCOUNT_PRINCIPAL
      ? 'the configured account budget'
      : result.principal === DEFAULT_PRINCIPAL
        ? 'the configured default'
        : 'the default';
  const before = result.previousUsd ? dollars(usd(result.previousUsd)) : `not set, ${fallback} applied`;
  const zero = usd(result.limitUsd).eq(0) ? `${ZERO_MEANS(result.principal)}\n` : '';
  return (
    `${result.principal}: limit ${dollars(usd(result.limitUsd))} ${perPeriod(result.periodKind)}` +
    `${result.startsAt ? `, counting calls from ${result.startsAt} (UTC)` : ''} (was ${before})\n` +
    zero +
    (result.rate
      ? `above ${dollars(usd(result.rate.maxUsdPerHour))} in any rolling hour: ${result.rate.onRate === 'suspend' ? 'suspended until the hour falls back' : 'alerted'}${result.rate.onAnomaly === 'suspend' ? '; an anomalous hour suspends' : ''}\n`
      : '') +
    `set by ${result.setBy}; audit entry ${result.auditSeq} of ${result.principal} (budget.limit-set)\n` +
    (result.reviewed ? describeReview(result.reviewed) : '')
  );
}

/** What a zero limit means for the principal (or the default, or the account) it is set for. */
const ZERO_MEANS = (principal: string) =>
  principal === ACCOUNT_PRINCIPAL
    ? 'the account may not spend: every Bedrock call is stopped at the first charged one'
    : principal === DEFAULT_PRINCIPAL
      ? 'principals without a limit of their own may not spend: each is suspended at its first charged call'
      : `${principal} may not spend: suspended at its first charged call`;

/** What a change of the default did to the principals on it that spent this period. */
function describeReview(reviewed: NonNullable<SetLimitReply['reviewed']>): string {
  const { period, queued, alreadyQueued } = reviewed;
  const principals = (count: number) => `${count} principal${count === 1 ? '' : 's'}`;
  const again = alreadyQueued > 0 ? ` (${principals(alreadyQueued)} queued by an earlier run)` : '';
  return `${principals(queued)} on the default that spent in ${period} judged again against it now${again}\n`;
}

type SetOptions = TargetOptions & {
  period?: PeriodKind;
  startsAt?: string;
  maxUsdPerHour?: Usd;
  onRate?: RateAction;
  onAnomaly?: RateAction;
};

/** `budget set <principal> <usd>`: through the admin function, as the signed-in caller. */
export function registerBudgetSet(budget: Command): void {
  targetOptions(
    budget
      .command('set')
      .description(
        'set the limit of a principal, of every principal without one (default) or of the whole account, and ' +
          'record it in the audit log (as you: the request is signed with your AWS credentials)',
      )
      .argument(
        '<principal>',
        'user/<name>, role/<name>, role/<role>/<session>, federated-user/<name>, root, default or account',
        parsePrincipal,
      )
      .argument(
        '<usd>',
        'the limit per period in USD, decimal digits: 50 or 12.50 (at most 12 digits before the point, 6 after)',
        parseLimitArgument,
      )
      .addOption(
        new Option(
          '--period <kind>',
          "the period kind: the deployment's own (stack output PeriodKind, the default) or one it keeps counters " +
            'for (stack output ExtraPeriodKinds, set with -c extraPeriodKinds)',
        ).choices(PERIOD_KINDS),
      )
      .option(
        '--starts-at <day>',
        'a prepaid (--period total) budget: the UTC day (YYYY-MM-DD, or an ISO time) its spend counts from ' +
          '(default: what it had, else today)',
      )
      .option(
        '--max-usd-per-hour <usd>',
        "burn-rate guard: the most any rolling hour may cost, in USD (omitted: no rule of its own; the default's applies)",
        parseLimitArgument,
      )
      .addOption(
        new Option('--on-rate <action>', 'what spend above --max-usd-per-hour does (default alert)').choices(
          RATE_ACTIONS,
        ),
      )
      .addOption(
        new Option(
          '--on-anomaly <action>',
          'what an hour of 10 times the usual spend (and at least $5) does: alert (default), or suspend until an ' +
            'admin decides or the period ends',
        ).choices(RATE_ACTIONS),
      ),
  ).action(async (principal: string, limitUsd: Usd, options: SetOptions) => {
    const target = await resolveTarget(options);
    try {
      const kind = checkPeriodKind(options.period, deploymentOf(target), principal);
      grantStartOf(options.startsAt, kind, undefined, new Date());
      rateRuleOf({
        ...(options.maxUsdPerHour ? { maxUsdPerHour: toDecimalString(options.maxUsdPerHour) } : {}),
        ...(options.onRate ? { onRate: options.onRate } : {}),
        ...(options.onAnomaly ? { onAnomaly: options.onAnomaly } : {}),
      });
    } catch (error) {
      if (error instanceof AdminError) throw new CommandError(error.message);
      throw error;
    }
    const reply = await callAdmin(target, {
      action: 'budget set',
      principal,
      limitUsd: toDecimalString(limitUsd),
      ...(options.period ? { period: options.period } : {}),
      ...(options.startsAt ? { startsAt: options.startsAt } : {}),
      ...(options.maxUsdPerHour ? { maxUsdPerHour: toDecimalString(options.maxUsdPerHour) } : {}),
      ...(options.onRate ? { onRate: options.onRate } : {}),
      ...(options.onAnomaly ? { onAnomaly: options.onAnomaly } : {}),
    });
    process.stdout.write(describeSet(reply.result as unknown as SetLimitReply));
  });
}
