// Server-chosen lease IDs, as etcd makes them: its idutil.Generator (src/core/id-generator.ts)
// masked to a positive int64. IDs from different members never collide, and restarts start past
// earlier IDs.
import { IdGenerator } from '../core/id-generator.js';

const positiveInt64Mask = (1n << 63n) - 1n;

export class LeaseIdGenerator {
  private readonly ids: IdGenerator;

  constructor(memberId: bigint, nowMs: number) {
    this.ids = new IdGenerator(memberId, nowMs);
  }

  /** Never 0 (etcd's "no lease") and never negative. */
  next(): bigint {
    for (;;) {
      const id = this.ids.next() & positiveInt64Mask;
      if (id !== 0n) return id;
    }
  }
}
