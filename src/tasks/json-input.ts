// Reading the task input files (examples, questions): a JSON document or JSON lines, with errors that name
// the file and the line. Portable (text in): the caller reads the file.
//
// Node 20's JSON.parse names no position for most syntax errors, so a JSON document that fails is scanned
// again by `jsonErrorOffset` to find the first offending character.

export interface JsonRow {
  value: unknown;
  /** 1-based line of the row in its file (the line of the element for a JSON array). */
  line: number;
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** Offset of the first syntax error of a JSON text, or -1 when it is valid JSON. */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (w: string) => {
    if (text.startsWith(w, i)) i += w.length;
    else fail();
  };
  const string = () => {
    i++; // opening quote
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 5;
        } else if (text[i] !== undefined && '"\\/bfnrt'.includes(text[i]!)) i++;
        else fail();
      } else if (c.charCodeAt(0) < 0x20) fail();
      else i++;
    }
    fail();
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail();
      }
    } else if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) number();
    else fail();
  };
  try {
    value();
    ws();
    return i < text.length ? i : -1;
  } catch (at) {
    return typeof at === 'number' ? Math.min(at, text.length) : 0;
  }
}

/** Parses a whole JSON document; a syntax error names `file:line:column`. */
export function parseJsonDocument(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const off = jsonErrorOffset(text);
    const { line, column } = lineColumn(text, off < 0 ? 0 : off);
    const near = text.slice(off, off + 20).split('\n')[0];
    throw new Error(`${file}:${line}:${column}: not valid JSON${near ? ` (at ${JSON.stringify(near)})` : ''}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Parses JSON lines (blank lines skipped); a bad line is named `file:line`. */
export function parseJsonLines(text: string, file: string): JsonRow[] {
  const rows: JsonRow[] = [];
  text.split('\n').forEach((raw, n) => {
    const line = raw.trim();
    if (!line) return;
    try {
      rows.push({ value: JSON.parse(line) as unknown, line: n + 1 });
    } catch (e) {
      throw new Error(`${file}:${n + 1}: not a JSON line (${(e as Error).message.split('\n')[0]}); expected one JSON object per line`);
    }
  });
  return rows;
}

/**
 * A JSON document or JSON lines. `.jsonl` files are lines; `.json` a document; otherwise a text whose first
 * non-blank line is a complete JSON value and which has more non-blank lines is read as lines.
 */
export function parseJsonInput(text: string, file: string): { kind: 'document'; value: unknown } | { kind: 'lines'; rows: JsonRow[] } {
  if (/\.jsonl$/i.test(file)) return { kind: 'lines', rows: parseJsonLines(text, file) };
  if (!/\.json$/i.test(file)) {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    let firstIsValue = false;
    try {
      JSON.parse(lines[0] ?? '');
      firstIsValue = true;
    } catch {
      // not a complete value on its own: a document
    }
    if (firstIsValue && lines.length > 1) return { kind: 'lines', rows: parseJsonLines(text, file) };
  }
  return { kind: 'document', value: parseJsonDocument(text, file) };
}

/** Start line (1-based) of each element of a top-level JSON array, for naming rows in errors. */
export function arrayElementLines(text: string): number[] {
  const out: number[] = [];
  let depth = 0;
  let inString = false;
  let line = 1;
  let expectValue = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') continue;
    if (depth === 1 && expectValue && c !== ']') {
      out.push(line);
      expectValue = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1 && c === '[') expectValue = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectValue = true;
  }
  return out;
}
