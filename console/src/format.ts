// JSON and YAML views of a text value. Formatting only changes the editor's text; what is saved is
// what the editor holds.
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

export type TextKind = 'json' | 'yaml' | 'text';

export function detectKind(text: string): TextKind {
  const t = text.trim();
  if (t === '') return 'text';
  try {
    JSON.parse(t);
    return 'json';
  } catch {
    // not JSON
  }
  // plain words parse as a YAML string; only a mapping or a list is worth calling YAML
  try {
    const v: unknown = parseYaml(t);
    if (typeof v === 'object' && v !== null) return 'yaml';
  } catch {
    // not YAML either
  }
  return 'text';
}

export type Formatted = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly error: string };

const failed = (err: unknown): Formatted => ({ ok: false, error: err instanceof Error ? err.message.split('\n')[0] ?? 'invalid' : String(err) });

/** JSON text's tokens, strings compared by value: only whitespace may differ between two forms of one value. */
function jsonTokens(text: string): string[] {
  const tokens: string[] = [];
  for (const m of text.matchAll(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|[{}[\]:,]/g)) {
    tokens.push(m[0].startsWith('"') ? JSON.stringify(JSON.parse(m[0])) : m[0]);
  }
  return tokens;
}

const sameTokens = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((t, i) => t === b[i]);

/**
 * JSON.parse rounds integers past 2^53, writes 1.0 as 1 and keeps only the last of repeated keys:
 * formatting such a value would change what is saved, so it is refused instead.
 */
const lossyJson: Formatted = { ok: false, error: 'formatting would change this value (a number JavaScript cannot hold exactly, or a repeated key); edit it as text' };

function reformatJson(text: string, indent: number | undefined): Formatted {
  try {
    const out = JSON.stringify(JSON.parse(text), null, indent);
    return sameTokens(jsonTokens(text), jsonTokens(out)) ? { ok: true, text: out } : lossyJson;
  } catch (err) {
    return failed(err);
  }
}

export const prettyJson = (text: string): Formatted => reformatJson(text, 2);

export const compactJson = (text: string): Formatted => reformatJson(text, undefined);

/** JSON or YAML in, YAML out. */
export function toYaml(text: string): Formatted {
  if (detectKind(text) === 'json' && !reformatJson(text, undefined).ok) return lossyJson;
  try {
    return { ok: true, text: stringifyYaml(parseYaml(text)) };
  } catch (err) {
    return failed(err);
  }
}

/** YAML (or JSON, a subset) in, pretty JSON out. */
export function yamlToJson(text: string): Formatted {
  try {
    return { ok: true, text: JSON.stringify(parseYaml(text), null, 2) };
  } catch (err) {
    return failed(err);
  }
}
