import { recordsFromText } from '../../cli/documents';
import { InputFileError, jsonSyntaxErrorAt, parseJsonFile } from '../../cli/json-file';

describe('a JSON file with a syntax error', () => {
  it.each([
    ['{\n "a": 1,\n "b": x\n}', '3:7: not valid JSON: unexpected "x"'],
    ['{\n"a": 1,\n}', '3:1: not valid JSON: unexpected "}"'],
    ['{"a": 1', '1:8: not valid JSON: the text ends too soon'],
    ['{"a": "b\\q"}', '1:10: not valid JSON: unexpected "q"'],
    ['{"a": 01}', '1:8: not valid JSON: unexpected "1"'],
    ['[1, 2] 3', '1:8: not valid JSON: unexpected "3"'],
  ])('is named by file, line and column: %j', (text, where) => {
    expect(() => parseJsonFile(text, 'f.json')).toThrow(InputFileError);
    expect(() => parseJsonFile(text, 'f.json')).toThrow(`f.json:${where}`);
  });

  it('finds no error in what JSON.parse accepts', () => {
    for (const text of ['{}', '[]', ' {"a": [1, -2.5e+3, true, false, null, "\\u00e9\\n"]} ', '"x"', '0']) {
      expect(() => JSON.parse(text)).not.toThrow();
      expect(jsonSyntaxErrorAt(text)).toBeUndefined();
    }
  });

  it('says standard input for -', () => {
    expect(() => parseJsonFile('{', '-')).toThrow('standard input:1:2: not valid JSON');
  });
});

describe('a scenario file', () => {
  it('that is one JSON array with a syntax error is refused whole, with its file and line', () => {
    const text = '[\n  {"schemaType": "ModelInvocationLog"},\n  {"schemaType": "ModelInvocationLog",}\n]\n';

    expect(() => recordsFromText(text, 'month.json')).toThrow('month.json:3:39: not valid JSON: unexpected "}"');
  });

  it('that is one pretty-printed object with a syntax error is refused whole, with its file and line', () => {
    expect(() => recordsFromText('{\n  "schemaType": ModelInvocationLog\n}\n', 'one.json')).toThrow(
      'one.json:2:17: not valid JSON: unexpected "M"',
    );
  });

  it('of JSON lines rejects only the broken line, by its number', () => {
    const records = recordsFromText('{"a": 1}\n{oops\n{"b": 2}\n', 'lines.jsonl');

    expect(records).toEqual([
      // A document that is not a Logs payload goes the EventBridge route, where ingest checks its envelope.
      { line: 1, record: { id: 'line-1', body: { a: 1 }, route: 'eventbridge' } },
      { line: 2, error: 'line is not valid JSON' },
      { line: 3, record: { id: 'line-3', body: { b: 2 }, route: 'eventbridge' } },
    ]);
  });
});
