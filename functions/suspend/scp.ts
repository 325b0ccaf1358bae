import {
  AttachPolicyCommand,
  CreatePolicyCommand,
  DescribeOrganizationCommand,
  DescribePolicyCommand,
  DetachPolicyCommand,
  ListRootsCommand,
  type OrganizationsClient,
  paginateListChildren,
  paginateListPolicies,
  paginateListTargetsForPolicy,
  UpdatePolicyCommand,
} from '@aws-sdk/client-organizations';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ENFORCEMENT_ATTRIBUTES, type OrganizationStopRecord } from '../../shared/budgets/items';
import { organizationStopPolicy, SCP_NAME, SCP_TAG, type ScpExceptions } from '../../shared/enforcement/scp';
import { ACCOUNT_PRINCIPAL } from '../../shared/identity';

const SCP_TYPE = 'SERVICE_CONTROL_POLICY';
const ACCOUNT_ID = /^\d{12}$/;
const errorName = (error: unknown) => (error as { name?: string } | undefined)?.name;

export interface OrganizationStopConfig {
  /** Roots (`r-…`), OUs (`ou-…`) and accounts (12 digits) the SCP is attached to. Empty: the organization's root. */
  readonly targets: readonly string[];
  /** The management account, which no SCP applies to. @default learned from DescribeOrganization */
  readonly managementAccountId?: string;
  /** Who the SCP never stops: root, the system's roles, break glass. */
  readonly exceptions: ScpExceptions;
}

/** The audit entries of an organization stop, one per target, through the Enforcer's audit path. */
export type ScpAudit = (
  action: 'scp.attached' | 'scp.detached' | 'enforcement.failed',
  target: string,
  details: Record<string, string>,
) => Promise<void>;

/**
 * Where an organization stop records what it attached: the `organizationStop` attribute of the account's counter of
 * the period, beside the circuit breaker but apart from it, so that a resume that turned the breaker off and failed
 * still finds what it has to detach when it is retried.
 */
export class OrganizationStopRecords {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async read(period: string): Promise<OrganizationStopRecord | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.table, Key: this.key(period), ConsistentRead: true }),
    );
    return Item?.[ENFORCEMENT_ATTRIBUTES.organizationStop] as OrganizationStopRecord | undefined;
  }

  /** Writes the record of `record.holder`'s stop; refused (false) while another stop's record is there. */
  async write(period: string, record: OrganizationStopRecord): Promise<boolean> {
    try {
      await this.documents.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(period),
          UpdateExpression: 'SET #o = :record',
          ConditionExpression: 'attribute_not_exists(#o) OR #o.holder = :holder',
          ExpressionAttributeNames: { '#o': ENFORCEMENT_ATTRIBUTES.organizationStop },
          ExpressionAttributeValues: { ':record': record, ':holder': record.holder },
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  /** Removes the record of `holder`'s stop, once everything it attached is detached. */
  async clear(period: string, holder: string): Promise<void> {
    await this.documents
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(period),
          UpdateExpression: 'REMOVE #o',
          ConditionExpression: '#o.holder = :holder',
          ExpressionAttributeNames: { '#o': ENFORCEMENT_ATTRIBUTES.organizationStop },
          ExpressionAttributeValues: { ':holder': holder },
        }),
      )
      .catch((error: unknown) => {
        if (errorName(error) !== 'ConditionalCheckFailedException') throw error;
      });
  }

  private key(period: string) {
    return { principal: ACCOUNT_PRINCIPAL, period };
  }
}

/**
 * The organization's stop by service control policy: `BudgeteerOrganizationStop` (shared/enforcement/scp.ts) kept
 * up to date by name, attached to the configured targets for a stop and detached from exactly those it attached at
 * the resume. Every step is idempotent: attaching what is attached, and detaching what is not, are successes.
 */
export class OrganizationStop {
  private managementAccount?: string;

  constructor(
    private readonly organizations: OrganizationsClient,
    private readonly records: OrganizationStopRecords,
    private readonly config: OrganizationStopConfig,
  ) {
    this.managementAccount = config.managementAccountId;
  }

  /**
   * Attaches the SCP for the stop `holder` holds, and returns its record: the targets it attached and the accounts
   * the SCP covers (their principals need no deny of their own; the management account's always do). A target that
   * cannot be attached is audited as enforcement.failed and left out of the covered accounts, so its principals are
   * denied one by one instead. Undefined: another stop's SCP is in force (this one denies principal by principal).
   */
  async begin(period: string, holder: string, audit: ScpAudit): Promise<OrganizationStopRecord | undefined> {
    let record = await this.records.read(period);
    if (record?.holder !== holder) {
      const policyId = await this.ensurePolicy();
      const configured = await this.targets();
      // Attached before this stop began (by whom, this stop cannot tell): not this stop's to detach.
      const before = new Set(await this.attachedTargets(policyId));
      record = { holder, policyId, targets: configured.filter((target) => !before.has(target)) };
      if (!(await this.records.write(period, record))) return undefined;
    }
    const { policyId } = record;
    const failed = new Set<string>();
    for (const target of record.targets) {
      try {
        await this.attach(policyId, target);
        await audit('scp.attached', target, { policyId, policyName: SCP_NAME });
      } catch (error) {
        failed.add(target);
        await audit('enforcement.failed', target, { step: 'scp.attach', policyId, error: String(error) });
      }
    }
    // Only what this stop attached covers its accounts: an SCP attached before it (another stop's, an operator's)
    // may be detached at any time by whoever attached it, and this stop's principals must stay denied then.
    const attached = record.targets.filter((target) => !failed.has(target));
    const management = await this.managementAccountId();
    const accounts = [...(await this.accountsUnder(attached))].filter((account) => account !== management).sort();
    const done = { ...record, attached, accounts };
    await this.records.write(period, done);
    return done;
  }

  /**
   * Detaches exactly what the stop `holder` holds attached (a target already detached counts as detached if this stop
   * had attached it), audits each, and removes the record. Returns the targets detached.
   */
  async end(period: string, holder: string, audit: ScpAudit): Promise<string[]> {
    const record = await this.records.read(period);
    if (record?.holder !== holder) return [];
    const detached: string[] = [];
    // What it attached; a begin cut short before it recorded that: every target it set out to attach.
    for (const target of record.attached ?? record.targets) {
      const was = await this.detach(record.policyId, target);
      if (!was && !record.attached?.includes(target)) continue;
      detached.push(target);
      await audit('scp.detached', target, { policyId: record.policyId, policyName: SCP_NAME });
    }
    await this.records.clear(period, holder);
    return detached;
  }

  /** The stop's record, if the stop `holder` holds the SCP: where it is attached and which accounts it covers. */
  async recordOf(period: string, holder: string): Promise<OrganizationStopRecord | undefined> {
    const record = await this.records.read(period);
    return record?.holder === holder ? record : undefined;
  }

  /** The SCP's id: found by name and brought up to date, or created. */
  private async ensurePolicy(): Promise<string> {
    const content = JSON.stringify(organizationStopPolicy(this.config.exceptions));
    const existing = await this.findPolicy();
    if (existing) {
      const { Policy } = await this.organizations.send(new DescribePolicyCommand({ PolicyId: existing }));
      if (Policy?.Content !== content) {
        await this.organizations.send(new UpdatePolicyCommand({ PolicyId: existing, Content: content }));
      }
      return existing;
    }
    try {
      const { Policy } = await this.organizations.send(
        new CreatePolicyCommand({
          Name: SCP_NAME,
          Type: SCP_TYPE,
          Description: 'Budgeteer: stops Bedrock inference while the organization budget is exhausted',
          Content: content,
          // What the function's permissions to update, attach and detach it are conditioned on.
          Tags: [{ Key: SCP_TAG.key, Value: SCP_TAG.value }],
        }),
      );
      const id = Policy?.PolicySummary?.Id;
      if (id) return id;
    } catch (error) {
      // Created meanwhile by another attempt of this step.
      if (errorName(error) !== 'DuplicatePolicyException') throw error;
    }
    const created = await this.findPolicy();
    if (!created) throw new Error(`AWS Organizations has no policy named ${SCP_NAME} after creating it`);
    return created;
  }

  private async findPolicy(): Promise<string | undefined> {
    for await (const page of paginateListPolicies({ client: this.organizations }, { Filter: SCP_TYPE })) {
      const found = page.Policies?.find((policy) => policy.Name === SCP_NAME);
      if (found?.Id) return found.Id;
    }
    return undefined;
  }

  private async attachedTargets(PolicyId: string): Promise<string[]> {
    const targets: string[] = [];
    for await (const page of paginateListTargetsForPolicy({ client: this.organizations }, { PolicyId })) {
      for (const target of page.Targets ?? []) if (target.TargetId) targets.push(target.TargetId);
    }
    return targets;
  }

  private async attach(PolicyId: string, TargetId: string): Promise<void> {
    try {
      await this.organizations.send(new AttachPolicyCommand({ PolicyId, TargetId }));
    } catch (error) {
      if (errorName(error) !== 'DuplicatePolicyAttachmentException') throw error;
    }
  }

  /** False when the policy was not attached there (already detached by an earlier attempt). */
  private async detach(PolicyId: string, TargetId: string): Promise<boolean> {
    try {
      await this.organizations.send(new DetachPolicyCommand({ PolicyId, TargetId }));
      return true;
    } catch (error) {
      if (errorName(error) === 'PolicyNotAttachedException') return false;
      throw error;
    }
  }

  /** The configured targets, or the organization's root. */
  private async targets(): Promise<string[]> {
    if (this.config.targets.length > 0) return [...this.config.targets];
    const { Roots = [] } = await this.organizations.send(new ListRootsCommand({}));
    return Roots.flatMap((root) => (root.Id ? [root.Id] : []));
  }

  private async managementAccountId(): Promise<string | undefined> {
    if (this.managementAccount === undefined) {
      const { Organization } = await this.organizations.send(new DescribeOrganizationCommand({}));
      this.managementAccount = Organization?.MasterAccountId;
    }
    return this.managementAccount;
  }

  /** Every account under the targets (an account target is itself), OUs walked to the bottom. */
  private async accountsUnder(targets: readonly string[]): Promise<Set<string>> {
    const accounts = new Set<string>();
    const parents = targets.filter((target) => {
      if (ACCOUNT_ID.test(target)) accounts.add(target);
      return !ACCOUNT_ID.test(target);
    });
    while (parents.length > 0) {
      const ParentId = parents.pop() as string;
      for (const ChildType of ['ACCOUNT', 'ORGANIZATIONAL_UNIT'] as const) {
        for await (const page of paginateListChildren({ client: this.organizations }, { ParentId, ChildType })) {
          for (const child of page.Children ?? []) {
            if (!child.Id) continue;
            if (ChildType === 'ACCOUNT') accounts.add(child.Id);
            else parents.push(child.Id);
          }
        }
      }
    }
    return accounts;
  }
}
