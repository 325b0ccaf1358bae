import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { checkGroupRequest, type SetGroupReply } from '../shared/admin/set-group';
import { AdminError } from '../shared/admin/set-limit';
import { usedPercent } from '../shared/budgets';
import { ATTRIBUTES, decimalOf } from '../shared/budgets/items';
import { groupPrincipal, tagText } from '../shared/groups/groups';
import { type GroupDefinition, GroupStore } from '../shared/groups/store';
import { toDecimalString, usd } from '../shared/money';
import { PERIOD_KINDS, type PeriodKind, periodKey } from '../shared/period';
import { scanItems } from '../shared/scan';
import { callAdmin } from './admin-client';
import { CommandError, parseLimitArgument } from './args';
import { deploymentOf } from './deployment';
import { alignedTable, dollars, perPeriod } from './format';
import { output, resolveTarget, type Target, type TargetOptions, targetOptions, withDocuments } from './target';

/** A group as `group list|show --json` prints it: its definition and where its current period stands. */
export interface GroupStatus {
  readonly group: string;
  readonly limitUsd: string;
  readonly periodKind: PeriodKind;
  readonly period: string;
  readonly spendUsd: string;
  /** Spend as a percent of the limit, two places, rounded down; null for a limit of zero. */
  readonly percent: string | null;
  /** `active`, or `stopped` while its exhaustion denies its members. */
  readonly state: string;
  readonly members: readonly string[];
  readonly tag: string | null;
  readonly owners: readonly string[];
  /** Principals counted in the group this period (only `group show`). */
  readonly spenders?: readonly { principal: string; spendUsd: string }[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Where each group stands in its current period (the counter `GROUP#<name>` of the period `now` is in). */
export async function groupStatuses(
  documents: DynamoDBDocumentClient,
  target: Target,
  groups: readonly GroupDefinition[],
  now = new Date(),
): Promise<GroupStatus[]> {
  const table = output(target, 'BudgetsTableName');
  const deployment = deploymentOf(target);
  const store = new GroupStore(documents, table);
  return Promise.all(
    groups.map(async (group) => {
      const periodKind = group.periodKind ?? deployment.periodKind;
      const period = periodKey(periodKind, now);
      const { spend, state } = await store.counterIn(group.name, period);
      return {
        group: group.name,
        limitUsd: toDecimalString(group.limitUsd),
        periodKind,
        period,
        spendUsd: toDecimalString(spend),
        percent: usedPercent(spend, group.limitUsd)?.toFixed(2) ?? null,
        state,
        members: group.members,
        tag: group.tag ? tagText(group.tag) : null,
        owners: group.owners,
      };
    }),
  );
}

/** The principals counted in a group in a period, from their counters' `groups` (one Scan of the period). */
async function spendersOf(documents: DynamoDBDocumentClient, table: string, name: string, period: string) {
  const spenders: { principal: string; spendUsd: string }[] = [];
  for await (const item of scanItems(documents, {
    TableName: table,
    FilterExpression: '#period = :period AND contains(#groups, :name)',
    ExpressionAttributeNames: { '#period': 'period', '#groups': ATTRIBUTES.groups },
    ExpressionAttributeValues: { ':period': period, ':name': name },
  })) {
    spenders.push({ principal: String(item.principal), spendUsd: toDecimalString(decimalOf(item.spendUsd)) });
  }
  return spenders.sort((a, b) => usd(b.spendUsd).cmp(usd(a.spendUsd)) || (a.principal < b.principal ? -1 : 1));
}

export function formatGroups(statuses: readonly GroupStatus[]): string {
  if (statuses.length === 0) return 'no groups: set one with budgeteer group set <name> --limit <usd> --member …\n';
  const rows = statuses.map((s) => [
    s.group,
    `${dollars(usd(s.spendUsd))} of ${dollars(usd(s.limitUsd))} ${perPeriod(s.periodKind)}`,
    s.percent === null ? '-' : `${s.percent}%`,
    s.state,
    [...s.members, ...(s.tag ? [`tag ${s.tag}`] : [])].join(', '),
  ]);
  return alignedTable(['group', 'spend', 'used', 'state', 'members'], rows, [2]);
}

function formatGroup(status: GroupStatus): string {
  const lines = [
    `group ${status.group}: ${dollars(usd(status.spendUsd))} of ${dollars(usd(status.limitUsd))} in ${status.period}` +
      `${status.percent === null ? '' : ` (${status.percent}%)`}, ${status.state}`,
    `members: ${status.members.length > 0 ? status.members.join(', ') : 'none by name'}`,
    `by tag: ${status.tag ?? 'none'}`,
    `owners: ${status.owners.length > 0 ? status.owners.join(', ') : 'none'}`,
  ];
  const spenders = status.spenders ?? [];
  return (
    `${lines.join('\n')}\n` +
    (spenders.length === 0
      ? `no member spent in ${status.period}\n`
      : `counted in ${status.period}:\n${alignedTable(
          ['principal', 'spend'],
          spenders.map((s) => [s.principal, dollars(usd(s.spendUsd))]),
          [1],
        )}`)
  );
}

type SetOptions = TargetOptions & {
  limit: ReturnType<typeof parseLimitArgument>;
  member?: string[];
  tag?: string;
  owner?: string[];
  period?: PeriodKind;
  startsAt?: string;
};

/** `group set|list|show|delete`: team and application budgets (shared/groups). */
export function registerGroupCommands(program: Command): void {
  const group = program
    .command('group')
    .description(
      'team and application budgets: a limit on the summed spend of its members (by id, pattern or IAM tag)',
    );

  targetOptions(
    group
      .command('set')
      .description(
        'create or change a group (as you: signed with your AWS credentials, audited group.set); at 100% of its limit every member is denied until it is raised, an admin decides, or the period ends',
      )
      .argument('<name>', 'letters, digits, ".", "_" and "-"')
      .requiredOption('--limit <usd>', 'the limit per period in USD, decimal digits: 500 or 12.50', parseLimitArgument)
      .option(
        '--member <principal>',
        'a principal id or pattern (user/alice, role/ds-*), or an application inference profile (profile/<id>); ' +
          'repeat for more; given, they replace the members (omitted: kept)',
        collect,
      )
      .option(
        '--tag <key=value>',
        'users and roles carrying this IAM tag are members (team=data-science); omitted: kept',
      )
      .option('--owner <who>', "who answers for the group's spend; repeat for more; omitted: kept", collect)
      .addOption(
        new Option(
          '--period <kind>',
          "the period kind: the deployment's own (default) or one it keeps counters for",
        ).choices(PERIOD_KINDS),
      )
      .option(
        '--starts-at <day>',
        "a prepaid (--period total) group: the UTC day (YYYY-MM-DD, or an ISO time) its members' spend counts " +
          'from (default: what it had, else today)',
      ),
  ).action(async (name: string, options: SetOptions) => {
    const target = await resolveTarget(options);
    const request = {
      name,
      limitUsd: toDecimalString(options.limit),
      ...(options.member ? { members: options.member } : {}),
      ...(options.tag !== undefined ? { tag: options.tag } : {}),
      ...(options.owner ? { owners: options.owner } : {}),
      ...(options.period ? { period: options.period } : {}),
      ...(options.startsAt ? { startsAt: options.startsAt } : {}),
    };
    try {
      // Checked here too, so a typo is refused before a signed request is sent.
      checkGroupRequest(request);
    } catch (error) {
      if (error instanceof AdminError) throw new CommandError(error.message);
      throw error;
    }
    const reply = await callAdmin(target, { action: 'group set', ...request });
    const set = reply.result as unknown as SetGroupReply;
    process.stdout.write(
      `group ${set.name}: limit ${dollars(usd(set.limitUsd))} ${perPeriod(set.periodKind ?? deploymentOf(target).periodKind)}` +
        `${set.startsAt ? `, counting calls from ${set.startsAt} (UTC)` : ''}` +
        ` (was ${set.previousUsd === null ? 'no group' : dollars(usd(set.previousUsd))})\n` +
        `members: ${[...set.members, ...(set.tag ? [`tag ${set.tag}`] : [])].join(', ')}\n` +
        `audit entry ${set.auditSeq} of ${groupPrincipal(set.name)} (group.set)\n`,
    );
  });

  targetOptions(
    group
      .command('list')
      .description("every group, with its current period's spend and state")
      .option('--json', 'print one JSON document, amounts as decimal strings'),
  ).action(async (options: TargetOptions & { json?: boolean }) => {
    await withDocuments(options, async (documents, target) => {
      const groups = await new GroupStore(documents, output(target, 'BudgetsTableName')).list();
      const statuses = await groupStatuses(documents, target, groups);
      process.stdout.write(
        options.json ? `${JSON.stringify({ groups: statuses }, null, 2)}\n` : formatGroups(statuses),
      );
    });
  });

  targetOptions(
    group
      .command('show')
      .description('one group: its definition, spend and state, and the members counted in it this period')
      .argument('<name>')
      .option('--json', 'print one JSON document, amounts as decimal strings'),
  ).action(async (name: string, options: TargetOptions & { json?: boolean }) => {
    await withDocuments(options, async (documents, target) => {
      const table = output(target, 'BudgetsTableName');
      const found = await new GroupStore(documents, table).get(name);
      if (!found) throw new CommandError(`no group is named ${name} (budgeteer group list shows them)`);
      const [status] = await groupStatuses(documents, target, [found]);
      if (!status) throw new CommandError(`group ${name} could not be read`);
      const shown = { ...status, spenders: await spendersOf(documents, table, name, status.period) };
      process.stdout.write(options.json ? `${JSON.stringify(shown, null, 2)}\n` : formatGroup(shown));
    });
  });

  targetOptions(
    group
      .command('delete')
      .description('delete a group (audited group.deleted); its counters stay as history')
      .argument('<name>', 'the group', (value: string) => {
        if (value.trim() === '') throw new InvalidArgumentError('a group name is required');
        return value;
      }),
  ).action(async (name: string, options: TargetOptions) => {
    const reply = await callAdmin(await resolveTarget(options), { action: 'group delete', name });
    process.stdout.write(`${reply.message}\n`);
  });
}
