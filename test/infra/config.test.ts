import { App } from 'aws-cdk-lib';
import { ConfigValidationError, DEFAULT_CONFIG, readConfig } from '../../infra/config';

const configOf = (context: Record<string, unknown>) => readConfig(new App({ context }).node);

describe('deployment configuration', () => {
  it('uses the documented defaults when nothing is set', () => {
    expect(configOf({})).toEqual(DEFAULT_CONFIG);
  });

  it('reads -c values given as strings on the command line', () => {
    const config = configOf({
      defaultBudgetUsd: '12.50',
      thresholds: '[50, 75]',
      enableInvocationLogging: 'true',
      alertEmails: '["finops@example.com"]',
      period: 'daily',
    });
    expect(config).toMatchObject({
      defaultBudgetUsd: '12.50',
      thresholds: [50, 75],
      enableInvocationLogging: true,
      alertEmails: ['finops@example.com'],
      period: 'daily',
    });
  });

  it('reads an organization id and its OUs as -c gives them (ids joined by commas), and names a wrong one', () => {
    expect(
      configOf({ organizationId: 'o-abcdefghij', organizationalUnitIds: 'ou-ab12-cdef3456, r-ab12' }),
    ).toMatchObject({
      organizationId: 'o-abcdefghij',
      organizationalUnitIds: ['ou-ab12-cdef3456', 'r-ab12'],
    });
    expect(() => configOf({ organizationId: '123456789012' })).toThrow(/organizationId: must be an organization id/);
    expect(() => configOf({ organizationalUnitIds: 'ou-ab12-cdef3456' })).toThrow(
      /organizationalUnitIds: .*set organizationId too/,
    );
    expect(() => configOf({ organizationId: 'o-abcdefghij', organizationalUnitIds: 'ou-ab12' })).toThrow(
      /organizationalUnitIds: "ou-ab12" is not an organizational unit id/,
    );
  });

  it("reads the organization stop's targets, management role and account, each only with an organization", () => {
    const organization = { organizationId: 'o-abcdefghij' };
    expect(
      configOf({
        ...organization,
        organizationStopTargets: 'ou-ab12-cdef3456, r-ab12,123456789012',
        organizationManagementRoleArn: 'arn:aws:iam::111111111111:role/ops/BudgeteerScp',
        managementAccountId: '111111111111',
      }),
    ).toMatchObject({
      organizationStopTargets: ['ou-ab12-cdef3456', 'r-ab12', '123456789012'],
      organizationManagementRoleArn: 'arn:aws:iam::111111111111:role/ops/BudgeteerScp',
      managementAccountId: '111111111111',
    });
    expect(configOf(organization)).toMatchObject({
      organizationStopTargets: [],
      organizationManagementRoleArn: '',
      managementAccountId: '',
    });
    // An account id given alone on the command line stays the string of digits it is (a leading 0 included).
    expect(
      configOf({ ...organization, organizationStopTargets: '012345678901', managementAccountId: '011111111111' }),
    ).toMatchObject({ organizationStopTargets: ['012345678901'], managementAccountId: '011111111111' });
    expect(() => configOf({ ...organization, organizationStopTargets: 'o-abcdefghij' })).toThrow(
      /organizationStopTargets: "o-abcdefghij" is not a root id/,
    );
    expect(() => configOf({ ...organization, organizationManagementRoleArn: 'arn:aws:iam::1:user/x' })).toThrow(
      /organizationManagementRoleArn: must be an IAM role ARN/,
    );
    expect(() => configOf({ ...organization, managementAccountId: '1111' })).toThrow(
      /managementAccountId: must be a 12-digit account id/,
    );
    expect(() => configOf({ organizationStopTargets: 'r-ab12', managementAccountId: '111111111111' })).toThrow(
      /organizationStopTargets: .*set organizationId too[\s\S]*managementAccountId: .*set organizationId too/,
    );
  });

  it('reads operationsEmails as a list, one address, or addresses joined by commas, and names a wrong one', () => {
    expect(configOf({}).operationsEmails).toEqual([]);
    expect(configOf({ operationsEmails: ['ops@example.com'] }).operationsEmails).toEqual(['ops@example.com']);
    expect(configOf({ operationsEmails: 'ops@example.com' }).operationsEmails).toEqual(['ops@example.com']);
    expect(configOf({ operationsEmails: 'ops@example.com, oncall@example.com' }).operationsEmails).toEqual([
      'ops@example.com',
      'oncall@example.com',
    ]);
    expect(configOf({ operationsEmails: '["ops@example.com"]' }).operationsEmails).toEqual(['ops@example.com']);
    expect(() => configOf({ operationsEmails: 'ops@example.com,pager' })).toThrow(
      'operationsEmails: "pager" is not an email address',
    );
  });

  it('keeps requireCloudTrailConfirmation off unless set, and takes only true or false', () => {
    expect(configOf({}).requireCloudTrailConfirmation).toBe(false);
    expect(configOf({ requireCloudTrailConfirmation: 'true' }).requireCloudTrailConfirmation).toBe(true);
    expect(() => configOf({ requireCloudTrailConfirmation: 'yes' })).toThrow(
      'requireCloudTrailConfirmation: must be true or false (got "yes")',
    );
  });

  it('reports every invalid setting at once, naming each key', () => {
    let error: unknown;
    try {
      configOf({
        defaultBudgetUsd: '-5',
        thresholds: [90, 80],
        period: 'hourly',
        breakGlassPrincipals: ['admin'],
        logRetentionDays: 42,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigValidationError);
    const { problems } = error as ConfigValidationError;
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/defaultBudgetUsd/);
    expect(problems.join('\n')).toMatch(/thresholds/);
    expect(problems.join('\n')).toMatch(/period/);
    expect(problems.join('\n')).toMatch(/breakGlassPrincipals: "admin"/);
    expect(problems.join('\n')).toMatch(/logRetentionDays/);
  });

  it('enables extra period kinds for per-principal limits, never repeating the deployment kind', () => {
    expect(
      configOf({ period: 'monthly', extraPeriodKinds: '["weekly", "monthly", "weekly"]' }).extraPeriodKinds,
    ).toEqual(['weekly']);
    expect(() => configOf({ extraPeriodKinds: ['hourly'] })).toThrow(/extraPeriodKinds/);
  });

  it('takes total (prepaid grants) as an extra kind only: a deployment whose own period never ended would never renew', () => {
    expect(configOf({ extraPeriodKinds: ['total'] }).extraPeriodKinds).toEqual(['total']);
    expect(() => configOf({ period: 'total' })).toThrow(/period.*monthly, weekly or daily/);
  });

  it('refuses a money amount given as a float-looking JSON number with an exponent', () => {
    expect(() => configOf({ accountBudgetUsd: '1e3' })).toThrow(/accountBudgetUsd/);
  });

  it('reads money as budget set does: decimal strings only, at most 12 digits before the point and 6 after', () => {
    expect(configOf({ defaultBudgetUsd: '999999999999.5', unmeteredCallUsd: '0.000001' })).toMatchObject({
      defaultBudgetUsd: '999999999999.5',
      unmeteredCallUsd: '0.000001',
    });
    let error: unknown;
    try {
      configOf({ defaultBudgetUsd: 50, accountBudgetUsd: '1'.repeat(41), unmeteredCallUsd: '0.1234567' });
    } catch (e) {
      error = e;
    }
    expect((error as ConfigValidationError).problems).toEqual([
      'defaultBudgetUsd: write the limit as a quoted decimal string, "50" rather than 50',
      `accountBudgetUsd: a limit has at most 12 digits before the point: "${'1'.repeat(41)}"`,
      'unmeteredCallUsd: a limit has at most 6 decimal places: "0.1234567"',
    ]);
  });

  it('names each wrong value, inside lists and objects too, all at once', () => {
    let error: unknown;
    try {
      configOf({
        alertEmails: ['finops@example.com', 'not-an-address'],
        tableCapacity: { minRead: 5, maxRead: 100, minWrite: 0, maxWrite: 200 },
        enableInvocationLogging: 'yes',
        identityCenterInstanceArn: 'ins-1',
        suspendGraceSeconds: -1,
        usageRetentionDays: 1.5,
      });
    } catch (e) {
      error = e;
    }
    expect((error as ConfigValidationError).problems).toEqual([
      'alertEmails: "not-an-address" is not an email address',
      'enableInvocationLogging: must be true or false (got "yes")',
      'tableCapacity.minWrite: must be a positive whole number (got 0)',
      'usageRetentionDays: must be a positive whole number (got 1.5)',
      'suspendGraceSeconds: must be a non-negative whole number (got -1)',
      'identityCenterInstanceArn: must be an IAM Identity Center instance ARN, or empty (got "ins-1")',
    ]);
  });

  it('refuses a capacity whose minimum is above its maximum', () => {
    expect(() => configOf({ tableCapacity: { minRead: 50, maxRead: 10, minWrite: 1, maxWrite: 1 } })).toThrow(
      /tableCapacity: must be \{minRead, maxRead, minWrite, maxWrite\} with min <= max/,
    );
  });
});
