// piscina task: CRC-32C (Castagnoli) of one byte stream, the checksum etcd's HashKV computes with
// Go's crc32.MakeTable(crc32.Castagnoli). Slicing-by-8 (eight bytes per step through eight tables,
// as Go's own software fallback does), a few times faster than a byte per step: Maintenance.Hash
// runs it over every key and value of the store. Pure, so the store's fallback and the unit tests
// call crc32c directly.

/** Castagnoli polynomial, bit-reversed (Go's crc32.Castagnoli). */
const castagnoliReversed = 0x82f63b78;

/** Eight tables of 256 in one array: table k at k * 256 gives the CRC of a byte followed by k zero bytes. */
const tables = ((): Uint32Array => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ castagnoliReversed : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const previous = t[(k - 1) * 256 + n]!;
      t[k * 256 + n] = (previous >>> 8) ^ t[previous & 0xff]!;
    }
  }
  return t;
})();

/**
 * CRC-32C of `bytes`, continuing from `crc` (the result of an earlier call over the preceding bytes,
 * 0 to start), like Go's crc32.Update.
 */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const t = tables;
  let c = ~crc >>> 0;
  let i = 0;
  const blocksEnd = bytes.length - (bytes.length % 8);
  for (; i < blocksEnd; i += 8) {
    const lo = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    const hi = (bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24)) >>> 0;
    c =
      t[7 * 256 + (lo & 0xff)]! ^
      t[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      t[5 * 256 + ((lo >>> 16) & 0xff)]! ^
      t[4 * 256 + (lo >>> 24)]! ^
      t[3 * 256 + (hi & 0xff)]! ^
      t[2 * 256 + ((hi >>> 8) & 0xff)]! ^
      t[256 + ((hi >>> 16) & 0xff)]! ^
      t[hi >>> 24]!;
  }
  for (; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export interface HashKvTask {
  /** The whole stream etcd feeds its hash: bucket name, then each revision key and its value. */
  readonly bytes: ArrayBuffer;
}

export default function hashKvTask(task: HashKvTask): number {
  return crc32c(new Uint8Array(task.bytes));
}
