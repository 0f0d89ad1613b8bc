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

export function prettyJson(text: string): Formatted {
  try {
    return { ok: true, text: JSON.stringify(JSON.parse(text), null, 2) };
  } catch (err) {
    return failed(err);
  }
}

export function compactJson(text: string): Formatted {
  try {
    return { ok: true, text: JSON.stringify(JSON.parse(text)) };
  } catch (err) {
    return failed(err);
  }
}

/** JSON or YAML in, YAML out. */
export function toYaml(text: string): Formatted {
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
