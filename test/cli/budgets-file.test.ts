import { parseBudgets, parseBudgetsFile, resolveBudgetKey } from '../../cli/budgets-file';
import { InputFileError } from '../../cli/json-file';

describe('a --budgets file', () => {
  it('takes decimal strings, as budget set does', () => {
    expect(
      parseBudgetsFile('{"alice": "5", "role/app": "20.50", "default": "10", "account": "0.000001"}', 'b.json'),
    ).toEqual({
      alice: { usd: '5' },
      'role/app': { usd: '20.5' },
      default: { usd: '10' },
      account: { usd: '0.000001' },
    });
  });

  it('takes groups under one key, each as group set takes it, apart from the principals', () => {
    const raw = {
      alice: '5',
      groups: {
        'data-science': { usd: '10.50', members: ['user/ds-*', 'role/ml'], tag: 'team=data-science', owners: ['x@y'] },
        bots: { usd: '1', tag: 'app=bot' },
      },
    };
    expect(parseBudgets(raw, 'b.json')).toEqual({
      limits: { alice: { usd: '5' } },
      groups: {
        'data-science': { usd: '10.5', members: ['user/ds-*', 'role/ml'], tag: 'team=data-science', owners: ['x@y'] },
        bots: { usd: '1', members: [], tag: 'app=bot', owners: [] },
      },
    });
    // The principals' limits alone, as before.
    expect(parseBudgetsFile(JSON.stringify(raw), 'b.json')).toEqual({ alice: { usd: '5' } });
  });

  it.each([
    [{ groups: [] }, 'b.json: "groups" is an object of group name'],
    [{ groups: { ds: { members: ['user/a'] } } }, 'b.json: group "ds": an object holds "usd"'],
    [{ groups: { ds: { usd: '5', member: ['user/a'] } } }, 'not "member"'],
    [{ groups: { ds: { usd: '5' } } }, 'b.json: group "ds": it has no members nor a tag'],
    [{ groups: { ds: { usd: '5', members: ['alice'] } } }, 'b.json: group "ds": not a member: "alice"'],
    [{ groups: { ds: { usd: '5', tag: 'team' } } }, 'b.json: group "ds": not a tag: "team"'],
    [{ groups: { 'd s': { usd: '5', tag: 'a=b' } } }, 'not a group name: "d s"'],
    [{ groups: { ds: { usd: 5, tag: 'a=b' } } }, 'write the limit as a quoted decimal string'],
  ])('refuses the group entry %j, saying why', (raw, message) => {
    expect(() => parseBudgets(raw, 'b.json')).toThrow(InputFileError);
    expect(() => parseBudgets(raw, 'b.json')).toThrow(message);
  });

  it("takes an organization's budget and each account's, an account's as the group of its principals", () => {
    const file = parseBudgets(
      { organization: '10', 'account:222222222222': '2.50', '222222222222:user/alice': '1' },
      'org.json',
    );

    expect(file.limits).toEqual({ account: { usd: '10' }, '222222222222:user/alice': { usd: '1' } });
    expect(file.groups).toEqual({
      'account-222222222222': { usd: '2.5', members: ['account:222222222222'], owners: [] },
    });
    expect(() => parseBudgets({ 'account:2222': '1' }, 'org.json')).toThrow(/account:<12-digit id>/);
    expect(() => parseBudgets({ account: '10', organization: '10' }, 'org.json')).toThrow(/keep one/);
    expect(() =>
      parseBudgets(
        { 'account:222222222222': '2', groups: { 'account-222222222222': { usd: '3', members: ['user/x'] } } },
        'org.json',
      ),
    ).toThrow(/is the budget of account:222222222222/);
  });

  it('takes an object of the limit and a rate rule for the burn-rate guard', () => {
    const text =
      '{"BedrockAPIKey-leak1": {"usd": "1000", "maxUsdPerHour": "5", "onRate": "suspend", "onAnomaly": "suspend"}, "default": {"usd": "40", "maxUsdPerHour": "10.50"}}';
    expect(parseBudgetsFile(text, 'b.json')).toEqual({
      'BedrockAPIKey-leak1': { usd: '1000', maxUsdPerHour: '5', onRate: 'suspend', onAnomaly: 'suspend' },
      default: { usd: '40', maxUsdPerHour: '10.5' },
    });
  });

  it.each([
    ['{"carol": 1e0}', 'b.json: the limit for carol: write the limit as a quoted decimal string, "1" rather than 1'],
    ['{"carol": 5}', 'write the limit as a quoted decimal string, "5" rather than 5'],
    ['{"carol": "10.123456789012"}', 'the limit for carol: a limit has at most 6 decimal places: "10.123456789012"'],
    [`{"carol": "${'1'.repeat(41)}"}`, 'a limit has at most 12 digits before the point'],
    ['{"carol": "-5"}', 'a limit cannot be negative: "-5"'],
    ['{"carol": "1e3"}', 'plain decimal digits (1000, not 1e3)'],
    ['["carol", "5"]', 'b.json: --budgets must be a JSON object of principal (or name) to USD limit'],
    ['{"carol": {"maxUsdPerHour": "5"}}', 'the limit for carol: an object holds "usd" and may hold'],
    ['{"carol": {"usd": "5", "hourly": "1"}}', 'may hold "maxUsdPerHour", "onRate" and "onAnomaly", not "hourly"'],
    ['{"carol": {"usd": "5", "maxUsdPerHour": 1}}', 'the limit for carol (maxUsdPerHour): write the limit as a quoted'],
    ['{"carol": {"usd": "5", "maxUsdPerHour": "1", "onRate": "stop"}}', 'onRate is "alert" or "suspend"'],
    ['{"carol": {"usd": "5", "onRate": "suspend"}}', 'onRate needs maxUsdPerHour'],
    ['{"carol": {"usd": "5", "onAnomaly": "suspend"}}', 'onAnomaly needs maxUsdPerHour'],
  ])('refuses %s: %s', (text, message) => {
    expect(() => parseBudgetsFile(text, 'b.json')).toThrow(InputFileError);
    expect(() => parseBudgetsFile(text, 'b.json')).toThrow(message);
  });

  it('names the file, line and column of a JSON syntax error', () => {
    const text = '{\n  "alice": "5",\n  "bob": 5 5\n}\n';

    expect(() => parseBudgetsFile(text, 'budgets.json')).toThrow('budgets.json:3:12: not valid JSON: unexpected "5"');
  });
});

describe('a budgets key', () => {
  const principals = ['role/app', 'user/alice', 'user/bob'];

  it('names a principal by id or by the name it ends with, default or account', () => {
    const warn = jest.fn();

    expect(resolveBudgetKey('alice', principals, warn)).toBe('user/alice');
    expect(resolveBudgetKey('role/app', principals, warn)).toBe('role/app');
    expect(resolveBudgetKey('default', principals, warn)).toBe('DEFAULT');
    expect(resolveBudgetKey('account', principals, warn)).toBe('ACCOUNT');
    expect(warn).not.toHaveBeenCalled();
  });

  it('is kept, with a warning, when it is a principal id that no record of the scenario has', () => {
    const warn = jest.fn();

    expect(resolveBudgetKey('user/typo-nobody', principals, warn)).toBe('user/typo-nobody');
    expect(warn).toHaveBeenCalledWith(
      'user/typo-nobody is no principal of the scenario: its limit is set, but nothing in this replay spends against it',
    );
  });

  it('warns on standard error by default', () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      resolveBudgetKey('user/typo-nobody', principals);
      expect(stderr).toHaveBeenCalledWith(
        expect.stringMatching(/^budgeteer: warning: user\/typo-nobody is no principal/),
      );
    } finally {
      stderr.mockRestore();
    }
  });
});
