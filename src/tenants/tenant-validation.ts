// The rules a set of tenants must keep: names as tenant-spec.ts states them, prefixes that do not
// nest (a key belongs to at most one tenant) and stay clear of the tenant specs' own keys, each user
// and certificate name bound at most once, and lease ID ranges (tenant-lease-ids.ts) that differ.
import { leaseTagOf } from './tenant-lease-ids.js';
import { prefixesOverlap } from './tenant-keys.js';
import type { TenantSpec } from './tenant-spec.js';
import { limitFields } from './tenant-spec-record.js';

export const tenantNamePattern = /^[a-z0-9-]{1,63}$/;

/** Where tenants made through the admin API are kept in the store (a reserved prefix, see docs/tenants.md). */
export const tenantSpecKeyPrefix = '\u0000lattice/tenants/';

/** Why one spec is malformed on its own; undefined when it is fine. */
export function specProblem(spec: TenantSpec): string | undefined {
  if (!tenantNamePattern.test(spec.name)) return `tenant name ${JSON.stringify(spec.name)} must match [a-z0-9-]{1,63}`;
  if (spec.prefix.length === 0) return `tenant ${spec.name}: prefix may not be empty`;
  if (prefixesOverlap(spec.prefix, tenantSpecKeyPrefix)) return `tenant ${spec.name}: prefix overlaps the reserved ${JSON.stringify(tenantSpecKeyPrefix)}`;
  for (const field of limitFields) {
    const v = spec.limits[field];
    if (v !== undefined && (!Number.isFinite(v) || v < 0 || (field !== 'requestsPerSecond' && field !== 'bytesPerSecond' && !Number.isInteger(v)))) {
      return `tenant ${spec.name}: limits.${field} must be a non-negative ${field.endsWith('Second') ? 'number' : 'integer'}`;
    }
  }
  if (spec.generation !== undefined && (!Number.isSafeInteger(spec.generation) || spec.generation < 0)) return `tenant ${spec.name}: generation must be a non-negative integer`;
  const { leaseTtlMinSeconds: min, leaseTtlMaxSeconds: max } = spec.limits;
  if (min !== undefined && max !== undefined && min > max) return `tenant ${spec.name}: leaseTtlMinSeconds is above leaseTtlMaxSeconds`;
  return undefined;
}

/** Why the set cannot be served together; undefined when it can. */
export function tenantsProblem(specs: readonly TenantSpec[]): string | undefined {
  for (const s of specs) {
    const p = specProblem(s);
    if (p !== undefined) return p;
  }
  for (let i = 0; i < specs.length; i++) {
    for (let j = i + 1; j < specs.length; j++) {
      const a = specs[i]!;
      const b = specs[j]!;
      if (a.name === b.name) return `tenant ${a.name} is defined twice`;
      if (prefixesOverlap(a.prefix, b.prefix)) return `tenants ${a.name} and ${b.name} have nested prefixes ${JSON.stringify(a.prefix)} and ${JSON.stringify(b.prefix)}`;
      const user = a.users.find((u) => b.users.includes(u));
      if (user !== undefined) return `user ${user} is bound to tenants ${a.name} and ${b.name}`;
      const cn = a.certCommonNames.find((c) => b.certCommonNames.includes(c));
      if (cn !== undefined) return `certificate name ${cn} is bound to tenants ${a.name} and ${b.name}`;
      if (leaseTagOf(a.name) === leaseTagOf(b.name)) return `tenants ${a.name} and ${b.name} share a lease ID range; rename one`;
    }
  }
  return undefined;
}
