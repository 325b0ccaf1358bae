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

  it('refuses a money amount given as a float-looking JSON number with an exponent', () => {
    expect(() => configOf({ accountBudgetUsd: '1e3' })).toThrow(/accountBudgetUsd/);
  });
});
