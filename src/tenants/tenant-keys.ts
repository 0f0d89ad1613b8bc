// The key mapping of one tenant, as etcd's namespace proxy (clientv3/namespace) does it: the client's
// keys live under the tenant's prefix in the store, and the prefix never shows in an answer. Every
// request and answer of a tenant goes through these functions; nothing else knows the prefix.
import { prefixEnd } from '../core/keys.js';
import type { KeyValue } from '../gen/etcd/mvcc/mvccpb/kv.js';
import { toKey, type Key, type KeyRange } from '../core/keys.js';

const EMPTY = new Uint8Array(0);

export class TenantKeys {
  readonly prefix: Buffer;
  /** The prefix as the store's latin1 key string. */
  readonly storedPrefix: Key;
  /** The first key after the prefix's keys (etcd's prefixEnd), "\0" when the prefix is all 0xff. */
  readonly prefixEnd: Buffer;

  constructor(prefix: string | Uint8Array) {
    this.prefix = Buffer.from(typeof prefix === 'string' ? Buffer.from(prefix, 'utf8') : prefix);
    if (this.prefix.length === 0) throw new Error('a tenant prefix may not be empty');
    this.storedPrefix = toKey(this.prefix);
    this.prefixEnd = prefixEnd(this.prefix);
  }

  toStored(key: Uint8Array): Buffer {
    return Buffer.concat([this.prefix, key]);
  }

  /**
   * etcd's prefixInterval: the range end maps with the key, "\0" (every key from `key` on) becomes
   * the prefix's end, and an empty end (one key) stays empty.
   */
  toStoredEnd(rangeEnd: Uint8Array): Uint8Array {
    if (rangeEnd.length === 0) return EMPTY;
    if (rangeEnd.length === 1 && rangeEnd[0] === 0) return this.prefixEnd;
    return this.toStored(rangeEnd);
  }

  /**
   * A normalised watch range (src/core/keys.ts) moved under the prefix. The watch adapter has made
   * an empty start key "\0"; etcd's namespace proxy maps "" to the prefix itself, so a range from
   * "\0" starts at the prefix and sees a stored key equal to it (the only key between the two, which
   * only an admin can write), as a Range from "" does.
   */
  toStoredRange(range: KeyRange): KeyRange {
    if (range.kind === 'single') return { kind: 'single', key: this.storedPrefix + range.key };
    const end = range.end === null ? toKey(this.prefixEnd) : this.storedPrefix + range.end;
    const start = range.start === '\0' ? this.storedPrefix : this.storedPrefix + range.start;
    return { kind: 'range', start, end: end === '\0' ? null : end };
  }

  /** A stored key as its client sees it; every key a tenant is answered with is under its prefix. */
  toClient(stored: Uint8Array): Buffer {
    return Buffer.from(stored).subarray(this.prefix.length);
  }

  /** toStoredEnd's inverse for an end under the prefix (or the prefix's end, which becomes "\0"). */
  toClientEnd(storedEnd: Uint8Array): Uint8Array {
    if (storedEnd.length === 0) return EMPTY;
    if (this.prefixEnd.equals(storedEnd)) return new Uint8Array([0]);
    return this.toClient(storedEnd);
  }

  toClientKey(stored: Key): Key {
    return stored.slice(this.storedPrefix.length);
  }

  contains(stored: Uint8Array): boolean {
    return stored.length >= this.prefix.length && this.prefix.equals(Buffer.from(stored.buffer, stored.byteOffset, this.prefix.length));
  }

  containsKey(stored: Key): boolean {
    return stored.startsWith(this.storedPrefix);
  }

  kvToClient(kv: KeyValue, lease: (stored: bigint) => bigint): KeyValue {
    return { ...kv, key: this.toClient(kv.key), lease: lease(kv.lease) };
  }
}


/** Prefixes of two tenants may not nest: a key would belong to both. */
export function prefixesOverlap(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

