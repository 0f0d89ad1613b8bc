// A response's protobuf bytes → the gateway's JSON, read straight off the wire. The reflective way
// (fromBinary, then encodeJsonpb over the message) built a message object per answer, with a bigint
// per int64 field, only to walk it once; at 20,000 ranges a second that garbage was a quarter of the
// main thread. Each message type gets a plan once (its fields by number, their names already quoted),
// and the bytes are turned into text in one pass.
//
// The output is encodeJsonpb's, byte for byte. Forms the reflective reader would read differently from
// a plain pass (a singular message given twice, which it merges; a wire type a field does not have;
// invalid UTF-8 in a string, which it refuses; groups, maps, closed enums, a file that is not proto3)
// are left to it: `wireJson` then answers undefined and the caller takes the reflective path.
import { ScalarType, type DescEnum, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { Edition } from '@bufbuild/protobuf/wkt';
import { goJsonString } from './go-json.js';

const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Delimited = 2,
  Fixed32 = 5,
}

/** Why a pass stopped: the reflective reader takes the whole message instead. */
class LeftToReflection {}
const leftToReflection = new LeftToReflection();

interface FieldPlan {
  /** `"name":` */
  readonly key: string;
  /** Where its text goes: members in .proto order, a oneof being one member. */
  readonly slot: number;
  readonly list: boolean;
  readonly oneof: boolean;
  /** The scalar type; INT32 for an enum. Undefined for a message. */
  readonly scalar: ScalarType | undefined;
  readonly enumNames: ReadonlyMap<number, string> | undefined;
  readonly message: DescMessage | undefined;
  readonly wire: Wire;
}

interface MessagePlan {
  readonly byNumber: readonly (FieldPlan | undefined)[];
  readonly slots: number;
}

const plans = new WeakMap<DescMessage, MessagePlan | null>();

function wireOf(scalar: ScalarType): Wire {
  switch (scalar) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return Wire.Fixed64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return Wire.Fixed32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return Wire.Delimited;
    default:
      return Wire.Varint;
  }
}

/** An enum's JSON names by number; with aliases the first name declared is the one written. */
function enumNames(e: DescEnum): Map<number, string> {
  const names = new Map<number, string>();
  for (const v of e.values) if (!names.has(v.number)) names.set(v.number, `"${v.name}"`);
  return names;
}

function fieldPlan(field: DescField, slot: number): FieldPlan | null {
  const key = `${goJsonString(field.name)}:`;
  const base = { key, slot, oneof: field.oneof !== undefined };
  switch (field.fieldKind) {
    case 'scalar':
      return { ...base, list: false, scalar: field.scalar, enumNames: undefined, message: undefined, wire: wireOf(field.scalar) };
    case 'enum':
      if (!field.enum.open) return null;
      return { ...base, list: false, scalar: ScalarType.INT32, enumNames: enumNames(field.enum), message: undefined, wire: Wire.Varint };
    case 'message':
      if (field.delimitedEncoding) return null;
      return { ...base, list: false, scalar: undefined, enumNames: undefined, message: field.message, wire: Wire.Delimited };
    case 'list':
      if (field.listKind === 'message') {
        if (field.delimitedEncoding) return null;
        return { ...base, list: true, scalar: undefined, enumNames: undefined, message: field.message, wire: Wire.Delimited };
      }
      if (field.listKind === 'enum') {
        if (!field.enum.open) return null;
        return { ...base, list: true, scalar: ScalarType.INT32, enumNames: enumNames(field.enum), message: undefined, wire: Wire.Varint };
      }
      return { ...base, list: true, scalar: field.scalar, enumNames: undefined, message: undefined, wire: wireOf(field.scalar) };
    case 'map':
      return null;
  }
}

/** A message type's plan, or null when the reflective path must serve it. */
function planOf(desc: DescMessage): MessagePlan | null {
  const known = plans.get(desc);
  if (known !== undefined) return known;
  let plan: MessagePlan | null = null;
  if (desc.file.edition === Edition.EDITION_PROTO3) {
    const byNumber: (FieldPlan | undefined)[] = [];
    let ok = true;
    desc.members.forEach((member, slot) => {
      for (const field of member.kind === 'oneof' ? member.fields : [member]) {
        const p = fieldPlan(field, slot);
        if (p === null) ok = false;
        else byNumber[field.number] = p;
      }
    });
    if (ok) plan = { byNumber, slots: desc.members.length };
  }
  plans.set(desc, plan);
  return plan;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const twoTo32 = 4294967296;

/** A read position in one message's bytes, and the last varint read (as two 32-bit halves). */
class Cursor {
  pos = 0;
  lo = 0;
  hi = 0;
  constructor(readonly buf: Uint8Array) {}

  byte(end: number): number {
    if (this.pos >= end) throw leftToReflection;
    return this.buf[this.pos++] as number;
  }

  varint(end: number): void {
    let lo = 0;
    let hi = 0;
    let b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      b = this.byte(end);
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) return this.set(lo, 0);
    }
    b = this.byte(end);
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b < 0x80) return this.set(lo, hi);
    for (let shift = 3; shift <= 31; shift += 7) {
      b = this.byte(end);
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) return this.set(lo, hi);
    }
    throw leftToReflection;
  }

  private set(lo: number, hi: number): void {
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  fixed32(end: number): number {
    if (this.pos + 4 > end) throw leftToReflection;
    const p = this.pos;
    this.pos += 4;
    const b = this.buf;
    return ((b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 24)) >>> 0;
  }

  /** A length prefix; the delimited bytes must lie within `end`. */
  length(end: number): number {
    this.varint(end);
    if (this.hi !== 0 || this.pos + this.lo > end) throw leftToReflection;
    return this.lo;
  }

  skip(wire: number, end: number): void {
    switch (wire) {
      case Wire.Varint:
        this.varint(end);
        return;
      case Wire.Fixed64:
        if (this.pos + 8 > end) throw leftToReflection;
        this.pos += 8;
        return;
      case Wire.Delimited:
        this.pos += this.length(end);
        return;
      case Wire.Fixed32:
        if (this.pos + 4 > end) throw leftToReflection;
        this.pos += 4;
        return;
      default:
        throw leftToReflection;
    }
  }
}

/** A 64-bit value as decimal text; `signed` reads it as two's complement. */
function decimal64(lo: number, hi: number, signed: boolean): string {
  if (hi < 0x200000) return String(hi * twoTo32 + lo);
  const n = (BigInt(hi) << 32n) | BigInt(lo);
  return (signed ? BigInt.asIntN(64, n) : n).toString();
}

function zigzag64(lo: number, hi: number): string {
  if (hi < 0x200000) {
    const n = hi * twoTo32 + lo;
    return String(n % 2 === 0 ? n / 2 : -(n + 1) / 2);
  }
  const n = (BigInt(hi) << 32n) | BigInt(lo);
  return ((n >> 1n) ^ -(n & 1n)).toString();
}

/**
 * One scalar value's JSON, read at the cursor; `keepZero` writes a zero too (list items and oneof
 * members), otherwise a zero answers undefined (jsonpb leaves it out).
 */
function scalarJson(c: Cursor, end: number, plan: FieldPlan, keepZero: boolean): string | undefined {
  const scalar = plan.scalar as ScalarType;
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES: {
      const len = c.length(end);
      const from = c.pos;
      c.pos += len;
      if (len === 0 && !keepZero) return undefined;
      if (scalar === ScalarType.BYTES) return `"${Buffer.from(c.buf.buffer, c.buf.byteOffset + from, len).toString('base64')}"`;
      let text: string;
      try {
        text = strictUtf8.decode(c.buf.subarray(from, from + len));
      } catch {
        throw leftToReflection;
      }
      return goJsonString(text);
    }
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT: {
      const u = c.fixed32(end);
      let n: number;
      if (scalar === ScalarType.FIXED32) n = u;
      else if (scalar === ScalarType.SFIXED32) n = u | 0;
      else n = new DataView(c.buf.buffer, c.buf.byteOffset + c.pos - 4, 4).getFloat32(0, true);
      return n === 0 && !keepZero ? undefined : String(n);
    }
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
    case ScalarType.DOUBLE: {
      const lo = c.fixed32(end);
      const hi = c.fixed32(end);
      if (scalar === ScalarType.DOUBLE) {
        const n = new DataView(c.buf.buffer, c.buf.byteOffset + c.pos - 8, 8).getFloat64(0, true);
        return n === 0 && !keepZero ? undefined : String(n);
      }
      if (lo === 0 && hi === 0 && !keepZero) return undefined;
      return `"${decimal64(lo, hi, scalar === ScalarType.SFIXED64)}"`;
    }
    default:
      break;
  }
  c.varint(end);
  const { lo, hi } = c;
  const zero = lo === 0 && hi === 0;
  switch (scalar) {
    case ScalarType.BOOL:
      if (zero) return keepZero ? 'false' : undefined;
      return 'true';
    case ScalarType.INT64:
    case ScalarType.UINT64:
      if (zero && !keepZero) return undefined;
      return `"${decimal64(lo, hi, scalar === ScalarType.INT64)}"`;
    case ScalarType.SINT64:
      if (zero && !keepZero) return undefined;
      return `"${zigzag64(lo, hi)}"`;
    default: {
      // 32-bit kinds read the low half only, as the reflective reader does
      let n: number;
      if (scalar === ScalarType.UINT32) n = lo;
      else if (scalar === ScalarType.SINT32) n = (lo >>> 1) ^ -(lo & 1);
      else n = lo | 0;
      if (n === 0 && !keepZero) return undefined;
      if (plan.enumNames !== undefined) return plan.enumNames.get(n) ?? String(n);
      return String(n);
    }
  }
}

/** The reflective reader's recursion limit: a message nested deeper is refused there. */
const maxDepth = 100;

function messageJson(c: Cursor, end: number, desc: DescMessage, depth: number): string {
  const plan = planOf(desc);
  if (plan === null || depth > maxDepth) throw leftToReflection;
  const slots: (string | string[] | undefined)[] = new Array<string | string[] | undefined>(plan.slots);
  /** The oneof member each oneof slot holds, to catch a message member given twice (merged by the reflective reader). */
  let oneofMessages: (FieldPlan | undefined)[] | undefined;
  while (c.pos < end) {
    const tagAt = c.pos;
    c.varint(end);
    // a tag is a uint32: a longer (padded) varint is refused there
    if (c.hi !== 0 || c.pos - tagAt > 5) throw leftToReflection;
    const number = c.lo >>> 3;
    const wire = c.lo & 7;
    if (number === 0) throw leftToReflection;
    const field = plan.byNumber[number];
    if (field === undefined) {
      c.skip(wire, end);
      continue;
    }
    if (field.message !== undefined) {
      if (wire !== Wire.Delimited) throw leftToReflection;
      const len = c.length(end);
      const inner = messageJson(c, c.pos + len, field.message, depth + 1);
      if (field.list) {
        const items = slots[field.slot];
        if (items === undefined) slots[field.slot] = [inner];
        else (items as string[]).push(inner);
      } else if (field.oneof) {
        oneofMessages ??= [];
        if (oneofMessages[field.slot] === field) throw leftToReflection;
        oneofMessages[field.slot] = field;
        slots[field.slot] = field.key + inner;
      } else {
        if (slots[field.slot] !== undefined) throw leftToReflection;
        slots[field.slot] = inner;
      }
      continue;
    }
    if (field.list) {
      let items = slots[field.slot] as string[] | undefined;
      if (items === undefined) {
        items = [];
        slots[field.slot] = items;
      }
      if (wire === Wire.Delimited && field.wire !== Wire.Delimited) {
        const len = c.length(end);
        const packedEnd = c.pos + len;
        while (c.pos < packedEnd) items.push(scalarJson(c, packedEnd, field, true) as string);
        continue;
      }
      if (wire !== field.wire) throw leftToReflection;
      items.push(scalarJson(c, end, field, true) as string);
      continue;
    }
    if (wire !== field.wire) throw leftToReflection;
    if (field.oneof) {
      if (oneofMessages !== undefined) oneofMessages[field.slot] = undefined;
      slots[field.slot] = field.key + (scalarJson(c, end, field, true) as string);
      continue;
    }
    // a later value replaces an earlier one; a zero clears it (the reflective reader keeps the last)
    slots[field.slot] = scalarJson(c, end, field, false);
  }
  if (c.pos !== end) throw leftToReflection;
  return assemble(desc, plan, slots);
}

function assemble(desc: DescMessage, plan: MessagePlan, slots: readonly (string | string[] | undefined)[]): string {
  let out = '{';
  for (let slot = 0; slot < plan.slots; slot++) {
    const v = slots[slot];
    if (v === undefined) continue;
    let piece: string;
    const member = desc.members[slot] as DescMessage['members'][number];
    if (member.kind === 'oneof') piece = v as string;
    else if (typeof v === 'string') piece = (plan.byNumber[member.number] as FieldPlan).key + v;
    else if (v.length === 0) continue;
    else piece = `${(plan.byNumber[member.number] as FieldPlan).key}[${v.join(',')}]`;
    out += out.length === 1 ? piece : `,${piece}`;
  }
  return `${out}}`;
}

/** The gateway's JSON for a message's protobuf bytes, or undefined to leave them to the reflective path. */
export function wireJson(desc: DescMessage, bytes: Uint8Array): string | undefined {
  try {
    return messageJson(new Cursor(bytes), bytes.length, desc, 1);
  } catch (err) {
    if (err === leftToReflection) return undefined;
    throw err;
  }
}
