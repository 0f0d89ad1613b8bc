// A request as jsonpb read it (jsonpb-decode.ts: the fields it set) → protobuf bytes, written into
// one buffer of exact size. The reflective way made a message object with every field at its default
// (create), then encoded it through a growing writer and copied the result twice; for every gateway
// put and range. The bytes are the same as toBinary's for the same message (fields by number, zeros
// of plain fields left out, a oneof member written even when zero, numeric lists packed), which the
// tests check; a message type with a field kind not written here (floating point, fixed, zigzag,
// maps, groups, explicit presence) answers undefined and the caller takes the reflective path.
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { Edition, FeatureSet_FieldPresence } from '@bufbuild/protobuf/wkt';
import type { Assigned } from './jsonpb-decode.js';
import { lengthSize, varintSize } from '../../core/proto-writer.js';

const writable = new WeakMap<DescMessage, boolean>();

const writtenScalars = new Set<ScalarType>([ScalarType.INT64, ScalarType.UINT64, ScalarType.INT32, ScalarType.UINT32, ScalarType.BOOL, ScalarType.STRING, ScalarType.BYTES]);

function fieldWritable(field: DescField, seen: Set<DescMessage>): boolean {
  switch (field.fieldKind) {
    case 'scalar':
      return writtenScalars.has(field.scalar) && (field.oneof !== undefined || field.presence === FeatureSet_FieldPresence.IMPLICIT);
    case 'enum':
      return field.enum.open && (field.oneof !== undefined || field.presence === FeatureSet_FieldPresence.IMPLICIT);
    case 'message':
      return !field.delimitedEncoding && messageWritable(field.message, seen);
    case 'list':
      if (field.listKind === 'message') return !field.delimitedEncoding && messageWritable(field.message, seen);
      if (field.listKind === 'enum') return field.enum.open && field.packed;
      return writtenScalars.has(field.scalar) && (field.packed || field.scalar === ScalarType.STRING || field.scalar === ScalarType.BYTES);
    case 'map':
      return false;
  }
}

/** Whether every message reachable from `desc` is one this writer writes as toBinary would. */
function messageWritable(desc: DescMessage, seen = new Set<DescMessage>()): boolean {
  const known = writable.get(desc);
  if (known !== undefined) return known;
  // a type on the current path (txn in txn) is decided by the outer call
  if (seen.has(desc)) return true;
  seen.add(desc);
  const ok = desc.file.edition === Edition.EDITION_PROTO3 && desc.fields.every((f) => fieldWritable(f, seen));
  seen.delete(desc);
  if (seen.size === 0 || !ok) writable.set(desc, ok);
  return ok;
}

const enum Wire {
  Varint = 0,
  Delimited = 2,
}

/** A signed or unsigned 64-bit value (or int32/enum, sign-extended) as varint: bytes needed. */
function intSize(v: number | bigint): number {
  if (typeof v === 'number') return v < 0 ? 10 : lengthSize(v);
  return varintSize(v);
}

/** A scalar's or enum's zero: a plain field at its zero is not written (implicit presence). */
function isZero(v: unknown): boolean {
  switch (typeof v) {
    case 'bigint':
      return v === 0n;
    case 'number':
      return v === 0;
    case 'boolean':
      return !v;
    case 'string':
      return v.length === 0;
    default:
      return (v as Uint8Array).length === 0;
  }
}

const isVarint = (v: unknown): boolean => typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean';

/** Each message's fields as written (by number, zeros left out) and its size, worked out before writing. */
type Layout = Map<Assigned, { readonly size: number; readonly fields: Assigned }>;

/** One value's payload size (without tag): varint, or length prefix and bytes. */
function valueSize(v: unknown, layout: Layout): number {
  switch (typeof v) {
    case 'number':
    case 'bigint':
      return intSize(v);
    case 'boolean':
      return 1;
    case 'string': {
      const n = Buffer.byteLength(v, 'utf8');
      return lengthSize(n) + n;
    }
    default: {
      if (v instanceof Uint8Array) return lengthSize(v.length) + v.length;
      const n = messageSize(v as Assigned, layout);
      return lengthSize(n) + n;
    }
  }
}

function fieldSize(field: DescField, v: unknown, layout: Layout): number {
  const tag = lengthSize(field.number * 8);
  if (field.fieldKind !== 'list') return tag + valueSize(v, layout);
  const items = v as unknown[];
  if (items.length === 0) return 0;
  if (field.listKind === 'message' || (field.listKind === 'scalar' && (field.scalar === ScalarType.STRING || field.scalar === ScalarType.BYTES))) {
    let size = 0;
    for (const item of items) size += tag + valueSize(item, layout);
    return size;
  }
  let packed = 0;
  for (const item of items) packed += valueSize(item, layout);
  return tag + lengthSize(packed) + packed;
}

function sortedByNumber(assigned: Assigned): Assigned {
  for (let i = 1; i < assigned.length; i++) {
    if ((assigned[i - 1] as [DescField, unknown])[0].number > (assigned[i] as [DescField, unknown])[0].number) {
      return [...assigned].sort((a, b) => a[0].number - b[0].number);
    }
  }
  return assigned;
}

/** Plain scalar fields at their zero are not written (implicit presence); oneof members always are. */
const isWritten = ([field, v]: [DescField, unknown]): boolean => field.oneof !== undefined || (field.fieldKind !== 'scalar' && field.fieldKind !== 'enum') || !isZero(v);

function messageSize(assigned: Assigned, layout: Layout): number {
  const fields = sortedByNumber(assigned.every(isWritten) ? assigned : assigned.filter(isWritten));
  let size = 0;
  for (const [field, v] of fields) size += fieldSize(field, v, layout);
  layout.set(assigned, { size, fields });
  return size;
}

class Out {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    const b = this.buf;
    while (n >= 0x80) {
      b[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    b[this.pos++] = n;
  }

  int(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0) return this.varint(v);
    if (typeof v === 'bigint' && v >= 0n && v < 2n ** 53n) return this.varint(Number(v));
    // two's complement in 64 bits: ten bytes for a negative value
    let u = BigInt.asUintN(64, BigInt(v));
    const b = this.buf;
    while (u >= 0x80n) {
      b[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    b[this.pos++] = Number(u);
  }

  value(v: unknown, layout: Layout): void {
    switch (typeof v) {
      case 'number':
      case 'bigint':
        return this.int(v);
      case 'boolean':
        this.buf[this.pos++] = v ? 1 : 0;
        return;
      case 'string': {
        const n = Buffer.byteLength(v, 'utf8');
        this.varint(n);
        this.pos += this.buf.write(v, this.pos, n, 'utf8');
        return;
      }
      default: {
        if (v instanceof Uint8Array) {
          this.varint(v.length);
          this.buf.set(v, this.pos);
          this.pos += v.length;
          return;
        }
        const assigned = v as Assigned;
        this.varint((layout.get(assigned) as { size: number }).size);
        this.message(assigned, layout);
      }
    }
  }

  message(assigned: Assigned, layout: Layout): void {
    const { fields } = layout.get(assigned) as { fields: Assigned };
    for (const [field, v] of fields) {
      if (field.fieldKind !== 'list') {
        this.varint(field.number * 8 + (isVarint(v) ? Wire.Varint : Wire.Delimited));
        this.value(v, layout);
        continue;
      }
      const items = v as unknown[];
      if (items.length === 0) continue;
      if (field.listKind === 'message' || (field.listKind === 'scalar' && (field.scalar === ScalarType.STRING || field.scalar === ScalarType.BYTES))) {
        for (const item of items) {
          this.varint(field.number * 8 + Wire.Delimited);
          this.value(item, layout);
        }
        continue;
      }
      this.varint(field.number * 8 + Wire.Delimited);
      let packed = 0;
      for (const item of items) packed += valueSize(item, layout);
      this.varint(packed);
      for (const item of items) this.value(item, layout);
    }
  }
}

/** The protobuf bytes of what jsonpb read into a message of `desc`, or undefined for the reflective path. */
export function jsonpbWire(desc: DescMessage, assigned: Assigned): Buffer | undefined {
  if (!messageWritable(desc)) return undefined;
  const layout: Layout = new Map();
  const out = new Out(Buffer.allocUnsafe(messageSize(assigned, layout)));
  // the two passes agree by construction; were they ever not to, no uninitialised byte goes out and
  // an overrun is not taken for a request nested too deeply: the reflective writer takes over
  try {
    out.message(assigned, layout);
  } catch (err) {
    if (err instanceof RangeError) return undefined;
    throw err;
  }
  return out.pos === out.buf.length ? out.buf : undefined;
}
