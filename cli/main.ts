import { Command } from 'commander';
import { version } from '../package.json';
import { identityRulesFromEnv } from '../shared/config';
import { USAGE_EXIT_CODE } from './args';
import { registerAuditCommands } from './audit';
import { registerBudgetCommands } from './budget';
import { readInput, recordsFromText } from './documents';
import { registerEnforcementCommands } from './enforcement';
import { registerGroupCommands } from './group';
import { inspect } from './inspect';
import { registerPricesCommands } from './prices';
import { registerReconcileCommand } from './reconcile';
import { registerReportCommand } from './report';
import { registerStatusCommand } from './status';

const program = new Command('budgeteer')
  .description('Bedrock budget enforcement: inspect, run locally, administer')
  .version(version)
  // Commander exits 1 on a usage error (unknown option, bad argument); this CLI's usage errors exit 2. Set before
  // the commands are added, so each of them inherits it.
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : USAGE_EXIT_CODE));

const rules = () => identityRulesFromEnv();

program
  .command('inspect')
  .description(
    'price Bedrock events offline: one JSON line per request (CloudTrail events, invocation logs, Logs payloads)',
  )
  .argument('<file>', 'a file of events, or - for standard input (JSON document, array, or JSON lines)')
  .action((file: string) => {
    const { lines, invalid, skippedActions } = inspect(recordsFromText(readInput(file)), rules());
    for (const line of lines) process.stdout.write(`${JSON.stringify(line)}\n`);
    if (skippedActions > 0) {
      process.stderr.write(
        `budgeteer: skipped ${skippedActions} scenario action line(s) (admin actions, not Bedrock events)\n`,
      );
    }
    if (invalid > 0) process.exitCode = 1;
  });

registerAuditCommands(program);
registerBudgetCommands(program);
registerGroupCommands(program);
registerStatusCommand(program);
registerEnforcementCommands(program);
registerReportCommand(program);
registerPricesCommands(program);
registerReconcileCommand(program);

program
  .command('local')
  .description('run the whole system on a local AWS on loopback and replay a scenario of Bedrock use (npm start)')
  .option(
    '--scenario <file>',
    'replay this file of events (JSON lines of the shapes inspect accepts) instead of the bundled one',
  )
  .option(
    '--budgets <file>',
    'JSON object: principal (or the name it ends with), "default", "account", "organization", "account:<id>" -> USD limit',
  )
  .option('--prices <file>', 'JSON list of price versions (the prices set format) to apply before the replay')
  .option('--json', 'print only the summary, as one JSON document')
  .option('--serve', 'keep the local stack up until Ctrl-C')
  .option('--verbose', 'show moto, deployment and function logs')
  .option('--digest', "deploy with the daily digest on: the scheduled run also sends yesterday's digest to both topics")
  .option(
    '--organization',
    'run as the central stack of an AWS Organization: a management account, the budget account and two member ' +
      'accounts; replays the organization scenario (a member account stopped, then the organization by SCP)',
  )
  .action(async (options) => {
    // Loaded only for this command: the local stack brings aws-cdk-lib and every construct, a second of every
    // other command's start.
    const { runLocal } = require('./local') as typeof import('./local');
    const summary = await runLocal(options);
    // A replay that counted nothing (every line rejected, or none) is a failed run, not an empty summary.
    if (summary.periods.length === 0) process.exitCode = 1;
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`budgeteer: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
});
