// `lattice config print`: the effective configuration as a lattice.toml, which parses back to the
// same configuration (every flag, the sections' named settings, the tenants).
import { fileFlags, type FlagValue, type ServerConfig } from '../server/config.js';
import type { TenantSpec } from '../tenants/tenant-spec.js';
import { sectionAliases } from './lattice-toml.js';

/** A TOML value: JSON's string escapes are all valid in TOML basic strings. */
function tomlValue(v: FlagValue): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
}

const durationText = (ms: number): string => `${ms}ms`;

export function effectiveToml(cfg: ServerConfig, values: ReadonlyMap<string, FlagValue>, source: string | undefined): string {
  const value = (flag: string): FlagValue => {
    if (flag === 'data-dir') return cfg.dataDir;
    // What the member runs with: --unsafe-no-fsync turns the policy to "never" whatever was asked.
    if (flag === 'fsync-policy') return cfg.fsyncPolicy;
    // The tenants are printed as [tenants.*] tables: naming the file they came from as well would give them twice.
    if (flag === 'tenants-file' && cfg.tenants.length > 0) return '';
    return values.get(flag) ?? '';
  };
  const out: string[] = [
    '# Effective Lattice configuration: flags > ETCD_*/LATTICE_* environment variables > config file > defaults.',
    `# Config file: ${source ?? '(none)'}`,
  ];
  let table = '';
  for (const a of sectionAliases) {
    if (a.table !== table) {
      table = a.table;
      out.push('', `[${table}]`);
    }
    const v = value(a.flag);
    let text: string;
    switch (a.shape) {
      case 'ms':
        text = String(Number(v));
        break;
      case 'tlsVersion':
        text = JSON.stringify(v === 'TLS1.3' ? '1.3' : '1.2');
        break;
      default:
        text = tomlValue(v);
    }
    out.push(`${a.key} = ${text}`);
  }
  for (const t of cfg.tenants) out.push('', ...tenantLines(t));
  const aliased = new Set(sectionAliases.map((a) => a.flag));
  out.push('', '# Every other flag, under its own name. "(ignored)": accepted for etcd compatibility, not implemented.', '[etcd]');
  for (const f of fileFlags) {
    if (aliased.has(f.name)) continue;
    const v = value(f.name);
    const text = f.kind === 'duration' ? JSON.stringify(durationText(Number(v))) : tomlValue(v);
    // An ignored flag left at its default stays a comment: setting it can still conflict (--log-output).
    const line = `${f.name} = ${text}`;
    if (f.support === 'yes') out.push(line);
    else out.push(tomlValue(f.def) === tomlValue(v) ? `# ${line} (ignored)` : `${line} # (ignored)`);
  }
  return out.join('\n') + '\n';
}

function tenantLines(t: TenantSpec): string[] {
  const lines = [`[tenants.${t.name}]`, `prefix = ${JSON.stringify(t.prefix)}`, `users = ${tomlValue(t.users)}`, `cert_common_names = ${tomlValue(t.certCommonNames)}`];
  if (t.generation !== undefined) lines.push(`generation = ${t.generation}`);
  const l = t.limits;
  const limits: Array<[string, number | undefined]> = [
    ['requests_per_second', l.requestsPerSecond],
    ['bytes_per_second', l.bytesPerSecond],
    ['max_keys', l.maxKeys],
    ['max_bytes', l.maxBytes],
    ['lease_ttl_min_seconds', l.leaseTtlMinSeconds],
    ['lease_ttl_max_seconds', l.leaseTtlMaxSeconds],
    ['max_watchers', l.maxWatchers],
  ];
  for (const [k, v] of limits) if (v !== undefined) lines.push(`${k} = ${v}`);
  return lines;
}
