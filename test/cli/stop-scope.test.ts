import { CommandError } from '../../cli/args';
import { checkStopScope } from '../../cli/enforcement';

describe('what emergency-stop stops', () => {
  it("refuses to stop an organization's deployment unless --organization says so, naming how to stop one account", () => {
    expect(() => checkStopScope('o-a1b2c3d4e5', false)).toThrow(CommandError);
    expect(() => checkStopScope('o-a1b2c3d4e5', false)).toThrow(/--organization .*group set account-<id>/s);
    expect(() => checkStopScope('o-a1b2c3d4e5', true)).not.toThrow();
  });

  it('refuses --organization on a single account, and stops a single account without it', () => {
    expect(() => checkStopScope(undefined, true)).toThrow(/single account/);
    expect(() => checkStopScope(undefined, false)).not.toThrow();
  });
});
