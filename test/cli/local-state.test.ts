import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localTarget, publishLocalState, withdrawLocalState } from '../../cli/target';

const target = { clientConfig: { endpoint: 'http://127.0.0.1:1', region: 'us-east-1' }, outputs: { A: 'a' } };
const stateFile = () => join(mkdtempSync(join(tmpdir(), 'budgeteer-state-')), '.local', 'stack.json');

describe('the local state file (.local/stack.json)', () => {
  it('is read back as the target the serving run published', () => {
    const file = stateFile();

    publishLocalState(target, 'run-1', file);

    expect(localTarget(file)).toEqual(target);
  });

  it('carries the local admin user’s keys, which --local signs admin requests with', () => {
    const file = stateFile();
    const admin = {
      accessKeyId: 'AKIALOCAL',
      secretAccessKey: 's3cret',
      arn: 'arn:aws:iam::123456789012:user/budgeteer-admin',
    };

    publishLocalState({ ...target, admin }, 'run-1', file);

    expect(localTarget(file).admin).toEqual(admin);
  });

  it('stays when a run that does not own it withdraws, and goes when its owner does', () => {
    const file = stateFile();
    publishLocalState(target, 'serving-run', file);

    withdrawLocalState('other-run', file);
    expect(existsSync(file)).toBe(true);
    withdrawLocalState('serving-run', file);
    expect(existsSync(file)).toBe(false);
  });

  it('belongs to the serving run that published it last', () => {
    const file = stateFile();
    publishLocalState(target, 'first', file);
    publishLocalState({ ...target, outputs: { A: 'second' } }, 'second', file);

    withdrawLocalState('first', file);

    expect(localTarget(file).outputs).toEqual({ A: 'second' });
  });

  it('is refused, naming its pid, when the run that wrote it is gone (killed outright)', () => {
    const file = stateFile();
    publishLocalState(target, 'run-1', file);
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const state = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...state, pid: Number(gone.stdout) }));

    expect(() => localTarget(file)).toThrow(`(pid ${gone.stdout}) is no longer running`);
  });
});
