// Server-chosen lease IDs, as etcd's idutil.Generator makes them: the member ID's low 16 bits, then
// 40 bits of the start time in milliseconds and an 8-bit counter that carries into them, masked to a
// positive int64. IDs from different members never collide, and restarts start past earlier IDs.

const suffixBits = 48n;
const counterBits = 8n;
const timestampBits = 40n;
const lowBits = (n: bigint, bits: bigint): bigint => n & ((1n << bits) - 1n);

export class LeaseIdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  constructor(memberId: bigint, nowMs: number) {
    this.prefix = lowBits(memberId, 16n) << suffixBits;
    this.suffix = lowBits(BigInt(Math.floor(nowMs)), timestampBits) << counterBits;
  }

  /** Never 0 (etcd's "no lease") and never negative. */
  next(): bigint {
    for (;;) {
      this.suffix++;
      const id = lowBits(this.prefix | lowBits(this.suffix, suffixBits), 63n);
      if (id !== 0n) return id;
    }
  }
}
