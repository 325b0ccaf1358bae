import { MEMBER_ROLE_PREFIX } from '../../shared/enforcement/organization';
import { DENIED_ACTIONS, denyPolicy } from '../../shared/enforcement/policy';
import { organizationStopPolicy, SCP_MAX_CHARACTERS, ScpSizeError } from '../../shared/enforcement/scp';

const SYSTEM = { systemRolePatterns: [`${MEMBER_ROLE_PREFIX}*`, 'Budgeteer-*'] };
const BREAK_GLASS = ['arn:aws:iam::111122223333:role/ops/BreakGlass', 'arn:aws:iam::444455556666:user/emergency'];

describe('the organization stop (SCP)', () => {
  it('denies exactly the actions the BudgeteerDeny policy denies, bedrock-mantle inference included', () => {
    const scp = organizationStopPolicy({ ...SYSTEM, breakGlassPrincipals: [] });
    const deny = denyPolicy({ kind: 'role', name: 'r' }, [{ holder: 'stop:x' }]);

    expect(scp.Statement[0].Action).toEqual(deny?.Statement[0]?.Action);
    expect(scp.Statement[0].Action).toEqual(expect.arrayContaining(['bedrock-mantle:CreateInference']));
    expect(scp.Statement[0]).toMatchObject({ Effect: 'Deny', Resource: '*' });
  });

  it("exempts every account's root user, the system's roles in every account and each break-glass principal by aws:PrincipalArn", () => {
    const scp = organizationStopPolicy({ ...SYSTEM, breakGlassPrincipals: BREAK_GLASS });

    expect(scp.Statement[0].Condition).toEqual({
      ArnNotLike: {
        'aws:PrincipalArn': [
          'arn:aws:iam::*:role/Budgeteer-*',
          'arn:aws:iam::*:role/BudgeteerMember-*',
          'arn:aws:iam::*:root',
          'arn:aws:iam::111122223333:role/ops/BreakGlass',
          'arn:aws:iam::444455556666:user/emergency',
        ],
      },
    });
  });

  it('names roles in the partition it is given', () => {
    const scp = organizationStopPolicy({ ...SYSTEM, breakGlassPrincipals: [], partition: 'aws-us-gov' });

    expect(scp.Statement[0].Condition.ArnNotLike['aws:PrincipalArn']).toContain(
      'arn:aws-us-gov:iam::*:role/BudgeteerMember-*',
    );
  });

  it('is the same document whatever the order or repeats of its exceptions (attaching it again changes nothing)', () => {
    const once = organizationStopPolicy({ ...SYSTEM, breakGlassPrincipals: BREAK_GLASS });
    const again = organizationStopPolicy({
      systemRolePatterns: [...SYSTEM.systemRolePatterns].reverse(),
      breakGlassPrincipals: [...BREAK_GLASS, ...BREAK_GLASS].reverse(),
    });

    expect(JSON.stringify(again)).toBe(JSON.stringify(once));
  });

  it('fits the SCP limit of 5,120 characters with a realistic break-glass list', () => {
    const breakGlass = Array.from(
      { length: 20 },
      (_, i) => `arn:aws:iam::1111222233${String(i).padStart(2, '0')}:role/BreakGlass`,
    );
    const size = JSON.stringify(organizationStopPolicy({ ...SYSTEM, breakGlassPrincipals: breakGlass })).length;

    expect(size).toBeLessThanOrEqual(SCP_MAX_CHARACTERS);
    expect(DENIED_ACTIONS.length).toBeGreaterThan(0);
  });

  it('refuses a document AWS Organizations would refuse, saying what to do', () => {
    const breakGlass = Array.from({ length: 120 }, (_, i) => `arn:aws:iam::111122223333:user/person-${i}`);

    expect(() => organizationStopPolicy({ ...SYSTEM, breakGlassPrincipals: breakGlass })).toThrow(ScpSizeError);
    expect(() => organizationStopPolicy({ ...SYSTEM, breakGlassPrincipals: breakGlass })).toThrow(
      /over the SCP limit of 5120/,
    );
  });
});
