import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, BootstraplessSynthesizer, CfnParameter, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import {
  MEMBER_ENFORCEMENT_ROLE_NAME,
  MEMBER_FORWARDING_ROLE_NAME,
  MEMBER_ROLE_PREFIX,
  STACKSET_EXECUTION_ROLE_PATTERN,
} from '../../shared/enforcement/organization';
import { DENY_POLICY_NAME } from '../../shared/enforcement/policy';
import type { BudgeteerConfig } from '../config';
import { grantDenyPolicyEditing } from '../constructs/enforcement';
import { BEDROCK_CALLS, INVOCATION_LOG_RECORDS } from '../constructs/ingestion';

/** What the member stack is told of the central stack: its outputs of the same names. */
export const MEMBER_PARAMETERS = {
  CentralEventBusArn: 'The central event bus (output CentralEventBusArn of the central stack)',
  InvocationLogDestinationArn: 'The central Logs destination (output InvocationLogDestinationArn)',
  SuspendRoleArn: "The central suspend function's role (output SuspendRoleArn): the only one trusted here",
} as const;

export interface BudgeteerMemberStackProps extends StackProps {
  readonly config: BudgeteerConfig;
}

/**
 * What each member account of an organization holds: a rule forwarding its Bedrock CloudTrail events to the central
 * bus, a subscription of its invocation log group to the central Logs destination, and one enforcement role that
 * only the central suspend function may assume. Asset-free (no function, no file) and environment-agnostic, so a
 * service-managed StackSet can deploy its template to every account of an OU.
 */
export class BudgeteerMemberStack extends Stack {
  public readonly enforcementRole: iam.Role;
  public readonly forwarding: events.Rule;

  constructor(scope: Construct, id: string, props: BudgeteerMemberStackProps) {
    super(scope, id, props);
    const { config } = props;
    const parameter = (name: keyof typeof MEMBER_PARAMETERS) =>
      new CfnParameter(this, name, { type: 'String', description: MEMBER_PARAMETERS[name] }).valueAsString;
    const busArn = parameter('CentralEventBusArn');
    const destinationArn = parameter('InvocationLogDestinationArn');
    const suspendRoleArn = parameter('SuspendRoleArn');

    // InvokeModel and friends are read-only management events: a rule in the default state never sees them.
    const forwardingRole = new iam.Role(this, 'ForwardingRole', {
      roleName: MEMBER_FORWARDING_ROLE_NAME,
      description: "Forwards the account's Bedrock CloudTrail events to the budget account's event bus",
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    });
    this.forwarding = new events.Rule(this, 'BedrockCalls', {
      description: 'Bedrock inference recorded by CloudTrail, forwarded to the budget account',
      eventPattern: BEDROCK_CALLS,
      targets: [
        new targets.EventBus(events.EventBus.fromEventBusArn(this, 'CentralBus', busArn), { role: forwardingRole }),
      ],
    });
    (this.forwarding.node.defaultChild as events.CfnRule).state = 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS';

    // Cross-account: the destination's policy admits the organization, so the subscription names no role. The
    // log group must exist (Bedrock model invocation logging on, to this group).
    new logs.CfnSubscriptionFilter(this, 'InvocationLogSubscription', {
      logGroupName: config.invocationLogGroupName,
      destinationArn,
      filterPattern: INVOCATION_LOG_RECORDS.logPatternString,
    });

    this.enforcementRole = new iam.Role(this, 'EnforcementRole', {
      roleName: MEMBER_ENFORCEMENT_ROLE_NAME,
      description: `Puts and deletes the ${DENY_POLICY_NAME} policy on this account's users and roles, for the budget account`,
      assumedBy: new iam.ArnPrincipal(suspendRoleArn).withConditions({
        ArnEquals: { 'aws:PrincipalArn': suspendRoleArn },
        StringEquals: { 'aws:PrincipalOrgID': config.organizationId },
      }),
    });
    // Root is no IAM user: no inline policy can be put on it.
    grantDenyPolicyEditing(this.enforcementRole, {
      systemRoles: [`${MEMBER_ROLE_PREFIX}*`, STACKSET_EXECUTION_ROLE_PATTERN],
      breakGlassPrincipals: config.breakGlassPrincipals,
      reason:
        'A suspension falls on whichever IAM user or role of the member account spent past its limit: none is ' +
        "known at deploy time. Inline-policy verbs only; the Deny statements beside it exclude the member stack's " +
        'own roles, the StackSet execution roles and the break-glass principals',
    });
  }
}

/**
 * The member stack's template as a StackSet deploys it: synthesized on its own, without the bootstrap version
 * check (member accounts are not bootstrapped) and without assets (BootstraplessSynthesizer refuses any).
 */
export function memberTemplate(config: BudgeteerConfig): Record<string, unknown> {
  // Its own directory: under `cdk synth`, CDK_OUTDIR would make a second App write over the real cloud assembly.
  const outdir = mkdtempSync(path.join(tmpdir(), 'budgeteer-member-'));
  try {
    const app = new App({ outdir, analyticsReporting: false });
    const member = new BudgeteerMemberStack(app, 'BudgeteerMember', {
      config,
      synthesizer: new BootstraplessSynthesizer(),
    });
    return app.synth().getStackArtifact(member.artifactId).template as Record<string, unknown>;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
