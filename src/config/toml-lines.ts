// Where a key is written in a TOML text, so a value that parses but does not validate can be
// reported with its line (the parser only locates syntax errors). A line scanner, not a parser: it
// knows table headers, `key =` lines (dotted keys too) and skips comments and multi-line values.

/** Key paths joined with '.', as the parsed document nests them → 1-based line of their first mention. */
export type KeyLines = ReadonlyMap<string, number>;

const bareOrQuoted = String.raw`(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')`;
const dotted = String.raw`${bareOrQuoted}(?:\s*\.\s*${bareOrQuoted})*`;
const headerPattern = new RegExp(String.raw`^\s*\[\[?\s*(${dotted})\s*\]\]?\s*(?:#.*)?$`);
const keyPattern = new RegExp(String.raw`^\s*(${dotted})\s*=`);
const partPattern = new RegExp(bareOrQuoted, 'g');

function splitKey(text: string): string[] {
  return [...text.matchAll(partPattern)].map((m) => {
    const p = m[0];
    if (p.startsWith('"')) return JSON.parse(p) as string;
    if (p.startsWith("'")) return p.slice(1, -1);
    return p;
  });
}

export function keyLines(text: string): KeyLines {
  const lines = new Map<string, number>();
  let table: string[] = [];
  // Inside a multi-line string or array no line starts a key.
  let openTripleQuote: string | undefined;
  let bracketDepth = 0;
  const note = (path: string[], line: number): void => {
    for (let i = 1; i <= path.length; i++) {
      const key = path.slice(0, i).join('.');
      if (!lines.has(key)) lines.set(key, line);
    }
  };
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (openTripleQuote !== undefined) {
      if (raw.includes(openTripleQuote)) openTripleQuote = undefined;
      return;
    }
    if (bracketDepth > 0) {
      bracketDepth += depthChange(raw);
      return;
    }
    const header = headerPattern.exec(raw);
    if (header !== null) {
      table = splitKey(header[1] ?? '');
      note(table, line);
      return;
    }
    const key = keyPattern.exec(raw);
    if (key === null) return;
    note([...table, ...splitKey(key[1] ?? '')], line);
    const value = raw.slice(key[0].length);
    const triple = /"""|'''/.exec(value);
    if (triple !== null && value.split(triple[0]).length === 2) openTripleQuote = triple[0];
    else bracketDepth = Math.max(0, depthChange(value));
  });
  return lines;
}

/** Net '[' minus ']' outside strings and comments. */
function depthChange(s: string): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote !== undefined) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') break;
    else if (c === '[') depth++;
    else if (c === ']') depth--;
  }
  return depth;
}

/** The line of path or, failing that, of its nearest mentioned parent. */
export function lineOf(lines: KeyLines, path: readonly string[]): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const line = lines.get(path.slice(0, n).join('.'));
    if (line !== undefined) return line;
  }
  return undefined;
}
