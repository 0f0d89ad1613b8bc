// Protobuf wire encoding into a buffer of exactly the measured size: sizes first, then one pass of
// writes. Shared by the serializers that must not build intermediate copies (large Range responses,
// HashKV's byte stream) and by the request-size estimate. Proto3 rules: zero and empty fields are
// omitted; negative int64 values take the 10-byte two's-complement varint.

/** The largest value a double holds exactly; below it varints are sized and written without bigint arithmetic. */
const maxExactBig = 0x1fffffffffffffn;

/** Bytes of a varint holding v (as uint64). */
export function varintSize(v: bigint): number {
  // ids, flags, revisions and counts: the common cases, without bigint arithmetic or allocation
  if (v >= 0n && v <= maxExactBig) return lengthSize(Number(v));
  // member and cluster IDs (random 64-bit): two 32-bit halves, so the loop allocates no bigints
  const x = BigInt.asUintN(64, v);
  let lo = Number(x & 0xffffffffn);
  let hi = Number(x >> 32n);
  let n = 1;
  while (hi > 0 || lo >= 0x80) {
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
    n++;
  }
  return n;
}

/** Bytes of a varint holding a non-negative length, without bigint arithmetic. */
export function lengthSize(len: number): number {
  let n = 1;
  while (len >= 0x80) {
    len = Math.floor(len / 128);
    n++;
  }
  return n;
}

/** Size of an int64/uint64 field with a one-byte tag (fields 1-15); 0 when omitted. */
export const intFieldSize = (v: bigint): number => (v === 0n ? 0 : 1 + varintSize(v));
/** Size of a bytes/message field of `len` bytes with a one-byte tag; 0 when omitted. */
export const bytesFieldSize = (len: number): number => (len === 0 ? 0 : 1 + lengthSize(len) + len);

/** Writes v (as uint64) as a varint at `at`; returns where it ends. No writer object, for the hottest paths. */
export function putVarint(buf: Uint8Array, at: number, v: bigint): number {
  // Revisions and counts fit in a double: stay off bigint arithmetic (and asUintN's allocation) for them.
  if (v >= 0n && v <= maxExactBig) {
    let n = Number(v);
    while (n >= 0x80) {
      buf[at++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    buf[at++] = n;
    return at;
  }
  const x = BigInt.asUintN(64, v);
  let lo = Number(x & 0xffffffffn);
  let hi = Number(x >> 32n);
  while (hi > 0 || lo >= 0x80) {
    buf[at++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[at++] = lo;
  return at;
}

export class ExactWriter {
  /** `at`: where writing starts, for a message placed inside a larger buffer. */
  constructor(
    readonly buf: Uint8Array,
    private at = 0,
  ) {}

  get offset(): number {
    return this.at;
  }

  byte(b: number): void {
    this.buf[this.at++] = b;
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  tag(field: number, wireType: number): void {
    this.byte((field << 3) | wireType);
  }

  length(len: number): void {
    while (len >= 0x80) {
      this.byte((len & 0x7f) | 0x80);
      len = Math.floor(len / 128);
    }
    this.byte(len);
  }

  varint(v: bigint): void {
    this.at = putVarint(this.buf, this.at, v);
  }

  intField(field: number, v: bigint): void {
    if (v === 0n) return;
    this.tag(field, 0);
    this.varint(v);
  }

  /** A bytes field holding a latin1 string's bytes, one per char (the store's keys, core/keys.ts). */
  latin1Field(field: number, text: string): void {
    if (text.length === 0) return;
    this.tag(field, 2);
    this.length(text.length);
    for (let i = 0; i < text.length; i++) this.buf[this.at++] = text.charCodeAt(i);
  }

  bytesField(field: number, b: Uint8Array): void {
    if (b.length === 0) return;
    this.tag(field, 2);
    this.length(b.length);
    this.bytes(b);
  }
}

/** The fields of mvccpb.KeyValue, as the generated type and the store's records both provide them. */
export interface KeyValueFields {
  readonly key: Uint8Array;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  readonly version: bigint;
  readonly value: Uint8Array;
  readonly lease: bigint;
}

export function keyValueSize(kv: KeyValueFields): number {
  return (
    bytesFieldSize(kv.key.length) +
    intFieldSize(kv.createRevision) +
    intFieldSize(kv.modRevision) +
    intFieldSize(kv.version) +
    bytesFieldSize(kv.value.length) +
    intFieldSize(kv.lease)
  );
}

export function writeKeyValue(w: ExactWriter, kv: KeyValueFields): void {
  w.bytesField(1, kv.key);
  w.intField(2, kv.createRevision);
  w.intField(3, kv.modRevision);
  w.intField(4, kv.version);
  w.bytesField(5, kv.value);
  w.intField(6, kv.lease);
}

/**
 * A message whose fields are all int64s numbered 1, 2, … (at most 15) in this order (zero ones omitted, as proto3
 * does), in a buffer of its exact size: a lease grant's or revoke's log entry, without a writer.
 */
export function encodeIntFields(...values: bigint[]): Buffer {
  let size = 0;
  for (const v of values) size += intFieldSize(v);
  const out = Buffer.allocUnsafe(size);
  const w = new ExactWriter(out);
  for (let i = 0; i < values.length; i++) w.intField(i + 1, values[i]!);
  return out;
}
