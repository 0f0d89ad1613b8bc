// lattice.toml's [tenants.<name>] tables → TenantSpec (src/tenants/tenant-spec.ts), validated: the
// tenant module enforces them, this only checks that they are well formed and do not overlap.
import type { TenantLimits, TenantSpec } from '../tenants/tenant-spec.js';
import { tenantNamePattern, tenantsProblem } from '../tenants/tenant-validation.js';

/** A problem with one key, by its path in the document (e.g. ['tenants', 'a', 'prefix']). */
export interface KeyProblem {
  readonly path: readonly string[];
  readonly message: string;
}

/** Limit keys → TenantLimits fields; `integer`: counts and seconds (rates may be fractional). */
const limitKeys: ReadonlyArray<readonly [string, keyof TenantLimits, boolean]> = [
  ['requests_per_second', 'requestsPerSecond', false],
  ['bytes_per_second', 'bytesPerSecond', false],
  ['max_keys', 'maxKeys', true],
  ['max_bytes', 'maxBytes', true],
  ['lease_ttl_min_seconds', 'leaseTtlMinSeconds', true],
  ['lease_ttl_max_seconds', 'leaseTtlMaxSeconds', true],
  ['max_watchers', 'maxWatchers', true],
];
export const tenantKeys: readonly string[] = ['prefix', 'users', 'cert_common_names', 'generation', ...limitKeys.map(([k]) => k)];

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

export function tenantsFromToml(table: unknown): { tenants: TenantSpec[]; problems: KeyProblem[] } {
  const problems: KeyProblem[] = [];
  const tenants: TenantSpec[] = [];
  if (!isTable(table)) return { tenants, problems: [{ path: ['tenants'], message: 'must be a table of [tenants.<name>] tables' }] };
  for (const [name, body] of Object.entries(table)) {
    const at = (...keys: string[]): string[] => ['tenants', name, ...keys];
    if (!tenantNamePattern.test(name)) problems.push({ path: at(), message: `tenant name ${JSON.stringify(name)} must be 1 to 63 of a-z, 0-9 and -` });
    if (!isTable(body)) {
      problems.push({ path: at(), message: 'must be a table' });
      continue;
    }
    for (const key of Object.keys(body)) {
      if (!tenantKeys.includes(key)) problems.push({ path: at(key), message: `unknown key (known: ${tenantKeys.join(', ')})` });
    }
    const prefix = body['prefix'];
    if (prefix === undefined) problems.push({ path: at(), message: 'prefix is required' });
    else if (typeof prefix !== 'string' || prefix === '') problems.push({ path: at('prefix'), message: 'must be a non-empty string' });
    const strings = (key: string): string[] => {
      const v = body[key];
      if (v === undefined) return [];
      if (Array.isArray(v) && v.every((x): x is string => typeof x === 'string' && x !== '')) return v;
      problems.push({ path: at(key), message: 'must be an array of non-empty strings' });
      return [];
    };
    const users = strings('users');
    const certCommonNames = strings('cert_common_names');
    const limits: Record<string, number> = {};
    for (const [key, field, integer] of limitKeys) {
      const v = body[key];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
        problems.push({ path: at(key), message: `must be a positive ${integer ? 'integer' : 'number'}` });
        continue;
      }
      limits[field] = v;
    }
    const min = limits['leaseTtlMinSeconds'];
    const max = limits['leaseTtlMaxSeconds'];
    if (min !== undefined && max !== undefined && min > max) {
      problems.push({ path: at('lease_ttl_min_seconds'), message: `is above lease_ttl_max_seconds (${min} > ${max})` });
    }
    // raised with every change of the tenant, so a member with an older file never rolls the cluster back
    const generation = body['generation'];
    if (generation !== undefined && (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0)) {
      problems.push({ path: at('generation'), message: 'must be a non-negative integer' });
    }
    const gen = typeof generation === 'number' && Number.isSafeInteger(generation) && generation >= 0 ? { generation } : {};
    tenants.push({ name, prefix: typeof prefix === 'string' ? prefix : '', users, certCommonNames, limits: limits as TenantLimits, ...gen });
  }
  problems.push(...overlaps(tenants));
  // The tenant module's own rules too (its reserved prefix, lease ID ranges that must differ).
  const engineProblem = problems.length === 0 ? tenantsProblem(tenants) : undefined;
  if (engineProblem !== undefined) problems.push({ path: ['tenants'], message: engineProblem });
  return { tenants, problems };
}

/** No prefix inside another tenant's; a user or certificate CN bound to one tenant only. */
function overlaps(tenants: readonly TenantSpec[]): KeyProblem[] {
  const problems: KeyProblem[] = [];
  for (const a of tenants) {
    for (const b of tenants) {
      if (a === b || a.prefix === '' || b.prefix === '') continue;
      // Equal prefixes are reported once, from the first of the two.
      if (b.prefix.startsWith(a.prefix) && (a.prefix !== b.prefix || tenants.indexOf(a) < tenants.indexOf(b))) {
        problems.push({ path: ['tenants', b.name, 'prefix'], message: `${JSON.stringify(b.prefix)} lies inside tenant ${JSON.stringify(a.name)}'s prefix ${JSON.stringify(a.prefix)}` });
      }
    }
  }
  for (const [key, of] of [
    ['users', (t: TenantSpec) => t.users],
    ['cert_common_names', (t: TenantSpec) => t.certCommonNames],
  ] as const) {
    const owner = new Map<string, string>();
    for (const t of tenants) {
      for (const id of of(t)) {
        const first = owner.get(id);
        if (first !== undefined && first !== t.name) problems.push({ path: ['tenants', t.name, key], message: `${JSON.stringify(id)} already belongs to tenant ${JSON.stringify(first)}` });
        else owner.set(id, t.name);
      }
    }
  }
  return problems;
}
