import { readFileSync } from 'node:fs';
import { expandDocument, PayloadError, type RawRecord } from '../shared/events/parse';
import { parseJsonFile } from './json-file';

/** One record of an input file, or why a part of the file could not be read. */
export type InputRecord =
  | { readonly line: number; readonly record: RawRecord }
  | { readonly line: number; readonly error: string };

export function readInput(file: string): string {
  return readFileSync(file === '-' ? 0 : file, 'utf8');
}

/**
 * A text that is not one JSON document is read as JSON lines, unless it reads as one broken document: it starts
 * with `[`, or none of its lines is a JSON object on its own (a pretty-printed object). That document's syntax
 * error is the file's, with its line; a broken line of JSON lines is that line's own error.
 */
function brokenDocument(text: string): boolean {
  const start = text.trimStart();
  if (start.startsWith('[')) return true;
  return start.startsWith('{') && !start.split(/\r?\n/).some(isJsonObject);
}

function isJsonObject(line: string): boolean {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/**
 * Accepts a JSON document, a JSON array of documents, or JSON lines. Each document may be an EventBridge CloudTrail
 * event, an invocation log record, or a CloudWatch Logs subscription payload (which yields one record per log event).
 * `line` is the 1-based line (JSON lines) or array position the record came from.
 */
export function recordsFromText(text: string, file = '-'): InputRecord[] {
  const documents: { line: number; document?: unknown; error?: string }[] = [];
  let whole: unknown;
  let parsedWhole = false;
  try {
    whole = JSON.parse(text);
    parsedWhole = true;
  } catch {
    // Not a single JSON document: read it as JSON lines, unless it is one document with a syntax error.
    if (brokenDocument(text)) parseJsonFile(text, file);
  }
  if (parsedWhole) {
    const list = Array.isArray(whole) ? whole : [whole];
    list.forEach((document, index) => {
      documents.push({ line: index + 1, document });
    });
  } else {
    text.split(/\r?\n/).forEach((raw, index) => {
      if (raw.trim() === '') return;
      try {
        documents.push({ line: index + 1, document: JSON.parse(raw) });
      } catch {
        documents.push({ line: index + 1, error: 'line is not valid JSON' });
      }
    });
  }
  const out: InputRecord[] = [];
  for (const { line, document, error } of documents) {
    if (error !== undefined) {
      out.push({ line, error });
      continue;
    }
    try {
      for (const record of expandDocument(document, `line-${line}`)) out.push({ line, record });
    } catch (failure) {
      if (!(failure instanceof PayloadError)) throw failure;
      out.push({ line, error: failure.message });
    }
  }
  return out;
}
