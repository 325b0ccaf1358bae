import type { SNSClient } from '@aws-sdk/client-sns';
import { type DynamoDBDocumentClient, GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditLog } from '../../shared/audit/log';
import { ATTRIBUTE_PREFIXES, ATTRIBUTES, KEYS, kindOfKey } from '../../shared/budgets/items';
import { DECISIONS, type PendingWaits, type WaitKind, waitIdOf } from '../../shared/decisions/pending';
import type { LinkSigner } from '../../shared/decisions/secret';
import { DENY_POLICY_NAME, type DenyEntity } from '../../shared/enforcement/policy';
import { ENFORCEMENT_ATTRIBUTES as A, type Suspension } from '../../shared/enforcement/state';
import { enforcementTarget, entityKey, type ProtectionRules } from '../../shared/enforcement/target';
import { groupNameOf, groupReason, isGroupPrincipal, profileScopeOf, stillMember } from '../../shared/groups/groups';
import { ACCOUNT_PRINCIPAL, accountOfId } from '../../shared/identity';
import { type AlertMessage, publishAlert } from '../../shared/notify';
import { periodEndOfKey, periodKindOfKey } from '../../shared/period';
import type { RateRule } from '../../shared/rate/rules';
import { rateFallsBackAt } from '../../shared/rate/store';
import { DENY_PERIOD, type DenyStore, type DenyWriter, describeEntity, EnforcementError, entityOfRecord } from './deny';
import {
  type DecisionLinks,
  failedMessage,
  liftedMessage,
  resumedMessage,
  skippedMessage,
  stoppedMessage,
  suspendedMessage,
} from './messages';
import type { OrganizationStop, ScpAudit } from './scp';

export interface EnforcerConfig {
  readonly budgetsTable: string;
  readonly criticalTopicArn: string;
  readonly protection: ProtectionRules;
  /** Whether `AWSReservedSSO_*` roles are denied through their permission set (IAM Identity Center). */
  readonly identityCenter: boolean;
  /** How long an approval link or pending decision lives at most (hours). */
  readonly decisionHours: number;
}

export interface EnforcerDeps {
  readonly documents: DynamoDBDocumentClient;
  readonly sns: SNSClient;
  readonly audit: AuditLog;
  readonly denies: DenyStore;
  readonly writer: DenyWriter;
  readonly waits: PendingWaits;
  /** Signs approval links; without it (no approval function) messages name the CLI commands only. */
  readonly links?: LinkSigner;
  /** The rate rule in force for a principal (its limit item's, else the default's): rate suspensions end by it. */
  readonly rateRuleOf?: (principal: string) => Promise<RateRule | undefined>;
  /** An organization deployment's stop by SCP: the account-wide stop attaches it (absent: a single account). */
  readonly organizationStop?: OrganizationStop;
  readonly now?: () => Date;
}

/** What the workflows pass to every step: who, which decision, and the hold it takes on the deny. */
export interface EnforcementInput {
  readonly principal: string;
  readonly principalArn?: string | null;
  readonly period: string;
  readonly decisionId: string;
  /** `suspend:<execution>` or `stop:<execution>`. */
  readonly holder: string;
  readonly generation?: number;
  readonly spendUsd?: string;
  readonly limitUsd?: string;
  /** `budget` (its own limit), `rate` (its rolling hour above its rate rule) or `emergency-stop`. */
  readonly reason?: string;
  /** The workflow execution (`$$.Execution.Id`). */
  readonly executionArn?: string;
  /** A stop's deny of one principal: whose stop it is (ACCOUNT, or a group's `GROUP#<name>`). @default ACCOUNT */
  readonly stopOf?: string;
  /** Deny only these resources (a group of application inference profiles: its profiles' ARNs). @default all */
  readonly resources?: readonly string[];
}

/** Whose stop a stop workflow's input is about: a group's, or the account's. */
const stopSubjectOf = (input: EnforcementInput): string =>
  input.stopOf ?? (isGroupPrincipal(input.principal) ? input.principal : ACCOUNT_PRINCIPAL);
/** The group a stop is of, if it is a group's. */
const stoppedGroup = (subject: string): string | undefined =>
  isGroupPrincipal(subject) ? groupNameOf(subject) : undefined;

export type ApplyOutcome =
  | { readonly outcome: 'applied'; readonly waitSeconds: number; readonly target: string }
  | { readonly outcome: 'skipped' | 'stale' | 'unsupported'; readonly why: string; readonly waitSeconds: number };

/** What a rate suspension's recheck finds: lift now (the hour fell back, or the period ended), or wait so long. */
export interface RateRecheck {
  readonly outcome: 'lift' | 'wait';
  /** The lift's reason (`rate-fell`, `period-end`), or `rate` while it waits. */
  readonly reason: string;
  readonly seconds: number;
}

/** How often a workflow whose wait for a decision failed tries to wait again (a decision meanwhile is kept). */
export const AWAIT_RETRY_SECONDS = 600;

/** After a failed wait: when the next attempt starts, how long it may wait, and whether the period ends first. */
export interface AwaitRetry {
  /** The next attempt's timeout: the period's remaining seconds once the retry delay has passed. */
  readonly seconds: number;
  readonly retrySeconds: number;
  /** Seconds until the period ends, now. */
  readonly untilEnd: number;
  /** The period ends before the next attempt: wait for its end (the deny is lifted then). */
  readonly lastChance: boolean;
  /** Failed waits so far; only the first is reported. */
  readonly retries: number;
}

const ACTOR = 'system:suspend';
const MAX_WAIT_SECONDS = 365 * 86_400;
/** A Step Functions timeout may fire a little before the second the period ends. */
const PERIOD_END_SLACK_MS = 60_000;
type Item = Record<string, unknown>;
const generationOf = (item: Item | undefined) =>
  Number((item?.[A.generation] as { value?: string })?.value ?? item?.[A.generation] ?? 0);
const isConditionFailed = (error: unknown) =>
  (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';

/**
 * The steps of the suspension and emergency-stop workflows. Every step is idempotent: a deny is a named hold
 * (applying it twice holds it once), state changes are conditional, audit entries are appended once per decision
 * and step, and messages carry the decision id.
 */
export class Enforcer {
  private readonly now: () => Date;

  constructor(
    private readonly config: EnforcerConfig,
    private readonly deps: EnforcerDeps,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Seconds until the period ends: at least 1 (a period already over lifts at once), at most a year (the longest
   * a Step Functions task may wait). A prepaid (`TOTAL`) budget never ends: its wait is a year, then again.
   */
  waitSeconds(period: string): number {
    if (periodKindOfKey(period) === 'total') return MAX_WAIT_SECONDS;
    const end = periodEndOfKey(period);
    if (!end) return 1;
    return Math.min(MAX_WAIT_SECONDS, Math.max(1, Math.ceil((end.getTime() - this.now().getTime()) / 1000)));
  }

  /**
   * A rate suspension waits until its rolling hour should have fallen back (at least 1 s, at most the period):
   * nothing is spent while it is denied, so the buckets in the window tell when.
   */
  private async rateWaitSeconds(input: EnforcementInput): Promise<number> {
    const at = await this.rateFallsBackAt(input.principal);
    const seconds = Math.ceil((at.getTime() - this.now().getTime()) / 1000);
    return Math.max(1, Math.min(this.waitSeconds(input.period), seconds));
  }

  private async rateFallsBackAt(principal: string): Promise<Date> {
    const rule = await this.deps.rateRuleOf?.(principal);
    return rateFallsBackAt(this.deps.documents, this.config.budgetsTable, principal, rule, this.now());
  }

  /**
   * A rate suspension's wait ended: lift if the rolling hour fell back (records that arrived late may have kept it
   * up) or the period is over, else wait again until it should have. A prepaid budget's suspension (any reason but
   * rate) has no period end to lift at: its year's wait ended, so it waits another.
   */
  async recheck(input: EnforcementInput): Promise<RateRecheck> {
    if (periodKindOfKey(input.period) === 'total' && input.reason !== 'rate') {
      return { outcome: 'wait', reason: 'total', seconds: MAX_WAIT_SECONDS };
    }
    const end = periodEndOfKey(input.period);
    if (end && end.getTime() <= this.now().getTime() + PERIOD_END_SLACK_MS) {
      return { outcome: 'lift', reason: 'period-end', seconds: 1 };
    }
    const at = await this.rateFallsBackAt(input.principal);
    if (at.getTime() <= this.now().getTime()) return { outcome: 'lift', reason: 'rate-fell', seconds: 1 };
    return { outcome: 'wait', reason: 'rate', seconds: await this.rateWaitSeconds(input) };
  }

  /**
   * Denies the principal. A suspension whose decision is stale (the limit changed or the principal was lifted
   * since it was decided) changes nothing; protected principals are never denied, whoever asks.
   */
  async apply(input: EnforcementInput): Promise<ApplyOutcome> {
    const waitSeconds = input.reason === 'rate' ? await this.rateWaitSeconds(input) : this.waitSeconds(input.period);
    const isStop = input.holder.startsWith('stop:');
    const covered = isStop ? await this.coveredBySCP(input) : undefined;
    if (covered) return { outcome: 'skipped', why: covered, waitSeconds };
    const counter = await this.counter(input.principal, input.period);
    if (!isStop && counter && generationOf(counter) !== (input.generation ?? 0)) {
      return { outcome: 'stale', why: `generation ${generationOf(counter)} replaced this decision`, waitSeconds };
    }
    const target = enforcementTarget(
      { id: input.principal, ...(input.principalArn ? { arn: input.principalArn } : {}) },
      this.config.protection,
      this.config.identityCenter,
    );
    if (target.status !== 'deny') {
      const action = target.status === 'protected' ? 'suspension.skipped' : 'enforcement.failed';
      await this.audit(input, action, `${input.decisionId}:${action}:${input.principal}`, {
        reason: target.reason,
        ...(target.status === 'unsupported' ? { step: 'apply', error: target.reason } : {}),
      });
      await this.publish(
        target.status === 'protected'
          ? skippedMessage({ ...this.event(input), why: target.reason })
          : failedMessage({ ...this.event(input), step: 'apply', error: target.reason }),
      );
      return { outcome: target.status === 'protected' ? 'skipped' : 'unsupported', why: target.reason, waitSeconds };
    }
    const session = target.session
      ? await this.deps.writer.sessionPattern(
          target.entity,
          target.session.roleName,
          target.session.sessionName,
          target.session.account,
        )
      : undefined;
    // A stop denies many principals that may share one entity (sessions of a role): one hold each.
    const holdKey = isStop ? `${input.holder}|${input.principal}` : input.holder;
    try {
      await this.deps.denies.hold(target.entity, {
        holder: holdKey,
        ...(session ? { session } : {}),
        ...(input.resources ? { resources: input.resources } : {}),
      });
      await this.recordHoldOwner(target.entity, holdKey, input.principal);
    } catch (error) {
      // A hold left behind by a failed apply would never be lifted (the workflow ends in Failed, and lift finds
      // holds by their principal) and would deny that session with the next write to the entity: take it back.
      await this.deps.denies.release(target.entity, holdKey).catch(() => undefined);
      throw error;
    }
    const marked = isStop ? await this.markStopDenied(input) : await this.markSuspended(input);
    if (!marked) {
      // The decision went stale between the check and the mark (or the stop ended meanwhile): take the hold back.
      await this.deps.denies.release(target.entity, holdKey);
      return { outcome: 'stale', why: 'the limit changed or the principal was lifted meanwhile', waitSeconds };
    }
    const described = describeEntity(target.entity);
    await this.audit(input, 'deny.applied', `${input.decisionId}:deny.applied:${input.principal}`, {
      target: described,
      policyName: DENY_POLICY_NAME,
      ...(session ? { session } : {}),
      ...(input.resources ? { resources: input.resources.join(' ') } : {}),
      reason: input.reason ?? (isStop ? 'emergency-stop' : 'budget'),
    });
    return { outcome: 'applied', waitSeconds, target: described };
  }

  /**
   * A workflow waits: its task token is kept server-side under the wait's id, which the item points to, and the
   * critical message goes out with signed links to decide (a suspension's, or the emergency stop's). Every attempt
   * of the step registers under the same id, so a retry (or the retry loop after a failed wait) keeps the links
   * already sent, receives a decision taken meanwhile, and sends the message only if no attempt did.
   */
  async await(
    input: EnforcementInput & { kind: WaitKind; denied?: readonly unknown[] },
    taskToken: string,
  ): Promise<string> {
    const id = waitIdOf(executionArnOf(input), input.kind);
    // A rate suspension's decision lapses when its hour should fall back: the workflow lifts it by itself then.
    const waitSeconds =
      input.kind === 'suspension' && input.reason === 'rate'
        ? await this.rateWaitSeconds(input)
        : this.waitSeconds(input.period);
    const expiresAt = new Date(
      Math.min(this.now().getTime() + this.config.decisionHours * 3_600_000, this.now().getTime() + waitSeconds * 1000),
    ).toISOString();
    const registered = await this.deps.waits.register(
      {
        id,
        kind: input.kind,
        principal: input.principal,
        period: input.period,
        executionArn: executionArnOf(input),
        expiresAt,
      },
      taskToken,
    );
    // Decided while no attempt waited: the decision went to this attempt's token.
    if (registered.woken) return id;
    try {
      await this.deps.documents.send(
        new UpdateCommand({
          TableName: this.config.budgetsTable,
          Key: { principal: input.principal, period: input.period },
          UpdateExpression: 'SET #s.waitId = :id',
          // Not if a lift or a raise came in a later generation before this wait began.
          ConditionExpression: '#s.holder = :holder AND (attribute_not_exists(#end) OR #end <= #s.#g)',
          ExpressionAttributeNames: { '#s': A.suspension, '#end': A.endWaitGeneration, '#g': 'generation' },
          ExpressionAttributeValues: { ':id': id, ':holder': input.holder },
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      // Lifted or raised between the deny and this wait: end the wait at once.
      const counter = await this.counter(input.principal, input.period);
      const cause = String(counter?.[A.generationCause] ?? 'admin');
      await this.deps.waits.decide(id, {
        decision: input.kind === 'suspension' ? 'lift' : 'resume',
        reason: cause === 'limit-changed' ? 'limit-raised' : 'admin',
        actor: ACTOR,
      });
      return id;
    }
    if (registered.notified) return id;
    const links = { id, expiresAt: registered.wait.expiresAt };
    const url = this.deps.links ? await this.deps.links.urlFor(links.id, links.expiresAt) : undefined;
    const decide: DecisionLinks = { ...links, ...(url ? { url } : {}) };
    await this.deps.audit.append(
      {
        actor: ACTOR,
        action: 'override.requested',
        subject: input.principal,
        period: input.period,
        executionArn: executionArnOf(input),
        details: {
          approvalId: id,
          kind: input.kind,
          expiresAt: links.expiresAt,
          decisions: [...DECISIONS[input.kind]],
        },
      },
      { once: `override.requested:${id}` },
    );
    if (input.kind === 'suspension') {
      const until =
        input.reason === 'rate'
          ? (await this.rateFallsBackAt(input.principal)).toISOString()
          : (periodEndOfKey(input.period)?.toISOString() ?? links.expiresAt);
      const target = enforcementTarget(
        { id: input.principal, ...(input.principalArn ? { arn: input.principalArn } : {}) },
        this.config.protection,
        this.config.identityCenter,
      );
      const described = target.status === 'deny' ? describeEntity(target.entity) : input.principal;
      await this.publish(suspendedMessage({ ...this.event(input), target: described, until, decide }));
    } else {
      const denied = (input.denied ?? []).filter((result) => (result as { outcome?: string })?.outcome === 'applied');
      const scp = await this.deps.organizationStop?.recordOf(input.period, input.holder);
      await this.publish(
        stoppedMessage({
          ...this.event(input),
          denied: denied.length,
          ...(scp && stopSubjectOf(input) === ACCOUNT_PRINCIPAL ? { scp } : {}),
          reason: input.reason ?? 'account budget exhausted',
          decide,
          ...(isGroupPrincipal(input.principal) ? { group: groupNameOf(input.principal) } : {}),
        }),
      );
    }
    await this.deps.waits.notified(id);
    return id;
  }

  /** Removes the hold of this workflow, marks the principal active again, audits the lift with its reason. */
  async lift(input: EnforcementInput & { reason: string; actor?: string }): Promise<void> {
    const counter = await this.counter(input.principal, input.period);
    await this.checkDecision(input, counter);
    const entity = await this.heldEntity(input.holder, input.principal);
    if (entity) await this.deps.denies.release(entity, input.holder);
    try {
      await this.deps.documents.send(
        new UpdateCommand({
          TableName: this.config.budgetsTable,
          Key: { principal: input.principal, period: input.period },
          UpdateExpression: 'SET #state = :active REMOVE #s',
          ConditionExpression: '#s.holder = :holder',
          ExpressionAttributeNames: { '#state': A.state, '#s': A.suspension },
          ExpressionAttributeValues: { ':active': 'active', ':holder': input.holder },
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    if (!entity && !counter) return;
    const actor = input.actor ?? ACTOR;
    await this.audit(input, 'deny.lifted', `${input.decisionId}:deny.lifted:${input.principal}`, {
      reason: input.reason,
      by: actor,
    });
    await this.publish(liftedMessage({ ...this.event(input), reason: input.reason, actor }));
  }

  /**
   * Emergency stop, first step: the circuit breaker on, and every principal that spent this period, to deny. A
   * group's stop: the group's breaker on, and every member counted in it this period.
   */
  async beginStop(input: EnforcementInput): Promise<{ principals: EnforcementInput[]; waitSeconds: number }> {
    const subject = stopSubjectOf(input);
    const group = stoppedGroup(subject);
    const definition = group === undefined ? undefined : await this.groupDefinition(subject);
    // A group of application inference profiles denies its callers those profiles only.
    // In an organization a member's profiles are in its own account: profile ids are unique, so any account matches.
    const { accountId, organization } = this.config.protection;
    const resources = definition && profileScopeOf(definition.members, organization ? '*' : (accountId ?? '*'));
    const suspension: Suspension = {
      holder: input.holder,
      executionArn: executionArnOf(input),
      since: this.now().toISOString(),
      reason: input.reason ?? 'account budget exhausted',
      generation: input.generation ?? 0,
      decisionId: input.decisionId,
      ...(resources ? { resources } : {}),
    };
    const breaker = await this.deps.documents
      .send(
        new UpdateCommand({
          TableName: this.config.budgetsTable,
          Key: { principal: subject, period: input.period },
          UpdateExpression: 'SET #state = :stopped, #s = :s',
          ConditionExpression: 'attribute_not_exists(#s) OR #s.holder = :holder',
          ExpressionAttributeNames: { '#state': A.state, '#s': A.suspension },
          ExpressionAttributeValues: { ':stopped': 'stopped', ':s': suspension, ':holder': input.holder },
        }),
      )
      .then(
        () => true,
        (error: unknown) => {
          // Another stop is in force: this one denies beside it, and its resume lifts only its own holds.
          if (!isConditionFailed(error)) throw error;
          return false;
        },
      );
    // The organization's stop (its breaker this stop's): the SCP stops the accounts it covers at once.
    const scp = breaker && subject === ACCOUNT_PRINCIPAL ? await this.beginOrganizationStop(input) : undefined;
    const covered = new Set(scp?.accounts);
    const principals: EnforcementInput[] = [];
    for await (const item of this.counters(input.period)) {
      const groups = item[ATTRIBUTES.groups];
      if (group !== undefined && !(groups instanceof Set && groups.has(group))) continue;
      if (covered.has(this.accountOf(String(item.principal)))) continue;
      // Counted in it this period, but taken out of it since: not this stop's to deny.
      if (definition && !stillMember(String(item.principal), definition)) continue;
      principals.push({
        principal: String(item.principal),
        ...(typeof item.principalArn === 'string' ? { principalArn: item.principalArn } : {}),
        period: input.period,
        decisionId: input.decisionId,
        holder: input.holder,
        reason: group === undefined ? 'emergency-stop' : groupReason(group),
        stopOf: subject,
        ...(resources ? { resources } : {}),
      });
    }
    return { principals, waitSeconds: this.waitSeconds(input.period) };
  }

  /** Who is in a group now, from its limit item (none left: deleted, so no member is this stop's). */
  private async groupDefinition(group: string): Promise<{ members: string[]; tag?: string }> {
    const limit = await this.counter(group, KEYS.limitPeriod);
    return {
      members: Array.isArray(limit?.members) ? limit.members.map(String) : [],
      ...(typeof limit?.tag === 'string' ? { tag: limit.tag } : {}),
    };
  }

  /** Emergency stop, last step: releases exactly the holds this stop took, then the circuit breaker. */
  async endStop(input: EnforcementInput & { reason: string; actor?: string }): Promise<number> {
    const subject = stopSubjectOf(input);
    const group = stoppedGroup(subject);
    await this.checkDecision({ ...input, principal: subject }, await this.counter(subject, input.period));
    // The breaker goes off first: a deny the evaluator asks for from now on finds the stop over and is not placed.
    await this.deps.documents
      .send(
        new UpdateCommand({
          TableName: this.config.budgetsTable,
          Key: { principal: subject, period: input.period },
          UpdateExpression: 'SET #state = :active REMOVE #s',
          ConditionExpression: '#s.holder = :holder',
          ExpressionAttributeNames: { '#state': A.state, '#s': A.suspension },
          ExpressionAttributeValues: { ':active': 'active', ':holder': input.holder },
        }),
      )
      .catch((error: unknown) => {
        // A retry after the breaker went off: release what is left.
        if (!isConditionFailed(error)) throw error;
      });
    const detached =
      subject === ACCOUNT_PRINCIPAL
        ? ((await this.deps.organizationStop?.end(input.period, input.holder, this.scpAudit(input))) ?? [])
        : [];
    let lifted = 0;
    const prefix = `hold:${input.holder}|`;
    for await (const item of this.scan({
      FilterExpression: '#period = :deny',
      ExpressionAttributeNames: { '#period': 'period' },
      ExpressionAttributeValues: { ':deny': DENY_PERIOD },
    })) {
      const entity = entityOfRecord(item);
      for (const key of Object.keys(item).filter((k) => k.startsWith(prefix))) {
        const principal = String((item[key] as { principal?: string })?.principal ?? key.slice(prefix.length));
        await this.deps.denies.release(entity, key.slice('hold:'.length));
        await this.audit({ ...input, principal }, 'deny.lifted', `${input.decisionId}:deny.lifted:${principal}`, {
          reason: group === undefined ? 'emergency-stop-resumed' : 'group-resumed',
          by: input.actor ?? ACTOR,
        });
        lifted++;
      }
    }
    const actor = input.actor ?? ACTOR;
    const action = group === undefined ? 'emergency-stop.resumed' : 'group.resumed';
    await this.audit({ ...input, principal: subject }, action, `${input.decisionId}:${action}`, {
      reason: input.reason,
      by: actor,
      lifted,
      ...(detached.length > 0 ? { scpDetachedFrom: detached.join(' ') } : {}),
    });
    await this.publish(
      resumedMessage({
        ...this.event(input),
        reason: input.reason,
        actor,
        lifted,
        ...(group ? { group } : {}),
        ...(detached.length > 0 ? { scpDetached: detached } : {}),
      }),
    );
    return lifted;
  }

  /**
   * A step failed after its retries: audited and sent to the critical topic, never reported as success. A failed
   * wait (`await`) is tried again every AWAIT_RETRY_SECONDS until the period ends, reported on its first failure
   * only: what it returns tells the workflow how long to wait before the next attempt and for how long that one
   * waits, or that the period ends first.
   */
  async failed(
    input: EnforcementInput & { step: string; error: unknown; wait?: { retries?: number } },
  ): Promise<AwaitRetry | undefined> {
    const retry = input.step === 'await' ? await this.awaitRetry(input) : undefined;
    if (retry && retry.retries > 1) return retry;
    // An organization stop that failed to begin ends here, with no wait a resume could reach: what it attached of
    // its SCP is detached (audited) rather than left stopping every member account with no way to lift it.
    if (input.step === 'begin-stop' && stopSubjectOf(input) === ACCOUNT_PRINCIPAL) {
      await this.deps.organizationStop?.end(input.period, input.holder, this.scpAudit(input));
    }
    const error = describeError(input.error);
    await this.audit(input, 'enforcement.failed', `${input.decisionId}:failed:${input.step}:${input.principal}`, {
      step: input.step,
      error,
      ...(retry ? { retryEverySeconds: AWAIT_RETRY_SECONDS } : {}),
    });
    await this.publish(failedMessage({ ...this.event(input), step: input.step, error }));
    return retry;
  }

  private async awaitRetry(input: EnforcementInput & { wait?: { retries?: number } }): Promise<AwaitRetry> {
    const untilEnd = this.waitSeconds(input.period);
    if (input.reason === 'rate') {
      // A rate suspension's next wait lasts until its hour should have fallen back, as its first did; the recheck
      // after it lifts, or waits again, and ends at the period end. Never the period-long wait of a budget's.
      return {
        seconds: await this.rateWaitSeconds(input),
        retrySeconds: AWAIT_RETRY_SECONDS,
        untilEnd,
        lastChance: false,
        retries: (input.wait?.retries ?? 0) + 1,
      };
    }
    const lastChance = untilEnd <= AWAIT_RETRY_SECONDS;
    return {
      seconds: lastChance ? 1 : untilEnd - AWAIT_RETRY_SECONDS,
      retrySeconds: AWAIT_RETRY_SECONDS,
      untilEnd,
      lastChance,
      retries: (input.wait?.retries ?? 0) + 1,
    };
  }

  /** The account a principal id names: qualified, or the deployment's own. */
  private accountOf(principal: string): string {
    return accountOfId(principal, this.config.protection.accountId ?? '');
  }

  /**
   * Why the organization's stop needs no deny of this principal: its account is under the SCP this stop attached
   * (a principal first seen spending while the stop is on comes here too). Undefined: deny it.
   */
  private async coveredBySCP(input: EnforcementInput): Promise<string | undefined> {
    if (!this.deps.organizationStop || stopSubjectOf(input) !== ACCOUNT_PRINCIPAL) return undefined;
    const record = await this.deps.organizationStop.recordOf(input.period, input.holder);
    const account = this.accountOf(input.principal);
    return record?.accounts?.includes(account)
      ? `account ${account} is stopped by the organization's service control policy`
      : undefined;
  }

  /**
   * The SCP of the organization's stop. If AWS Organizations fails it (no permission, no such target), the stop goes
   * on principal by principal, as in a single account: audited and alerted, never a stop that stops nobody.
   */
  private async beginOrganizationStop(input: EnforcementInput) {
    try {
      return await this.deps.organizationStop?.begin(input.period, input.holder, this.scpAudit(input));
    } catch (caught) {
      const error = describeError(caught);
      const account = { ...input, principal: ACCOUNT_PRINCIPAL };
      await this.audit(account, 'enforcement.failed', `${input.decisionId}:failed:scp`, { step: 'scp', error });
      await this.publish(
        failedMessage({ ...this.event(account), step: 'scp (denying principal by principal)', error }),
      );
      return undefined;
    }
  }

  /** The organization stop's audit entries, per target, about the account-wide total. */
  private scpAudit(input: EnforcementInput): ScpAudit {
    return (action, target, details) =>
      this.audit({ ...input, principal: ACCOUNT_PRINCIPAL }, action, `${input.decisionId}:${action}:${target}`, {
        target,
        ...details,
      });
  }

  private async markSuspended(input: EnforcementInput): Promise<boolean> {
    const suspension: Suspension = {
      holder: input.holder,
      executionArn: executionArnOf(input),
      since: this.now().toISOString(),
      reason: input.reason ?? 'budget',
      generation: input.generation ?? 0,
      decisionId: input.decisionId,
    };
    try {
      await this.deps.documents.send(
        new UpdateCommand({
          TableName: this.config.budgetsTable,
          Key: { principal: input.principal, period: input.period },
          // A retry keeps the first record (its `since` and, once waiting, its waitId).
          UpdateExpression: 'SET #state = :suspended, #s = if_not_exists(#s, :s)',
          ConditionExpression:
            '(attribute_not_exists(#g) OR #g = :g) AND attribute_not_exists(#lifted) AND (attribute_not_exists(#s) OR #s.holder = :holder)',
          ExpressionAttributeNames: {
            '#state': A.state,
            '#s': A.suspension,
            '#g': A.generation,
            '#lifted': A.lifted,
          },
          ExpressionAttributeValues: {
            ':suspended': 'suspended',
            ':s': suspension,
            ':g': input.generation ?? 0,
            ':holder': input.holder,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  private async markStopDenied(input: EnforcementInput): Promise<boolean> {
    // endStop turns the breaker off before it releases holds: a deny placed after that must not stay.
    const subject = stopSubjectOf(input);
    const stopped = await this.counter(subject, input.period);
    const stop = stopped?.[A.suspension] as Suspension | undefined;
    if (stopped?.[A.state] !== 'stopped' || stop?.holder !== input.holder) return false;
    const group = stoppedGroup(subject);
    await this.deps.documents.send(
      new UpdateCommand({
        TableName: this.config.budgetsTable,
        Key: { principal: input.principal, period: input.period },
        UpdateExpression: 'SET #d = :holder',
        ExpressionAttributeNames: {
          '#d': group === undefined ? A.stopDenied : `${ATTRIBUTE_PREFIXES.groupStop}${group}`,
        },
        ExpressionAttributeValues: { ':holder': input.holder },
      }),
    );
    return true;
  }

  /** The hold records which principal it is for, so a stop's resume can audit each lift by principal. */
  private async recordHoldOwner(entity: DenyEntity, holdKey: string, principal: string): Promise<void> {
    await this.deps.documents.send(
      new UpdateCommand({
        TableName: this.config.budgetsTable,
        Key: { principal: entityKey(entity), period: DENY_PERIOD },
        UpdateExpression: 'SET #h.principal = :p',
        ConditionExpression: 'attribute_exists(#h)',
        ExpressionAttributeNames: { '#h': `hold:${holdKey}` },
        ExpressionAttributeValues: { ':p': principal },
      }),
    );
  }

  /** The entity a holder denies for a principal, from the deny records (none: nothing was applied). */
  private async heldEntity(holder: string, principal: string): Promise<DenyEntity | undefined> {
    for await (const item of this.heldBy(holder)) {
      const hold = item[`hold:${holder}`] as { principal?: string } | undefined;
      if (hold?.principal === principal) return entityOfRecord(item);
    }
    return undefined;
  }

  private async *heldBy(holder: string): AsyncGenerator<Item> {
    yield* this.scan({
      FilterExpression: '#period = :deny AND attribute_exists(#h)',
      ExpressionAttributeNames: { '#period': 'period', '#h': `hold:${holder}` },
      ExpressionAttributeValues: { ':deny': DENY_PERIOD },
    });
  }

  /** Principals (not the account, nor markers) with a counter in the period. */
  private async *counters(period: string): AsyncGenerator<Item> {
    for await (const item of this.scan({
      FilterExpression: '#period = :period',
      ExpressionAttributeNames: { '#period': 'period' },
      ExpressionAttributeValues: { ':period': period },
    })) {
      // A principal's counter only: not the account, a marker, nor the daily digest's claim (its period is a day too).
      if (kindOfKey(item.principal, item.period) === 'counter') yield item;
    }
  }

  private async *scan(input: {
    FilterExpression: string;
    ExpressionAttributeNames: Record<string, string>;
    ExpressionAttributeValues: Record<string, unknown>;
  }): AsyncGenerator<Item> {
    let ExclusiveStartKey: Item | undefined;
    do {
      const page = await this.deps.documents.send(
        new ScanCommand({ TableName: this.config.budgetsTable, ConsistentRead: true, ExclusiveStartKey, ...input }),
      );
      for (const item of page.Items ?? []) yield item;
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }

  /**
   * Whoever holds a task token can end a wait with any output, so a decision is not taken on its word: a lift at the
   * period end must come after the period's end, any other must be recorded on the wait the item points to (or the
   * item's generation must have moved past the suspension's, by a lift or a raise before the wait began). A lift
   * whose suspension is already gone (a retry of this step) goes on and releases what is left. Fails closed: the
   * deny stays, the step fails after its retries, and enforcement.failed alerts the admins.
   */
  private async checkDecision(input: EnforcementInput & { reason: string }, counter: Item | undefined): Promise<void> {
    const suspension = counter?.[A.suspension] as Suspension | undefined;
    if (suspension?.holder !== input.holder) return;
    if (input.reason === 'period-end') {
      if (periodKindOfKey(input.period) === 'total') {
        throw new EnforcementError(`unverified decision: ${input.period} never ends, so no period-end lift`);
      }
      const end = periodEndOfKey(input.period);
      if (!end || end.getTime() <= this.now().getTime() + PERIOD_END_SLACK_MS) return;
      throw new EnforcementError(`unverified decision: a period-end lift before ${input.period} has ended`);
    }
    if (input.reason === 'rate-fell') {
      // Only a burn-rate suspension ends when its hour falls back: a budget or anomaly suspension is not lifted by a
      // task output that says so, whatever the principal's hour.
      if (suspension.reason !== 'rate') {
        throw new EnforcementError(
          `unverified decision: rate-fell cannot end ${input.principal}'s ${suspension.reason} suspension`,
        );
      }
      if ((await this.rateFallsBackAt(input.principal)).getTime() <= this.now().getTime()) return;
      throw new EnforcementError(`unverified decision: the rolling hour of ${input.principal} is still above its rate`);
    }
    // A lift or raise that came before the wait began ended it at once, with no waitId on the item: the item's
    // generation moved past the suspension's (the condition the wait step checked).
    const endedAt = Number(
      (counter?.[A.endWaitGeneration] as { value?: string } | undefined)?.value ?? counter?.[A.endWaitGeneration],
    );
    if (Number.isFinite(endedAt) && endedAt > Number(suspension.generation ?? 0)) return;
    const decided = suspension.waitId ? (await this.deps.waits.get(suspension.waitId))?.decided : undefined;
    if (decided && decided.decision !== 'keep') return;
    throw new EnforcementError(
      `unverified decision: ${input.reason} is recorded on no pending decision of ${input.principal} (a task output not sent by budgeteer?)`,
    );
  }

  private async counter(principal: string, period: string): Promise<Item | undefined> {
    const { Item } = await this.deps.documents.send(
      new GetCommand({ TableName: this.config.budgetsTable, Key: { principal, period }, ConsistentRead: true }),
    );
    return Item;
  }

  private event(input: EnforcementInput) {
    return {
      decisionId: input.decisionId,
      principal: input.principal,
      period: input.period,
      ...(input.principalArn ? { principalArn: input.principalArn } : {}),
      ...(input.spendUsd ? { spendUsd: input.spendUsd } : {}),
      ...(input.limitUsd ? { limitUsd: input.limitUsd } : {}),
    };
  }

  private async audit(
    input: EnforcementInput & { actor?: string },
    action:
      | 'deny.applied'
      | 'deny.lifted'
      | 'suspension.skipped'
      | 'enforcement.failed'
      | 'emergency-stop.resumed'
      | 'group.resumed'
      | 'scp.attached'
      | 'scp.detached',
    once: string,
    details: Record<string, string | number>,
  ): Promise<void> {
    await this.deps.audit.append(
      {
        // A lift decided by an admin is the admin's act; every other step is the system's.
        actor: action === 'deny.lifted' && input.actor?.startsWith('arn:') ? input.actor : ACTOR,
        action,
        subject: input.principal,
        period: input.period,
        executionArn: executionArnOf(input),
        details: { ...details, decisionId: input.decisionId },
      },
      { once },
    );
  }

  private publish(message: AlertMessage): Promise<void> {
    return publishAlert(this.deps.sns, this.config.criticalTopicArn, message);
  }
}

const executionArnOf = (input: EnforcementInput): string => input.executionArn ?? 'unknown';

function describeError(error: unknown): string {
  if (typeof error === 'string') return error;
  const { Error: name, Cause: cause } = (error ?? {}) as { Error?: string; Cause?: string };
  if (name || cause) {
    try {
      const parsed = JSON.parse(cause ?? '{}') as { errorMessage?: string };
      return `${name ?? 'Error'}: ${parsed.errorMessage ?? cause}`.slice(0, 1000);
    } catch {
      return `${name ?? 'Error'}: ${cause}`.slice(0, 1000);
    }
  }
  return String((error as Error)?.message ?? error).slice(0, 1000);
}
