// What defines a tenant, as the config file's `[tenants.<name>]` tables and the tenant admin API
// state it: a key-space prefix, who belongs to it, and the limits it runs under. Shared by the
// config loader (which parses and validates it) and the tenant module (which enforces it).

export interface TenantLimits {
  /** Requests per second (token bucket; burst = one second's worth). Undefined: unlimited. */
  readonly requestsPerSecond?: number;
  /** Request bytes per second (token bucket; burst = one second's worth). Undefined: unlimited. */
  readonly bytesPerSecond?: number;
  /** Keys stored under the prefix. */
  readonly maxKeys?: number;
  /** Bytes (keys + values) stored under the prefix. */
  readonly maxBytes?: number;
  /** Lease TTL bounds in seconds: a grant below the minimum is raised to it, above the maximum refused. */
  readonly leaseTtlMinSeconds?: number;
  readonly leaseTtlMaxSeconds?: number;
  /** Open watchers at once. */
  readonly maxWatchers?: number;
}

export interface TenantSpec {
  /** [a-z0-9-]{1,63} */
  readonly name: string;
  /** The key prefix the tenant's keys live under, e.g. "/tenants/a/"; invisible to its clients. */
  readonly prefix: string;
  /** Auth user names bound to the tenant. */
  readonly users: readonly string[];
  /** Client certificate common names bound to the tenant (mTLS without a token). */
  readonly certCommonNames: readonly string[];
  readonly limits: TenantLimits;
  /**
   * Which edition of a configured tenant this is (a non-negative integer; absent counts as 0). The
   * seed (tenant-config-seed.ts) proposes a configured spec only over a stored one of a lower
   * generation, so a member restarted with a stale file never rolls the cluster back.
   */
  readonly generation?: number;
}
