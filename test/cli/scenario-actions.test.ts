import { parseScenarioAction } from '../../cli/scenario-actions';

describe('a budget set line of a scenario', () => {
  it('takes the limit as budget set and a budgets file do', () => {
    expect(parseScenarioAction({ budgeteer: 'budget set', principal: 'alice', usd: '12.50' })).toEqual({
      action: { budgeteer: 'budget set', principal: 'alice', usd: '12.50' },
    });
  });

  it.each([
    [5, 'usd: write the limit as a quoted decimal string, "5" rather than 5'],
    ['10.1234567', 'usd: a limit has at most 6 decimal places: "10.1234567"'],
    ['-1', 'usd: a limit cannot be negative'],
    [undefined, 'usd: a limit is a decimal amount in USD such as "50" or "12.50", not undefined'],
  ])('refuses usd %p with the reason parseLimitUsd gives', (usd, message) => {
    const parsed = parseScenarioAction({ budgeteer: 'budget set', principal: 'alice', usd });

    expect('error' in parsed && parsed.error).toContain(message);
  });
});
