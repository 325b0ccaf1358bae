import { createHash } from 'node:crypto';

/**
 * The suspension itself: one inline policy with a fixed name on the IAM user or role (or on the IAM Identity
 * Center permission set behind an `AWSReservedSSO_*` role). It only ever adds an explicit Deny, so every Allow the
 * principal has is left untouched, and deleting the policy restores exactly the access it had.
 */
export const DENY_POLICY_NAME = 'BudgeteerDeny';
/** Every statement this system writes carries a Sid with this prefix; nothing else in a policy is ours. */
export const SID_PREFIX = 'Budgeteer';

/**
 * Every Bedrock entry point that runs inference. InvokeModel and InvokeModelWithResponseStream also gate Converse
 * and ConverseStream; CallWithBearerToken stops long- and short-term Bedrock API keys. The bedrock-mantle
 * (OpenAI- and Anthropic-compatible) endpoint's inference actions are denied by its own service prefix.
 */
export const DENIED_ACTIONS = [
  'bedrock:InvokeModel',
  'bedrock:InvokeModelWithResponseStream',
  'bedrock:InvokeModelWithBidirectionalStream',
  'bedrock:StartAsyncInvoke',
  'bedrock:CreateModelInvocationJob',
  'bedrock:InvokeAgent',
  'bedrock:InvokeInlineAgent',
  'bedrock:RetrieveAndGenerate',
  'bedrock:InvokeFlow',
  'bedrock:CallWithBearerToken',
  'bedrock-mantle:CreateInference',
  'bedrock-mantle:CallWithBearerToken',
] as const;

/** IAM quotas on the aggregate size of a principal's inline policies (characters, whitespace not counted). */
export const INLINE_POLICY_LIMITS = { user: 2048, role: 10_240, 'permission-set': 10_240 } as const;

/** Where a deny goes. */
export type DenyEntity = (
  | { readonly kind: 'user'; readonly name: string }
  | { readonly kind: 'role'; readonly name: string }
  /** An IAM Identity Center permission set, for the `AWSReservedSSO_<name>_<hash>` roles it provisions. */
  | { readonly kind: 'permission-set'; readonly name: string }
) & {
  /**
   * The member account of the organization the user or role is in, written through that account's enforcement
   * role. Absent: the deployment's own account (and always for a permission set, which spans accounts).
   */
  readonly account?: string;
};

/** One reason the entity is denied: a whole entity, or one session of a role (`aws:userid` pattern). */
export interface DenyHold {
  /** Who holds the deny: `suspend:<execution name>` or `stop:<execution name>`; lifting removes only its own. */
  readonly holder: string;
  /** `<role id>:<session name>` (or `*:<session name>` on a permission set); absent: the whole entity. */
  readonly session?: string;
  /**
   * Only these resources (application inference profile ARNs, wildcards allowed) are denied, for the actions that
   * take them (PROFILE_ACTIONS): a budget on a profile cuts its callers off that profile, not off Bedrock. Absent:
   * every Bedrock inference action on everything.
   */
  readonly resources?: readonly string[];
}

/** What a call through an inference profile is authorized as, on the profile's ARN (Converse is InvokeModel). */
export const PROFILE_ACTIONS = [
  'bedrock:InvokeModel',
  'bedrock:InvokeModelWithResponseStream',
  'bedrock:InvokeModelWithBidirectionalStream',
  'bedrock:StartAsyncInvoke',
  'bedrock:CreateModelInvocationJob',
] as const;

export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: 'Deny';
  readonly Action: readonly string[];
  readonly Resource: '*' | readonly string[];
  readonly Condition?: { readonly StringLike: { readonly 'aws:userid': string } };
}

export interface PolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly PolicyStatement[];
}

export class PolicySizeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PolicySizeError';
  }
}

const sessionSid = (session: string) =>
  `${SID_PREFIX}Session${createHash('sha256').update(session).digest('hex').slice(0, 16)}`;

/**
 * Our statements for a set of holds: one that denies the whole entity if any hold is for it, and one per distinct
 * session otherwise (a whole-entity deny already covers every session). Sorted, so the same holds always give
 * the same document and re-applying changes nothing.
 */
export function denyStatements(holds: readonly DenyHold[]): PolicyStatement[] {
  const whole = holds.filter((hold) => hold.resources === undefined);
  if (whole.some((hold) => hold.session === undefined)) {
    // Everything is denied: a scoped hold adds nothing.
    return [{ Sid: `${SID_PREFIX}DenyAll`, Effect: 'Deny', Action: [...DENIED_ACTIONS], Resource: '*' }];
  }
  const sessions = [...new Set(whole.map((hold) => hold.session as string))].sort();
  return [
    ...sessions.map(
      (session): PolicyStatement => ({
        Sid: sessionSid(session),
        Effect: 'Deny',
        Action: [...DENIED_ACTIONS],
        Resource: '*',
        Condition: { StringLike: { 'aws:userid': session } },
      }),
    ),
    ...scopedStatements(holds.filter((hold) => hold.resources !== undefined && !sessions.includes(hold.session ?? ''))),
  ];
}

/** One statement per distinct set of resources and session among holds scoped to resources, sorted. */
function scopedStatements(holds: readonly DenyHold[]): PolicyStatement[] {
  const distinct = new Map<string, { resources: string[]; session?: string }>();
  for (const hold of holds) {
    const resources = [...new Set(hold.resources)].sort();
    distinct.set(JSON.stringify([resources, hold.session ?? null]), {
      resources,
      ...(hold.session === undefined ? {} : { session: hold.session }),
    });
  }
  return [...distinct]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, { resources, session }]) => ({
      Sid: `${SID_PREFIX}Scoped${createHash('sha256').update(key).digest('hex').slice(0, 16)}`,
      Effect: 'Deny',
      Action: [...PROFILE_ACTIONS],
      Resource: resources,
      ...(session === undefined ? {} : { Condition: { StringLike: { 'aws:userid': session } } }),
    }));
}

/** The whole `BudgeteerDeny` document for an IAM user or role; undefined when nothing is held (delete it). */
export function denyPolicy(entity: DenyEntity, holds: readonly DenyHold[]): PolicyDocument | undefined {
  const statements = denyStatements(holds);
  if (statements.length === 0) return undefined;
  const document: PolicyDocument = { Version: '2012-10-17', Statement: statements };
  checkSize(entity, document, 0);
  return document;
}

/**
 * A permission set has one inline policy, shared with whatever the organization put there: ours are merged into
 * it by Sid prefix and removed the same way, leaving every other statement as it was. Undefined: the merged
 * policy is empty and should be deleted.
 */
export function mergeIntoInlinePolicy(
  existing: string | undefined,
  entity: DenyEntity,
  holds: readonly DenyHold[],
): string | undefined {
  const parsed = existing ? (JSON.parse(existing) as { Version?: string; Statement?: unknown }) : {};
  const statements = Array.isArray(parsed.Statement)
    ? parsed.Statement
    : parsed.Statement === undefined
      ? []
      : [parsed.Statement];
  const theirs = statements.filter(
    (statement) => !String((statement as { Sid?: unknown }).Sid ?? '').startsWith(SID_PREFIX),
  );
  const merged = [...theirs, ...denyStatements(holds)];
  if (merged.length === 0) return undefined;
  const document = { Version: parsed.Version ?? '2012-10-17', Statement: merged };
  checkSize(entity, document, 0);
  return JSON.stringify(document);
}

/** IAM counts a policy's characters without white space; JSON.stringify writes none. */
export const policySize = (document: unknown) => JSON.stringify(document).length;

/**
 * Refuses a document that IAM would refuse, before any call is made, with what to do about it.
 * @param otherPolicies characters already used by the entity's other inline policies
 */
export function checkSize(entity: DenyEntity, document: unknown, otherPolicies: number): void {
  const limit = INLINE_POLICY_LIMITS[entity.kind];
  const size = policySize(document) + otherPolicies;
  if (size > limit) {
    throw new PolicySizeError(
      `the deny for ${entity.kind} ${entity.name} needs ${size} characters of inline policy, over IAM's limit of ${limit}: ` +
        'too many sessions of one role are suspended at once; suspend the role as a whole (budget it per role) instead',
    );
  }
}
