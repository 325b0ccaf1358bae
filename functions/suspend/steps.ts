import type { Logger } from '@aws-lambda-powertools/logger';
import type { WaitKind } from '../../shared/decisions/pending';
import type { EnforcementInput, Enforcer } from './suspend';

/** What a workflow step sends: the step, the workflow's state (`input`) and what the step needs besides. */
export type SuspendEvent =
  | { readonly action: 'apply'; readonly input: EnforcementInput }
  | {
      readonly action: 'await';
      readonly kind: WaitKind;
      /** An emergency stop's state carries what its Map step denied (`denied`). */
      readonly input: EnforcementInput & { readonly denied?: readonly unknown[] };
      readonly taskToken: string;
    }
  | {
      readonly action: 'lift' | 'endStop';
      readonly input: EnforcementInput;
      readonly decision: { readonly reason: string; readonly actor?: string };
    }
  | { readonly action: 'beginStop' | 'recheck'; readonly input: EnforcementInput }
  | {
      readonly action: 'failed';
      readonly step: string;
      /** After a failed wait, the state carries the retry loop's count (`wait.retries`). */
      readonly input: EnforcementInput & { readonly wait?: { readonly retries?: number } };
      readonly error: unknown;
    };

/** Only the reason and the actor of a wait's output: nothing else in it may steer the step (which hold, whom). */
const decisionOf = (decision: { readonly reason: string; readonly actor?: string }) => ({
  reason: String(decision.reason),
  ...(typeof decision.actor === 'string' ? { actor: decision.actor } : {}),
});

/** The workflows' IAM and bookkeeping steps; each is idempotent, so Step Functions may retry any of them. */
export function stepRunner(
  enforcer: Enforcer,
  count: (name: 'Suspensions' | 'EnforcementFailures') => void,
  logger: Pick<Logger, 'info'>,
): (step: SuspendEvent & { readonly executionArn?: string }) => Promise<unknown> {
  return async (step) => {
    const event = { ...step, input: { ...step.input, executionArn: step.executionArn ?? step.input.executionArn } };
    logger.info('step', { action: event.action, principal: event.input.principal, decisionId: event.input.decisionId });
    switch (event.action) {
      case 'apply': {
        const applied = await enforcer.apply(event.input);
        // Each deny applied: a principal's suspension, or one principal of an emergency stop.
        if (applied.outcome === 'applied') count('Suspensions');
        return applied;
      }
      case 'await':
        return { waitId: await enforcer.await({ ...event.input, kind: event.kind }, event.taskToken) };
      case 'lift':
        return enforcer.lift({ ...event.input, ...decisionOf(event.decision) });
      case 'beginStop':
        return enforcer.beginStop(event.input);
      case 'recheck':
        return enforcer.recheck(event.input);
      case 'endStop':
        return { lifted: await enforcer.endStop({ ...event.input, ...decisionOf(event.decision) }) };
      case 'failed': {
        const retry = await enforcer.failed({ ...event.input, step: event.step, error: event.error });
        // Counted once the failure is recorded (audited as enforcement.failed, the critical alert sent), so a step that
        // throws and is retried counts once; a wait's later retries go on quietly until the period ends.
        if (!retry || retry.retries <= 1) count('EnforcementFailures');
        return retry;
      }
    }
  };
}
