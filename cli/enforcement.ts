import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Command, InvalidArgumentError } from 'commander';
import { AuditLog } from '../shared/audit/log';
import { AdminActions } from '../shared/decisions/admin';
import { Approvals } from '../shared/decisions/approvals';
import { approvalUrl } from '../shared/decisions/links';
import { Outbox } from '../shared/decisions/outbox';
import { DECISIONS, PendingWaits } from '../shared/decisions/pending';
import { signingSecret } from '../shared/decisions/secret';
import { periodKey } from '../shared/period';
import { callAdmin } from './admin-client';
import { CommandError, parsePrincipal } from './args';
import { deploymentOf } from './deployment';
import { output, resolveTarget, type Target, type TargetOptions, targetOptions, withDocuments } from './target';

/**
 * An emergency stop says what it stops: in an organization's deployment the stop reaches every account, so it must
 * be asked for by name (`--organization`); in a single account there is no organization to stop.
 */
export function checkStopScope(organizationId: string | undefined, organization: boolean): void {
  if (organizationId && !organization) {
    throw new CommandError(
      `this deployment meters organization ${organizationId}: its emergency stop stops every account. Say so with ` +
        '--organization (to stop one account, set its budget to 0: budgeteer group set account-<id> --member ' +
        'account:<id> --limit 0)',
    );
  }
  if (!organizationId && organization) {
    throw new CommandError('--organization: this deployment is a single account (deployed without organizationId)');
  }
}

interface AdminOptions extends TargetOptions {
  readonly reason?: string;
  readonly json?: boolean;
}

const write = (line: string) => process.stdout.write(`${line}\n`);

function requireReason(reason: string | undefined): string {
  if (!reason || reason.trim() === '') {
    throw new InvalidArgumentError('say why with --reason "…": it is recorded in the audit log');
  }
  if (reason.length > 500) throw new InvalidArgumentError('--reason takes at most 500 characters');
  return reason.trim();
}

/** The admin actions over a target's tables, workflows and topics; `close` destroys the clients it made. */
export function adminActionsFor(
  documents: DynamoDBDocumentClient,
  target: Target,
): { admin: AdminActions; close: () => void } {
  const deployment = deploymentOf(target);
  const sns = new SNSClient(target.clientConfig);
  const sfn = new SFNClient(target.clientConfig);
  const lambda = new LambdaClient(target.clientConfig);
  const audit = new AuditLog(documents, deployment.auditTable);
  const admin = new AdminActions({
    documents,
    table: deployment.budgetsTable,
    waits: new PendingWaits(documents, sfn, output(target, 'PendingTableName')),
    audit,
    outbox: new Outbox(
      {
        table: deployment.budgetsTable,
        alertsTopicArn: output(target, 'AlertsTopicArn'),
        criticalTopicArn: output(target, 'CriticalTopicArn'),
        suspendStateMachineArn: output(target, 'SuspendStateMachineArn'),
        emergencyStopStateMachineArn: output(target, 'EmergencyStopStateMachineArn'),
      },
      { documents, sns, sfn, lambda, audit },
    ),
    emergencyStopStateMachineArn: output(target, 'EmergencyStopStateMachineArn'),
  });
  return {
    admin,
    close: () => {
      sns.destroy();
      sfn.destroy();
      lambda.destroy();
    },
  };
}

/** Overrides (decisions on waiting workflows) over a target's tables and critical topic. */
export function approvalsFor(
  documents: DynamoDBDocumentClient,
  target: Target,
): { approvals: Approvals; close: () => void } {
  const deployment = deploymentOf(target);
  const sns = new SNSClient(target.clientConfig);
  const sfn = new SFNClient(target.clientConfig);
  const approvals = Approvals.fromEnv(
    { documents, sns, sfn, audit: new AuditLog(documents, deployment.auditTable) },
    {
      BUDGETS_TABLE: deployment.budgetsTable,
      PENDING_TABLE: output(target, 'PendingTableName'),
      CRITICAL_TOPIC_ARN: output(target, 'CriticalTopicArn'),
      DEFAULT_BUDGET_USD: output(target, 'DefaultBudgetUsd'),
      ACCOUNT_BUDGET_USD: output(target, 'AccountBudgetUsd'),
    },
  );
  return {
    approvals,
    close: () => {
      sns.destroy();
      sfn.destroy();
    },
  };
}

/** A decision a workflow waits for, with its signed link (what `npm start` prints and its summary lists). */
export interface ApprovalLink {
  readonly id: string;
  readonly principal: string;
  readonly kind: string;
  readonly url: string;
}

/** The pending decisions' links, signed with the stack's key (which the caller must be allowed to read). */
export async function approvalLinks(
  documents: DynamoDBDocumentClient,
  target: Target,
  secretArn: string,
): Promise<ApprovalLink[]> {
  const { approvals, close } = approvalsFor(documents, target);
  const secrets = new SecretsManagerClient(target.clientConfig);
  try {
    const pending = await approvals.pending();
    if (pending.length === 0) return [];
    const secret = await signingSecret(secretArn, secrets)();
    return pending.map((wait) => ({
      id: wait.id,
      principal: wait.principal,
      kind: wait.kind,
      url: approvalUrl(output(target, 'ApprovalUrl'), secret, wait.id, wait.expiresAt),
    }));
  } finally {
    secrets.destroy();
    close();
  }
}

interface OverrideOptions extends AdminOptions {
  readonly amount?: string;
}

async function withAdmin<T>(
  options: AdminOptions,
  use: (admin: AdminActions, period: string, target: Target) => Promise<T>,
): Promise<T> {
  return withDocuments(options, async (documents: DynamoDBDocumentClient, target) => {
    const { admin, close } = adminActionsFor(documents, target);
    try {
      return await use(admin, periodKey(deploymentOf(target).periodKind, new Date()), target);
    } finally {
      close();
    }
  });
}

export function registerEnforcementCommands(program: Command): void {
  targetOptions(
    program
      .command('suspensions')
      .description('list the suspensions and the emergency stop in force this period, with their executions')
      .option('--json', 'print a JSON array'),
  ).action(async (options: AdminOptions) => {
    await withAdmin(options, async (admin, period) => {
      const views = await admin.suspensions(period);
      if (options.json) return write(JSON.stringify(views, null, 2));
      if (views.length === 0) return write(`nothing is suspended in ${period}`);
      for (const v of views) {
        write(`${v.principal}  ${v.state} since ${v.since} (${v.reason}, generation ${v.generation})`);
        write(`  execution ${v.executionArn}${v.waitId ? `  decision ${v.waitId}` : ''}`);
      }
    });
  });

  targetOptions(
    program
      .command('overrides')
      .description('list the decisions workflows are waiting for (suspensions, the emergency stop), with their ids')
      .option('--json', 'print a JSON array'),
  ).action(async (options: AdminOptions) => {
    await withDocuments(options, async (documents, target) => {
      const { approvals, close } = approvalsFor(documents, target);
      try {
        const pending = await approvals.pending();
        if (options.json) {
          const rows = pending.map(({ id, kind, principal, period, createdAt, expiresAt }) => ({
            id,
            kind,
            principal,
            period,
            createdAt,
            expiresAt,
            decisions: [...DECISIONS[kind]],
          }));
          return write(JSON.stringify(rows, null, 2));
        }
        if (pending.length === 0) return write('no decision is pending');
        for (const w of pending) {
          write(`${w.id}  ${w.kind}  ${w.principal}  ${w.period}  expires ${w.expiresAt}`);
          write(`  npx budgeteer override ${w.id} ${DECISIONS[w.kind].join('|')} --reason "…"`);
        }
      } finally {
        close();
      }
    });
  });

  targetOptions(
    program
      .command('override')
      .description('decide a pending override: raise, lift or keep a suspension; resume or keep an emergency stop')
      .argument('<id>', 'the decision id (from the message, or `budgeteer overrides`)')
      .argument('<decision>', 'raise | lift | keep | resume', (value: string) => {
        if (!['raise', 'lift', 'keep', 'resume'].includes(value)) {
          throw new InvalidArgumentError('one of raise, lift, keep, resume');
        }
        return value;
      })
      .option('--reason <text>', 'why (required; audited)')
      .option('--amount <usd>', 'for raise: by how much, in USD (a decimal string such as 25 or 12.50)'),
  ).action(async (id: string, decision: 'raise' | 'lift' | 'keep' | 'resume', options: OverrideOptions) => {
    const reason = requireReason(options.reason);
    if (decision === 'raise' && options.amount === undefined) {
      throw new InvalidArgumentError('raise needs --amount <usd>');
    }
    if (decision !== 'raise' && options.amount !== undefined) {
      throw new InvalidArgumentError('--amount goes with raise only');
    }
    const target = await resolveTarget(options);
    const reply = await callAdmin(target, {
      action: 'override',
      id,
      decision,
      reason,
      ...(options.amount === undefined ? {} : { amountUsd: options.amount }),
    });
    const limit = reply.result?.limitToUsd;
    write(
      `${reply.result?.principal ?? id}: ${decision}${limit ? ` (limit now ${limit} USD)` : ''} decided; ${
        decision === 'keep' ? 'nothing changes' : 'its workflow applies it now'
      }`,
    );
  });

  targetOptions(
    program
      .command('lift')
      .description('allow a principal until its period ends, without changing its limit; lifts its suspension')
      .argument('<principal>', 'user/<name>, role/<name> or role/<role>/<session>', parsePrincipal)
      .option('--reason <text>', 'why (required; audited)'),
  ).action(async (principal: string, options: AdminOptions) => {
    const reason = requireReason(options.reason);
    const reply = await callAdmin(await resolveTarget(options), { action: 'lift', principal, reason });
    write(
      reply.result?.wasSuspended
        ? `${reply.message}; the deny is being removed by its workflow`
        : `${reply.message} (it was not suspended)`,
    );
  });

  targetOptions(
    program
      .command('emergency-stop')
      .description(
        'stop all Bedrock use in the account now (every principal that spent is denied); in an organization ' +
          "deployment, with --organization: every member account by the organization's SCP, the rest by deny policy",
      )
      .option('--reason <text>', 'why (required; audited)')
      .option('--organization', "stop the whole organization (required in an organization's deployment)"),
  ).action(async (options: AdminOptions & { organization?: boolean }) => {
    const reason = requireReason(options.reason);
    const target = await resolveTarget(options);
    checkStopScope(target.outputs.OrganizationId, options.organization === true);
    const reply = await callAdmin(target, { action: 'emergency-stop', reason });
    write(`${reply.message}: ${String(reply.result?.executionArn ?? '')}`);
  });

  targetOptions(
    program
      .command('resume')
      .description('end the emergency stop: lifts exactly the denies it applied')
      .option('--reason <text>', 'why (required; audited)'),
  ).action(async (options: AdminOptions) => {
    const reason = requireReason(options.reason);
    const reply = await callAdmin(await resolveTarget(options), { action: 'resume', reason });
    write(`${reply.message}: the stop's denies are being lifted by its workflow`);
  });
}
