import { ListUserPoliciesCommand } from '@aws-sdk/client-iam';
import { MANAGEMENT_ACCOUNT_ID, MEMBER_ACCOUNT_IDS } from '../../local/organization';
import { LocalStack } from '../../local/stack';
import { invocationLog } from '../fixtures';

jest.setTimeout(180_000);

const [ALPHA] = MEMBER_ACCOUNT_IDS;

/** Opus 3, 100,000 tokens in and 100 out: about $1.51 a call, past the organization's $1 at the first. */
const expensiveCall = (requestId: string, account: string, user: string) =>
  invocationLog(requestId, `arn:aws:iam::${account}:user/${user}`, {
    accountId: account,
    timestamp: new Date().toISOString(),
    modelId: 'anthropic.claude-3-opus-20240229-v1:0',
    input: { inputContentType: 'application/json', inputTokenCount: 100_000 },
  });

// The local organization wired as the deployed one: members' logs through the Kinesis path, the suspend function's
// organization stop through the management account's role and the members' enforcement roles.
describe('local organization: the organization stop', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await LocalStack.start({ organization: true, context: { accountBudgetUsd: '1' } });
  });

  afterAll(() => stack?.stop());

  it("attaches the SCP to the OU through the management role and denies the management account's principal by policy", async () => {
    const org = stack.organization;
    if (!org) throw new Error('no organization');
    await org.createPrincipals(ALPHA, ['user/local-stop-member']);
    await org.createPrincipals(MANAGEMENT_ACCOUNT_ID, ['user/local-stop-finance']);
    await org.deliverInvocationLogs(ALPHA, [expensiveCall('local-stop-1', ALPHA, 'local-stop-member')]);
    await org.deliverInvocationLogs(MANAGEMENT_ACCOUNT_ID, [
      expensiveCall('local-stop-2', MANAGEMENT_ACCOUNT_ID, 'local-stop-finance'),
    ]);
    await stack.settle(120_000);

    expect(await org.scpAttachments()).toEqual([
      {
        policyId: expect.stringMatching(/^p-/),
        name: 'BudgeteerOrganizationStop',
        targets: [{ targetId: org.workloadsOuId, type: 'ORGANIZATIONAL_UNIT', name: 'workloads' }],
      },
    ]);
    const policiesOf = async (account: string, user: string) => {
      const iam = org.iam(account);
      try {
        return (await iam.send(new ListUserPoliciesCommand({ UserName: user }))).PolicyNames;
      } finally {
        iam.destroy();
      }
    };
    // SCPs never apply to the management account: its principal is denied through its own member role.
    expect(await policiesOf(MANAGEMENT_ACCOUNT_ID, 'local-stop-finance')).toEqual(['BudgeteerDeny']);
    // The member account is under the SCP: no per-principal deny there.
    expect(await policiesOf(ALPHA, 'local-stop-member')).toEqual([]);
  });
});
