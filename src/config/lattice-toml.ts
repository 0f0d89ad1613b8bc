// lattice.toml: Lattice's own config file (smol-toml). Its sections are named settings that map onto
// the same flags as the command line ([listeners.grpc] bind is --listen-client-urls, [durability]
// mode is --durability, ...), and its [etcd] table takes every etcd flag under the flag's own name.
// So every value is checked by the flag's own converter, and the file is simply the lowest layer
// of flags > ETCD_* / LATTICE_* variables > file > defaults (config.ts parseConfig). Tenants exist
// only here. Every problem names the file, the line and the key; an unknown key is one.
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError, fileFlags, flagValueFromFile, type FlagValue } from '../server/config.js';
import type { TenantSpec } from '../tenants/tenant-spec.js';
import { tenantsFromToml, type KeyProblem } from './tenants-config.js';
import { keyLines, lineOf } from './toml-lines.js';

export interface LatticeFile {
  readonly path: string;
  /** Flag name → value, for parseConfig's fileValues. */
  readonly flagValues: ReadonlyMap<string, FlagValue>;
  /** Flag name → where the file sets it, to locate a check that fails on the combined values. */
  readonly flagKeys: ReadonlyMap<string, { readonly key: string; readonly line: number | undefined }>;
  readonly tenants: readonly TenantSpec[];
}

/** One problem in the file, located. */
export interface FileProblem {
  readonly line: number | undefined;
  readonly column?: number;
  /** e.g. "listeners.grpc.max_connections"; '' for a syntax error. */
  readonly key: string;
  readonly message: string;
}

/** The file does not parse or does not validate; `problems` lists every one found. */
export class ConfigFileError extends ConfigError {
  constructor(
    readonly path: string,
    readonly problems: readonly FileProblem[],
  ) {
    super('invalid', problems.map((p) => formatProblem(path, p)).join('\n'));
    this.name = 'ConfigFileError';
  }
}

export function formatProblem(path: string, p: FileProblem): string {
  const where = p.line === undefined ? path : p.column === undefined ? `${path}:${p.line}` : `${path}:${p.line}:${p.column}`;
  return p.key === '' ? `${where}: ${p.message}` : `${where}: ${p.key}: ${p.message}`;
}

type Shape = 'string' | 'bool' | 'uint' | 'ms' | 'bind' | 'tlsVersion';

/** A named setting of a section and the flag it sets. */
interface Alias {
  readonly table: string;
  readonly key: string;
  readonly flag: string;
  readonly shape: Shape;
}

export const sectionAliases: readonly Alias[] = [
  { table: 'listeners.grpc', key: 'bind', flag: 'listen-client-urls', shape: 'bind' },
  { table: 'listeners.grpc', key: 'cert_file', flag: 'cert-file', shape: 'string' },
  { table: 'listeners.grpc', key: 'key_file', flag: 'key-file', shape: 'string' },
  { table: 'listeners.grpc', key: 'trusted_ca_file', flag: 'trusted-ca-file', shape: 'string' },
  { table: 'listeners.grpc', key: 'client_cert_auth', flag: 'client-cert-auth', shape: 'bool' },
  { table: 'listeners.grpc', key: 'min_tls_version', flag: 'tls-min-version', shape: 'tlsVersion' },
  { table: 'listeners.grpc', key: 'max_connections', flag: 'max-client-connections', shape: 'uint' },
  { table: 'listeners.grpc', key: 'idle_timeout_ms', flag: 'client-idle-timeout', shape: 'ms' },
  { table: 'durability', key: 'mode', flag: 'durability', shape: 'string' },
  { table: 'durability', key: 'fsync_policy', flag: 'fsync-policy', shape: 'string' },
  { table: 'durability', key: 'fsync_interval_ms', flag: 'fsync-interval', shape: 'ms' },
  { table: 'paths', key: 'data_dir', flag: 'data-dir', shape: 'string' },
  { table: 'paths', key: 'wal_dir', flag: 'wal-dir', shape: 'string' },
  { table: 'telemetry', key: 'metrics_bind', flag: 'listen-metrics-urls', shape: 'bind' },
  { table: 'telemetry', key: 'log_level', flag: 'log-level', shape: 'string' },
];

const sectionTables = ['listeners.grpc', 'durability', 'paths', 'telemetry'] as const;
const topLevelKeys = ['listeners', 'durability', 'paths', 'telemetry', 'tenants', 'etcd'];
const fileFlagNames = new Set(fileFlags.map((f) => f.name));

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Parses and validates a lattice.toml; throws ConfigFileError listing every problem. */
export function parseLatticeToml(path: string, text: string): LatticeFile {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split('\n')[0] ?? e.message;
      throw new ConfigFileError(path, [{ line: e.line, column: e.column, key: '', message: `TOML syntax error: ${first.replace(/^Invalid TOML document: /, '')}` }]);
    }
    throw e;
  }
  const lines = keyLines(text);
  const problems: FileProblem[] = [];
  const flagValues = new Map<string, FlagValue>();
  const setAt = new Map<string, string>();
  const problem = (keyPath: readonly string[], message: string): void => {
    problems.push({ line: lineOf(lines, keyPath), key: keyPath.join('.'), message });
  };
  const set = (flag: string, value: FlagValue, keyPath: readonly string[]): void => {
    const earlier = setAt.get(flag);
    if (earlier !== undefined) {
      problem(keyPath, `sets --${flag}, which ${earlier} (line ${lineOf(lines, earlier.split('.')) ?? '?'}) already sets`);
      return;
    }
    setAt.set(flag, keyPath.join('.'));
    flagValues.set(flag, value);
  };

  for (const key of Object.keys(doc)) {
    if (!topLevelKeys.includes(key)) problem([key], `unknown key (the sections are ${topLevelKeys.map((k) => `[${k}]`).join(', ')})`);
    else if (!isTable(doc[key])) problem([key], 'must be a table');
  }

  const listeners = doc['listeners'];
  if (isTable(listeners)) {
    for (const key of Object.keys(listeners)) if (key !== 'grpc') problem(['listeners', key], 'unknown listener (only [listeners.grpc])');
  }
  const tableAt = (dotted: string): Record<string, unknown> | undefined => {
    let v: unknown = doc;
    for (const part of dotted.split('.')) v = isTable(v) ? v[part] : undefined;
    return isTable(v) ? v : undefined;
  };
  // https for bind when the same file gives the listener a certificate
  const grpc = tableAt('listeners.grpc');
  const etcd = tableAt('etcd');
  const tlsListener = grpc?.['cert_file'] !== undefined || etcd?.['cert-file'] !== undefined || etcd?.['auto-tls'] === true;

  for (const table of sectionTables) {
    const body = tableAt(table);
    if (body === undefined) {
      if (table === 'listeners.grpc' && listeners !== undefined && isTable(listeners) && listeners['grpc'] !== undefined) problem(['listeners', 'grpc'], 'must be a table');
      continue;
    }
    const known = sectionAliases.filter((a) => a.table === table);
    for (const [key, raw] of Object.entries(body)) {
      const keyPath = [...table.split('.'), key];
      const alias = known.find((a) => a.key === key);
      if (alias === undefined) {
        problem(keyPath, `unknown key (known in [${table}]: ${known.map((a) => a.key).join(', ')})`);
        continue;
      }
      if (alias.shape === 'bind' && Array.isArray(raw) && raw.length === 0) {
        set(alias.flag, [], keyPath);
        continue;
      }
      const converted = aliasValue(alias, raw, tlsListener);
      if (!converted.ok) {
        problem(keyPath, converted.detail);
        continue;
      }
      const r = flagValueFromFile(alias.flag, converted.value);
      if (!r.ok) problem(keyPath, r.detail);
      else set(alias.flag, r.value, keyPath);
    }
  }

  if (etcd !== undefined) {
    for (const [key, raw] of Object.entries(etcd)) {
      const keyPath = ['etcd', key];
      if (!fileFlagNames.has(key)) {
        const underscored = key.replace(/_/g, '-');
        problem(keyPath, fileFlagNames.has(underscored) ? `unknown key (etcd flags keep their dashes: ${underscored})` : 'unknown key (not an etcd or Lattice flag)');
        continue;
      }
      // An empty list means "none", which the flag's text form cannot say for URL lists.
      const kind = fileFlags.find((f) => f.name === key)?.kind;
      if (Array.isArray(raw) && raw.length === 0 && (kind === 'urls' || kind === 'strings')) {
        set(key, [], keyPath);
        continue;
      }
      const r = flagValueFromFile(key, raw);
      if (!r.ok) problem(keyPath, r.detail);
      else set(key, r.value, keyPath);
    }
  }

  let tenants: TenantSpec[] = [];
  if (isTable(doc['tenants'])) {
    const parsed = tenantsFromToml(doc['tenants']);
    tenants = parsed.tenants;
    for (const p of parsed.problems as readonly KeyProblem[]) problem(p.path, p.message);
  }

  if (problems.length > 0) {
    problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    throw new ConfigFileError(path, problems);
  }
  const flagKeys = new Map([...setAt].map(([flag, key]) => [flag, { key, line: lineOf(lines, key.split('.')) }]));
  return { path, flagValues, flagKeys, tenants };
}

/** A section value in the form the flag's file converter takes. */
function aliasValue(alias: Alias, raw: unknown, tls: boolean): { ok: true; value: unknown } | { ok: false; detail: string } {
  switch (alias.shape) {
    case 'string':
      return typeof raw === 'string' ? { ok: true, value: raw } : { ok: false, detail: 'must be a string' };
    case 'bool':
      return typeof raw === 'boolean' ? { ok: true, value: raw } : { ok: false, detail: 'must be true or false' };
    case 'uint':
      return typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0 ? { ok: true, value: raw } : { ok: false, detail: 'must be a non-negative integer' };
    case 'ms':
      return typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0 ? { ok: true, value: `${raw}ms` } : { ok: false, detail: 'must be a non-negative integer (milliseconds)' };
    case 'tlsVersion': {
      const v = typeof raw === 'string' ? ({ '1.2': 'TLS1.2', '1.3': 'TLS1.3', 'TLS1.2': 'TLS1.2', 'TLS1.3': 'TLS1.3' } as Record<string, string>)[raw] : undefined;
      return v !== undefined ? { ok: true, value: v } : { ok: false, detail: 'must be "1.2" or "1.3" (or "TLS1.2", "TLS1.3")' };
    }
    case 'bind': {
      const list = typeof raw === 'string' ? [raw] : Array.isArray(raw) && raw.every((x) => typeof x === 'string') ? (raw as string[]) : undefined;
      if (list === undefined || list.length === 0) return { ok: false, detail: 'must be "host:port", a URL, or an array of them' };
      // host:port takes the listener's scheme: https when this file gives it a certificate.
      const scheme = alias.flag === 'listen-client-urls' && tls ? 'https' : 'http';
      return { ok: true, value: list.map((b) => (b.includes('://') ? b : `${scheme}://${b}`)) };
    }
  }
}
