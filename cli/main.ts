import { Command } from 'commander';
import { jsonListFromEnv } from '../shared/config';
import { readInput, recordsFromText } from './documents';
import { inspect } from './inspect';

const program = new Command('budgeteer').description('Bedrock budget enforcement: inspect, run locally, administer');

const rules = () => ({ perSessionRoles: jsonListFromEnv('PER_SESSION_ROLES', process.env, ['AWSReservedSSO_*']) });

program
  .command('inspect')
  .description(
    'price Bedrock events offline: one JSON line per request (CloudTrail events, invocation logs, Logs payloads)',
  )
  .argument('<file>', 'a file of events, or - for standard input (JSON document, array, or JSON lines)')
  .action((file: string) => {
    const { lines, invalid } = inspect(recordsFromText(readInput(file)), rules());
    for (const line of lines) process.stdout.write(`${JSON.stringify(line)}\n`);
    if (invalid > 0) process.exitCode = 1;
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`budgeteer: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
});
