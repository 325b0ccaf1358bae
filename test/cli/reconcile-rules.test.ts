import { identityRulesOf } from '../../cli/reconcile';

const target = (outputs: Record<string, string>) => ({ clientConfig: {}, outputs });

describe('reconcile names a bill as the deployment names principals', () => {
  it("reads the deployment's per-session role patterns from its PerSessionRoles output", () => {
    expect(identityRulesOf(target({ PerSessionRoles: '["AWSReservedSSO_*","ci-runner-*"]' }))).toEqual({
      perSessionRoles: ['AWSReservedSSO_*', 'ci-runner-*'],
    });
  });

  it('takes the default for a stack from before the output, and refuses an output that is no list of patterns', () => {
    expect(identityRulesOf(target({}))).toEqual({ perSessionRoles: ['AWSReservedSSO_*'] });
    expect(() => identityRulesOf(target({ PerSessionRoles: '{"a":1}' }))).toThrow(
      'the stack output PerSessionRoles is not a JSON list of role name patterns',
    );
  });
});
