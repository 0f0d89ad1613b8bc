// etcd's `lease` bucket: key = lease ID as 8 bytes big-endian, value = leasepb.Lease
// { int64 ID = 1; int64 TTL = 2; int64 RemainingTTL = 3; } (lease/leasepb/lease.proto). Encoded by
// hand: three varint fields do not justify generating the package.

export interface EtcdLease {
  readonly id: bigint;
  readonly ttlSeconds: bigint;
  /** 0 unless the lease was checkpointed (etcd 3.4 --experimental-enable-lease-checkpoint). */
  readonly remainingTtlSeconds: bigint;
}

const uint64Mask = (1n << 64n) - 1n;
/** A varint longer than this is damage: int64 needs at most 10 bytes. */
const maxVarintBytes = 10;

function pushVarint(out: number[], value: bigint): void {
  let v = value & uint64Mask; // int64 in two's complement, as protobuf encodes negative int64
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

export function encodeLeaseValue(lease: EtcdLease): Uint8Array {
  const out: number[] = [];
  // proto3 leaves zero fields out, as gogo's marshaller does.
  if (lease.id !== 0n) {
    out.push(0x08);
    pushVarint(out, lease.id);
  }
  if (lease.ttlSeconds !== 0n) {
    out.push(0x10);
    pushVarint(out, lease.ttlSeconds);
  }
  if (lease.remainingTtlSeconds !== 0n) {
    out.push(0x18);
    pushVarint(out, lease.remainingTtlSeconds);
  }
  return Uint8Array.from(out);
}

/** The lease in `bytes`, or undefined when they are not a leasepb.Lease. */
export function decodeLeaseValue(bytes: Uint8Array): EtcdLease | undefined {
  const fields = new Map<number, bigint>();
  for (let at = 0; at < bytes.length; ) {
    const tag = bytes[at++]!;
    const field = tag >> 3;
    if ((tag & 7) !== 0 || field === 0) return undefined; // only varint fields exist in this message
    let value = 0n;
    let shift = 0n;
    for (let n = 0; ; n++) {
      if (n >= maxVarintBytes || at >= bytes.length) return undefined;
      const b = bytes[at++]!;
      value |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) break;
    }
    fields.set(field, BigInt.asIntN(64, value));
  }
  return { id: fields.get(1) ?? 0n, ttlSeconds: fields.get(2) ?? 0n, remainingTtlSeconds: fields.get(3) ?? 0n };
}

export function encodeLeaseKey(id: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigInt64(0, id, false);
  return bytes;
}
