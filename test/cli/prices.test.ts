import { parsePricesFile } from '../../cli/prices';

describe('a prices file (prices set --from, local --prices)', () => {
  it('reads a list of models with prices as decimal strings and an optional effectiveFrom', () => {
    const text = JSON.stringify([
      {
        model: 'anthropic.claude-3-haiku-20240307-v1:0',
        input: '0.2',
        output: '1',
        effectiveFrom: '2026-12-01T00:00:00Z',
      },
      { model: 'amazon.nova-pro-v1:0', cacheRead: '0.1' },
    ]);
    expect(parsePricesFile(text, 'p.json')).toEqual([
      {
        model: 'anthropic.claude-3-haiku-20240307-v1:0',
        input: '0.2',
        output: '1',
        effectiveFrom: '2026-12-01T00:00:00Z',
      },
      { model: 'amazon.nova-pro-v1:0', cacheRead: '0.1' },
    ]);
  });

  it.each([
    [[{ model: 'm', input: 0.2 }], /p\.json: 0\.input: /],
    [[{ model: 'm' }], /sets at least one price/],
    [[{ model: 'm', input: '1', effectiveFrom: 'tomorrow' }], /effectiveFrom/],
    [[{ model: 'm', input: '1', discount: '5' }], /discount|unrecognized/i],
    [{ model: 'm', input: '1' }, /expected array/],
    [[], /p\.json/],
  ])('refuses %j, naming the file and the field', (content, why) => {
    expect(() => parsePricesFile(JSON.stringify(content), 'p.json')).toThrow(why);
  });
});
