import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const VALIDATOR = join(ROOT, 'node_modules', '.bin', 'asl-validator');
const files = readdirSync(join(ROOT, 'statemachines')).filter((f) => f.endsWith('.asl.json'));

/** A broken definition would otherwise show only when a workflow runs. JSONPath, as the local interpreter needs. */
describe('state machine definitions', () => {
  it('has the two workflows', () => {
    expect(files.sort()).toEqual(['emergency-stop.asl.json', 'suspend-principal.asl.json']);
  });

  it.each(files)('%s is valid Amazon States Language (asl-validator, JSONPath)', (file) => {
    const run = spawnSync(VALIDATOR, ['--json-path', join(ROOT, 'statemachines', file)], { encoding: 'utf8' });
    expect(`${run.stdout}${run.stderr}`).toMatch(/is valid/);
    expect(run.status).toBe(0);
  });
});
