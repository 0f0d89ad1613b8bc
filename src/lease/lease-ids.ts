// Server-chosen lease IDs, as etcd makes them: its idutil.Generator (src/core/id-generator.ts)
// masked to a positive int64, and with bit 62 clear too: IDs with it set are tenants' (src/tenants/
// tenant-lease-ids.ts), so a lease granted without a tenant never lands in a tenant's range. IDs
// from different members differ in the 14 member bits the mask keeps, and restarts start past earlier IDs.
import { IdGenerator } from '../core/id-generator.js';

/** Positive int64 without bit 62 (tenants' lease IDs). */
const untenantedIdMask = (1n << 62n) - 1n;

export class LeaseIdGenerator {
  private readonly ids: IdGenerator;

  constructor(memberId: bigint, nowMs: number) {
    this.ids = new IdGenerator(memberId, nowMs);
  }

  /** Never 0 (etcd's "no lease"), never negative, never a tenant's (bit 62). */
  next(): bigint {
    for (;;) {
      const id = this.ids.next() & untenantedIdMask;
      if (id !== 0n) return id;
    }
  }
}
