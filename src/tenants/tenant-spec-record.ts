// A tenant spec as JSON (the admin API's stored record and the `--tenants-file` entries): read
// strictly, so a typo in a field or a limit is an error, not a limit silently left out.
import type { TenantLimits, TenantSpec } from './tenant-spec.js';

export const specFields: readonly string[] = ['name', 'prefix', 'users', 'certCommonNames', 'limits', 'generation'];
export const limitFields: readonly (keyof TenantLimits)[] = ['requestsPerSecond', 'bytesPerSecond', 'maxKeys', 'maxBytes', 'leaseTtlMinSeconds', 'leaseTtlMaxSeconds', 'maxWatchers'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** The spec `value` states, or why it does not state one (an unknown field included). */
export function specFromJson(value: unknown): TenantSpec | string {
  if (!isObject(value)) return 'a tenant must be a JSON object';
  const unknown = Object.keys(value).find((k) => !specFields.includes(k));
  if (unknown !== undefined) return `unknown field ${unknown}`;
  const { name, prefix, users, certCommonNames, limits, generation } = value;
  if (typeof name !== 'string' || typeof prefix !== 'string') return 'a tenant needs a string name and prefix';
  if (!isStringList(users) || !isStringList(certCommonNames)) return 'users and certCommonNames must be lists of strings';
  if (!isObject(limits)) return 'limits must be an object';
  if (generation !== undefined && (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0)) return 'generation must be a non-negative integer';
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(limits)) {
    if (!(limitFields as readonly string[]).includes(k)) return `unknown limit ${k}`;
    if (typeof v !== 'number') return `limits.${k} must be a number`;
    out[k] = v;
  }
  return { name, prefix, users: [...users], certCommonNames: [...certCommonNames], limits: out, ...(generation === undefined ? {} : { generation }) };
}

/** A stored spec record as the admin API wrote it; undefined when it does not read as one. */
export function parseStoredSpec(value: Uint8Array): TenantSpec | undefined {
  try {
    const spec = specFromJson(JSON.parse(Buffer.from(value).toString('utf8')));
    return typeof spec === 'string' ? undefined : spec;
  } catch {
    return undefined;
  }
}

/** What differs between two specs of one tenant (their generations aside), for a log line ("limits.maxKeys: 10 / 20"); undefined when nothing does. */
export function specDifference(mine: TenantSpec, theirs: TenantSpec): string | undefined {
  const sorted = (xs: readonly string[]): string => JSON.stringify([...xs].sort());
  const fields: [string, string, string][] = [
    ['prefix', JSON.stringify(mine.prefix), JSON.stringify(theirs.prefix)],
    ['users', sorted(mine.users), sorted(theirs.users)],
    ['certCommonNames', sorted(mine.certCommonNames), sorted(theirs.certCommonNames)],
    ...limitFields.map((f): [string, string, string] => [`limits.${f}`, String(mine.limits[f] ?? 'none'), String(theirs.limits[f] ?? 'none')]),
  ];
  const differing = fields.filter(([, a, b]) => a !== b).map(([f, a, b]) => `${f}: ${a} here, ${b} in the cluster`);
  return differing.length === 0 ? undefined : differing.join('; ');
}

/** The same spec at the same generation: storing it again changes nothing. */
export function sameSpec(a: TenantSpec, b: TenantSpec): boolean {
  return (a.generation ?? 0) === (b.generation ?? 0) && specDifference(a, b) === undefined;
}
