// `--tenants-file <json>`: a JSON list of TenantSpec, for running tenants before the TOML config file
// (which fills ServerConfig.tenants from `[tenants.<name>]`) exists, and for tests. Lattice-only.
// Unknown fields are refused, as the admin API refuses them: a misspelt limit would be no limit.
import type { TenantSpec } from './tenant-spec.js';
import { specFromJson } from './tenant-spec-record.js';
import { tenantsProblem } from './tenant-validation.js';

/** The tenants in `text` (a JSON array of specs); throws an Error naming the problem. */
export function parseTenantsJson(text: string, source: string): TenantSpec[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: invalid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value)) throw new Error(`${source}: expected a JSON array of tenants`);
  const specs = value.map((v, i) => {
    const spec = specFromJson(typeof v === 'object' && v !== null && !Array.isArray(v) ? { users: [], certCommonNames: [], limits: {}, ...v } : v);
    if (typeof spec === 'string') throw new Error(`${source}: tenant ${i}: ${spec}`);
    return spec;
  });
  const problem = tenantsProblem(specs);
  if (problem !== undefined) throw new Error(`${source}: ${problem}`);
  return specs;
}
