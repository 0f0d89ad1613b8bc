// Inside the store a key is a latin1 string: one char per byte, so JS string order is bytewise order
// and keys can index Maps and B-trees directly. Conversion happens once at the edges of the store.

export type Key = string;

export const toKey = (bytes: Uint8Array): Key =>
  // a Buffer (nearly every request's key) needs no view of its own
  (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('latin1');
export const keyBytes = (key: Key): Buffer => Buffer.from(key, 'latin1');

/** etcd's range_end conventions: empty = the single key, "\0" = every key >= key. */
export type KeyRange =
  | { readonly kind: 'single'; readonly key: Key }
  | { readonly kind: 'range'; readonly start: Key; readonly end: Key | null };

export function keyRange(key: Uint8Array, rangeEnd: Uint8Array): KeyRange {
  if (rangeEnd.length === 0) return { kind: 'single', key: toKey(key) };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { kind: 'range', start: toKey(key), end: null };
  return { kind: 'range', start: toKey(key), end: toKey(rangeEnd) };
}

export const inRange = (r: KeyRange, k: Key): boolean =>
  r.kind === 'single' ? k === r.key : k >= r.start && (r.end === null || k < r.end);

/** clientv3's GetPrefixRangeEnd: the first key after every key starting with `prefix` ("\0", from-key, when there is none). */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
