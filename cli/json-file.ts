/** An input file that is not the JSON it must be; the message names the file, line and column. */
export class InputFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InputFileError';
  }
}

/** Parses a file that must be one JSON document; a syntax error names `file:line:column` and what was found. */
export function parseJsonFile(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new InputFileError(`${file === '-' ? 'standard input' : file}:${describeJsonError(text)}`, { cause });
  }
}

/**
 * `line:column: not valid JSON: …` for text that JSON.parse refused. Node 20's messages give no position for an
 * unexpected token, so the position is found here, by a scan that stops where the text stops being JSON.
 */
function describeJsonError(text: string): string {
  const at = jsonSyntaxErrorAt(text);
  if (at === undefined) return ' not valid JSON';
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  const found = at >= text.length ? 'the text ends too soon' : `unexpected ${JSON.stringify(text[at])}`;
  return `${line}:${column}: not valid JSON: ${found}`;
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;

/** The offset of the first character at which `text` stops being one JSON document (RFC 8259), if it does. */
export function jsonSyntaxErrorAt(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new JsonStop(i);
  };
  const space = () => {
    while (WHITESPACE.has(text[i] as string)) i++;
  };
  const expect = (char: string) => {
    if (text[i] !== char) fail();
    i++;
  };
  const string = () => {
    expect('"');
    for (;;) {
      const char = text[i];
      if (char === undefined || char < ' ') fail();
      i++;
      if (char === '"') return;
      if (char === '\\') {
        ESCAPE.lastIndex = i - 1;
        if (!ESCAPE.test(text)) fail();
        i = ESCAPE.lastIndex;
      }
    }
  };
  const value = (): void => {
    space();
    const char = text[i];
    if (char === '{' || char === '[') {
      const close = char === '{' ? '}' : ']';
      i++;
      space();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (close === '}') {
          space();
          string();
          space();
          expect(':');
        }
        value();
        space();
        if (text[i] !== ',') {
          expect(close);
          return;
        }
        i++;
      }
    }
    if (char === '"') {
      string();
      return;
    }
    const word = ['true', 'false', 'null'].find((literal) => text.startsWith(literal, i));
    if (word) {
      i += word.length;
      return;
    }
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) fail();
    i = NUMBER.lastIndex;
  };
  try {
    value();
    space();
    return i < text.length ? i : undefined;
  } catch (stop) {
    // A document nested deeper than the stack: no position, the message says only that it is not JSON.
    if (stop instanceof JsonStop) return stop.at;
    return undefined;
  }
}

class JsonStop {
  constructor(readonly at: number) {}
}
