import { readFileSync } from 'node:fs';
import { expandDocument, PayloadError, type RawRecord } from '../shared/events/parse';

/** One record of an input file, or why a part of the file could not be read. */
export type InputRecord =
  | { readonly line: number; readonly record: RawRecord }
  | { readonly line: number; readonly error: string };

export function readInput(file: string): string {
  return readFileSync(file === '-' ? 0 : file, 'utf8');
}

/**
 * Accepts a JSON document, a JSON array of documents, or JSON lines. Each document may be an EventBridge CloudTrail
 * event, an invocation log record, or a CloudWatch Logs subscription payload (which yields one record per log event).
 * `line` is the 1-based line (JSON lines) or array position the record came from.
 */
export function recordsFromText(text: string): InputRecord[] {
  const documents: { line: number; document?: unknown; error?: string }[] = [];
  let whole: unknown;
  let parsedWhole = false;
  try {
    whole = JSON.parse(text);
    parsedWhole = true;
  } catch {
    // Not a single JSON document: read it as JSON lines.
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
