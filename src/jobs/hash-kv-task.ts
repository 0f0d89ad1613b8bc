// piscina task: CRC-32C (Castagnoli) of one byte stream, the checksum etcd's HashKV computes with
// Go's crc32.MakeTable(crc32.Castagnoli). Table-driven, one byte per step; pure, so the store's
// fallback and the unit tests call crc32c directly.

/** Castagnoli polynomial, bit-reversed (Go's crc32.Castagnoli). */
const castagnoliReversed = 0x82f63b78;

const table = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ castagnoliReversed : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32C of `bytes`, continuing from `crc` (the result of an earlier call over the preceding bytes,
 * 0 to start), like Go's crc32.Update.
 */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export interface HashKvTask {
  /** The whole stream etcd feeds its hash: bucket name, then each revision key and its value. */
  readonly bytes: ArrayBuffer;
}

export default function hashKvTask(task: HashKvTask): number {
  return crc32c(new Uint8Array(task.bytes));
}
