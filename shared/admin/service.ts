import type { AuditLog } from '../audit/log';
import type { BudgetStore } from '../budgets';
import type { AdminActions } from '../decisions/admin';
import { AdminActionError } from '../decisions/admin';
import { type Approvals, OverrideError } from '../decisions/approvals';
import { DecisionError } from '../decisions/pending';
import { groupPrincipal } from '../groups/groups';
import type { GroupStore } from '../groups/store';
import {
  ACCOUNT_PRINCIPAL,
  globToRegExp,
  type IdentityRules,
  localizedId,
  principalFromArn,
  splitPrincipalId,
} from '../identity';
import { parseLimitUsd } from '../money';
import { periodKey } from '../period';
import type { PriceRecorder } from '../pricing/admin';
import type { FetchedPrices } from '../pricing/price-list';
import type { DefaultLimitReview } from './default-review';
import type { AdminRequest } from './requests';
import { deleteGroup, groupReplyOf, setGroup } from './set-group';
import { AdminError, type PeriodSettings, rateRuleOf, replyOf, setBudgetLimit } from './set-limit';

/** Who asks, as the request's signature says (never as the request says). */
export interface Caller {
  /** `requestContext.authorizer.iam.userArn`: an IAM user, or an assumed-role session. */
  readonly arn: string;
  readonly sourceIp: string;
  readonly userAgent: string;
}

export interface AdminServiceConfig extends PeriodSettings {
  /** ARN patterns (`*` matches anything) of the principals allowed to act; empty: nobody. */
  readonly adminPrincipals: readonly string[];
  readonly identityRules: IdentityRules;
}

export interface AdminServiceDeps {
  readonly budgets: BudgetStore;
  readonly audit: AuditLog;
  readonly admin: AdminActions;
  readonly approvals: Pick<Approvals, 'decide' | 'view'>;
  /** Judges every principal on the default again when `default` changes. */
  readonly defaultReview: Pick<DefaultLimitReview, 'review'>;
  /** Records admin (negotiated) price versions, audited as `price.changed`. */
  readonly prices: Pick<PriceRecorder, 'set' | 'remove'>;
  /** Groups (teams, applications): their limits and members. */
  readonly groups: Pick<GroupStore, 'get' | 'put' | 'remove' | 'counterIn'>;
  /** Runs the Price List fetch now (the prices function), with the prices given or from the Price List. */
  readonly refreshPrices: (request: { fetched?: FetchedPrices[]; actor: string }) => Promise<Record<string, unknown>>;
  readonly now?: () => Date;
}

export interface AdminAnswer {
  readonly status: number;
  readonly message: string;
  readonly result?: Record<string, unknown>;
}

/**
 * The one door for admin actions: checks that the caller is an admin and does not act on themselves, then acts
 * through the same code paths as everything else (limits with their audit entry, generations, the outbox, approvals).
 * Every action's audit entry names the caller's ARN, source IP and user agent; every refusal is audited as
 * `admin.refused`.
 */
export class AdminService {
  private readonly now: () => Date;

  constructor(
    private readonly config: AdminServiceConfig,
    private readonly deps: AdminServiceDeps,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  isAdmin(arn: string): boolean {
    return this.config.adminPrincipals.some((pattern) => globToRegExp(pattern).test(arn));
  }

  /** The principal id a caller's spend is kept under (its own budget), or undefined for an unknown ARN shape. */
  principalOf(arn: string): string | undefined {
    try {
      return principalFromArn(arn, this.config.identityRules).id;
    } catch {
      return undefined;
    }
  }

  async handle(caller: Caller, asked: AdminRequest): Promise<AdminAnswer> {
    const request = this.localized(asked);
    const own = this.principalOf(caller.arn);
    if (!this.isAdmin(caller.arn)) {
      // Filed under the caller's own principal: a refused caller cannot grow anybody else's audit chain.
      const why = `${caller.arn} is not an admin of this deployment (adminPrincipals)`;
      return this.refuse(caller, request, own ?? ACCOUNT_PRINCIPAL, why);
    }
    const subject = await this.subjectOf(request);
    const self = own === undefined ? undefined : this.selfAction(own, subject, request);
    if (self) return this.refuse(caller, request, subject, `nobody may ${self}: ${own} is the caller`);
    try {
      return await this.act(caller, request);
    } catch (error) {
      if (error instanceof AdminError) return { status: error.status, message: error.message };
      if (error instanceof AdminActionError) return { status: 409, message: error.message };
      if (error instanceof OverrideError) return { status: 400, message: error.message };
      if (error instanceof DecisionError) {
        const status = { unknown: 404, decided: 409, expired: 410, 'not-allowed': 400 }[error.code];
        return { status, message: error.message };
      }
      throw error;
    }
  }

  private async act(caller: Caller, request: AdminRequest): Promise<AdminAnswer> {
    const context = { sourceIp: caller.sourceIp, userAgent: caller.userAgent.slice(0, 200) };
    const period = (asked?: string) => asked ?? periodKey(this.config.periodKind, this.now());
    switch (request.action) {
      case 'budget set': {
        const result = await setBudgetLimit(
          this.deps.budgets,
          this.deps.audit,
          this.config,
          {
            principal: request.principal,
            limitUsd: parseLimitUsd(request.limitUsd),
            actor: caller.arn,
            ...(request.period ? { period: request.period } : {}),
            ...(request.startsAt ? { startsAt: request.startsAt } : {}),
            ...rateRuleOf(request),
            context,
          },
          this.now(),
          this.deps.defaultReview,
        );
        return { status: 200, message: `${result.principal}: limit set`, result: { ...replyOf(result) } };
      }
      case 'group set': {
        const { action: _, ...asked } = request;
        const result = await setGroup(
          this.deps.groups,
          this.deps.audit,
          this.config,
          { ...asked, actor: caller.arn, context },
          this.now(),
        );
        return { status: 200, message: `group ${result.group.name}: set`, result: { ...groupReplyOf(result) } };
      }
      case 'group delete': {
        const { deleted } = await deleteGroup(
          this.deps.groups,
          this.deps.audit,
          this.config,
          { name: request.name, actor: caller.arn, context },
          this.now(),
        );
        if (!deleted) throw new AdminError(`no group is named ${request.name}`, 404);
        return { status: 200, message: `group ${request.name}: deleted` };
      }
      case 'lift': {
        const at = period(request.period);
        const { wasSuspended } = await this.deps.admin.lift(request.principal, at, caller.arn, request.reason, context);
        return {
          status: 200,
          message: `${request.principal}: lifted until the end of ${at}`,
          result: { wasSuspended },
        };
      }
      case 'emergency-stop': {
        const at = period(request.period);
        const executionArn = await this.deps.admin.emergencyStop(at, caller.arn, request.reason, context);
        return { status: 200, message: `emergency stop started (${at})`, result: { executionArn } };
      }
      case 'resume': {
        const at = period(request.period);
        await this.deps.admin.resume(at, caller.arn, request.reason, context);
        return { status: 200, message: `resumed (${at})` };
      }
      case 'prices set':
      case 'prices remove': {
        const changed = { actor: caller.arn, details: context };
        const prices =
          request.action === 'prices set'
            ? await this.deps.prices.set(request.prices, changed)
            : await this.deps.prices.remove(request.model, request.effectiveFrom, changed);
        return { status: 200, message: `${prices.length} price version(s) recorded`, result: { prices } };
      }
      case 'prices refresh': {
        const report = await this.deps.refreshPrices({
          ...(request.fetched ? { fetched: request.fetched } : {}),
          actor: caller.arn,
        });
        return { status: 200, message: 'prices refreshed', result: report };
      }
      case 'override': {
        const decided = await this.deps.approvals.decide(request.id, {
          decision: request.decision,
          reason: request.reason,
          approver: caller.arn,
          ...(request.amountUsd ? { amountUsd: request.amountUsd } : {}),
          via: 'cli',
          sourceIp: caller.sourceIp,
          userAgent: caller.userAgent,
        });
        return {
          status: 200,
          message: `${decided.principal}: ${request.decision} decided`,
          result: { principal: decided.principal, limitToUsd: decided.decided?.override?.limitTo ?? null },
        };
      }
    }
  }

  /**
   * What a request would do for the caller themselves, or undefined. Besides the principal they are budgeted as:
   * the role of a session they chose the name of (any role but Identity Center's, whose session names are the
   * users'). The default limit is not the caller's own, though it applies to an admin without a limit of their
   * own: changing it changes every such principal's, and is audited as any change.
   */
  private selfAction(own: string, subject: string, request: AdminRequest): string | undefined {
    const what = {
      'budget set': 'change their own limit',
      lift: 'lift their own suspension',
      override: 'decide an override of their own suspension',
      'emergency-stop': undefined,
      resume: undefined,
      'prices set': undefined,
      'prices remove': undefined,
      'prices refresh': undefined,
      // A group's limit is not its members' own: an admin in a group may change it, audited as any change.
      'group set': undefined,
      'group delete': undefined,
    }[request.action];
    if (what === undefined) return undefined;
    if (subject === own) return what;
    // A session's role is the caller's own only in the caller's account (in an organization, ids name theirs).
    const mine = splitPrincipalId(own);
    const theirs = splitPrincipalId(subject);
    if (mine.account !== theirs.account) return undefined;
    const role = /^role\/([^/]+)\//.exec(mine.local)?.[1];
    if (
      role &&
      !role.startsWith('AWSReservedSSO_') &&
      (theirs.local === `role/${role}` || theirs.local.startsWith(`role/${role}/`))
    ) {
      return `${what} (a session of role/${role})`;
    }
    return undefined;
  }

  /** The request with the ids it names as ingest keys them (the deployment's own account's unqualified). */
  private localized(request: AdminRequest): AdminRequest {
    const home = this.config.identityRules.homeAccount;
    if (home === undefined) return request;
    if (request.action === 'budget set' || request.action === 'lift') {
      return { ...request, principal: localizedId(request.principal, home) };
    }
    if (request.action === 'group set' && request.members) {
      return { ...request, members: request.members.map((member) => localizedId(member, home)) };
    }
    return request;
  }

  /** The principal a request acts on: named, the owner of the decision, or the account. */
  private async subjectOf(request: AdminRequest): Promise<string> {
    switch (request.action) {
      case 'budget set':
      case 'lift':
        return request.principal;
      case 'group set':
      case 'group delete':
        return groupPrincipal(request.name);
      case 'override':
        return (await this.deps.approvals.view(request.id))?.wait.principal ?? ACCOUNT_PRINCIPAL;
      default:
        return ACCOUNT_PRINCIPAL;
    }
  }

  private async refuse(caller: Caller, request: AdminRequest, subject: string, why: string): Promise<AdminAnswer> {
    await this.deps.audit.append({
      actor: caller.arn,
      action: 'admin.refused',
      subject,
      details: {
        request: request.action,
        why,
        sourceIp: caller.sourceIp,
        userAgent: caller.userAgent.slice(0, 200),
        ...('limitUsd' in request ? { limitUsd: request.limitUsd } : {}),
        ...('id' in request ? { approvalId: request.id } : {}),
      },
    });
    return { status: 403, message: why };
  }
}
