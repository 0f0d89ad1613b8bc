// A request body → protobuf message, as etcd 3.4's gateway reads it (grpc-gateway v1 JSONPb with
// golang/protobuf's jsonpb): field names as in the .proto or their JSON (camel) name, the camel one
// winning when both are given; unknown fields ignored; int64 as number or quoted number; bytes as
// padded standard base64; enums by name or number; null leaves a field unset. Every scalar goes
// through encoding/json's rules, so the errors are Go's words for Go's types.
import { ScalarType, create, type DescEnum, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';
import { goBase64Decode } from './go-base64.js';
import { goJsonTypeWord, goQuote, unmarshalValue, type GoJsonValue } from './go-json.js';
import { goEnumTypeName } from './gateway-schema.js';

export class JsonpbError extends Error {}

type Fields = Record<string, unknown>;

const goScalarTypes: Readonly<Record<ScalarType, string>> = {
  [ScalarType.DOUBLE]: 'float64',
  [ScalarType.FLOAT]: 'float32',
  [ScalarType.INT64]: 'int64',
  [ScalarType.UINT64]: 'uint64',
  [ScalarType.INT32]: 'int32',
  [ScalarType.FIXED64]: 'uint64',
  [ScalarType.FIXED32]: 'uint32',
  [ScalarType.BOOL]: 'bool',
  [ScalarType.STRING]: 'string',
  [ScalarType.BYTES]: '[]uint8',
  [ScalarType.UINT32]: 'uint32',
  [ScalarType.SFIXED32]: 'int32',
  [ScalarType.SFIXED64]: 'int64',
  [ScalarType.SINT32]: 'int32',
  [ScalarType.SINT64]: 'int64',
};

interface IntRange {
  readonly min: bigint;
  readonly max: bigint;
  readonly big: boolean;
}
const intRanges: Partial<Record<ScalarType, IntRange>> = {
  [ScalarType.INT64]: { min: -(2n ** 63n), max: 2n ** 63n - 1n, big: true },
  [ScalarType.SINT64]: { min: -(2n ** 63n), max: 2n ** 63n - 1n, big: true },
  [ScalarType.SFIXED64]: { min: -(2n ** 63n), max: 2n ** 63n - 1n, big: true },
  [ScalarType.UINT64]: { min: 0n, max: 2n ** 64n - 1n, big: true },
  [ScalarType.FIXED64]: { min: 0n, max: 2n ** 64n - 1n, big: true },
  [ScalarType.INT32]: { min: -(2n ** 31n), max: 2n ** 31n - 1n, big: false },
  [ScalarType.SINT32]: { min: -(2n ** 31n), max: 2n ** 31n - 1n, big: false },
  [ScalarType.SFIXED32]: { min: -(2n ** 31n), max: 2n ** 31n - 1n, big: false },
  [ScalarType.UINT32]: { min: 0n, max: 2n ** 32n - 1n, big: false },
  [ScalarType.FIXED32]: { min: 0n, max: 2n ** 32n - 1n, big: false },
};
const int32Range: IntRange = { min: -(2n ** 31n), max: 2n ** 31n - 1n, big: false };
const uint8Range: IntRange = { min: 0n, max: 255n, big: false };

const cannot = (v: GoJsonValue, goType: string): JsonpbError =>
  new JsonpbError(`json: cannot unmarshal ${goJsonTypeWord(v)} into Go value of type ${goType}`);

/** encoding/json: a JSON number into a Go integer of `range`; undefined for null (no change). */
function goInteger(v: GoJsonValue, range: IntRange, goType: string): bigint | undefined {
  if (v.type === 'null') return undefined;
  if (v.type !== 'number') throw cannot(v, goType);
  const n = /^-?\d+$/.test(v.raw) ? BigInt(v.raw) : undefined;
  if (n === undefined || n < range.min || n > range.max) {
    throw new JsonpbError(`json: cannot unmarshal number ${v.raw} into Go value of type ${goType}`);
  }
  return n;
}

/** jsonpb: a numeric field given as a string has its quotes cut off, the rest is JSON again. */
function unquoteNumber(v: GoJsonValue): GoJsonValue {
  if (!v.raw.startsWith('"')) return v;
  const inner = unmarshalValue(v.raw.slice(1, -1));
  if ('error' in inner) throw new JsonpbError(inner.error);
  return inner.value;
}

function goBytes(v: GoJsonValue): Uint8Array | undefined {
  if (v.type === 'null') return undefined;
  if (v.type === 'string') {
    const r = goBase64Decode(v.value);
    if ('error' in r) throw new JsonpbError(r.error);
    return r.bytes;
  }
  // encoding/json also fills a []byte from an array of numbers
  if (v.type === 'array') return Uint8Array.from(v.items.map((item) => Number(goInteger(item, uint8Range, 'uint8') ?? 0n)));
  throw cannot(v, '[]uint8');
}

function scalarValue(scalar: ScalarType, v: GoJsonValue): unknown {
  const goType = goScalarTypes[scalar];
  switch (scalar) {
    case ScalarType.BOOL:
      if (v.type === 'null') return undefined;
      if (v.type !== 'bool') throw cannot(v, goType);
      return v.value;
    case ScalarType.STRING:
      if (v.type === 'null') return undefined;
      if (v.type !== 'string') throw cannot(v, goType);
      return v.value;
    case ScalarType.BYTES:
      return goBytes(v);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT: {
      const n = unquoteNumber(v);
      if (n.type === 'null') return undefined;
      if (n.type !== 'number') throw cannot(n, goType);
      return Number(n.raw);
    }
    default: {
      const range = intRanges[scalar];
      if (range === undefined) throw new JsonpbError(`unsupported field type ${goType}`);
      const n = goInteger(unquoteNumber(v), range, goType);
      if (n === undefined) return undefined;
      return range.big ? n : Number(n);
    }
  }
}

function enumValue(e: DescEnum, v: GoJsonValue): number | undefined {
  if (v.raw.startsWith('"')) {
    const name = v.raw.slice(1, -1);
    const value = e.values.find((x) => x.name === name);
    if (value === undefined) throw new JsonpbError(`unknown value ${goQuote(name)} for enum ${goEnumTypeName(e)}`);
    return value.number;
  }
  const n = goInteger(v, int32Range, goEnumTypeName(e));
  return n === undefined ? undefined : Number(n);
}

/**
 * A request message as jsonpb read it: the fields it sets, in the order it set them, each with its
 * value (a message's value is its own Assigned, a list of messages a list of them). The reflective
 * message (decodeJsonpb) and the direct protobuf bytes (jsonpb-wire.ts) are both made from it, so
 * both see the same reading and the same first error.
 */
export type Assigned = [DescField, unknown][];

function listValue(field: DescField & { fieldKind: 'list' }, v: GoJsonValue): unknown[] | undefined {
  if (v.type === 'null') return undefined;
  if (v.type !== 'array') throw cannot(v, '[]json.RawMessage');
  return v.items.map((item) => {
    switch (field.listKind) {
      case 'scalar':
        return scalarValue(field.scalar, item) ?? zeroScalar(field.scalar);
      case 'enum':
        return enumValue(field.enum, item) ?? 0;
      case 'message':
        return assignedOf(field.message, item);
    }
  });
}

function zeroScalar(scalar: ScalarType): unknown {
  if (scalar === ScalarType.BOOL) return false;
  if (scalar === ScalarType.STRING) return '';
  if (scalar === ScalarType.BYTES) return new Uint8Array(0);
  const range = intRanges[scalar];
  return range?.big === true ? 0n : 0;
}

/** One field's value, or undefined to leave it unset. */
function fieldValue(field: DescField, v: GoJsonValue): unknown {
  switch (field.fieldKind) {
    case 'scalar':
      return scalarValue(field.scalar, v);
    case 'enum':
      return enumValue(field.enum, v);
    case 'message':
      return v.type === 'null' ? undefined : assignedOf(field.message, v);
    case 'list':
      return listValue(field, v);
    case 'map':
      throw new JsonpbError(`map fields are not supported (${field.name})`);
  }
}

/** jsonpb's acceptedJSONFieldNames: the .proto name, then the camel name (which wins). */
function consume(fields: Map<string, GoJsonValue>, field: DescField): GoJsonValue | undefined {
  let raw: GoJsonValue | undefined;
  const orig = fields.get(field.name);
  if (orig !== undefined) {
    raw = orig;
    fields.delete(field.name);
  }
  const camel = fields.get(field.jsonName);
  if (camel !== undefined) {
    raw = camel;
    fields.delete(field.jsonName);
  }
  return raw;
}

/** The fields a JSON value sets in a message of `desc`; throws JsonpbError with Go's text. */
export function assignedOf(desc: DescMessage, v: GoJsonValue): Assigned {
  const assigned: Assigned = [];
  if (v.type === 'null') return assigned;
  if (v.type !== 'object') throw cannot(v, 'map[string]json.RawMessage');
  const fields = new Map(v.fields);
  // plain fields first, oneof members after them (jsonpb's order, which decides the first error)
  for (const field of desc.fields) {
    if (field.oneof !== undefined) continue;
    const raw = consume(fields, field);
    if (raw === undefined) continue;
    const value = fieldValue(field, raw);
    if (value !== undefined) assigned.push([field, value]);
  }
  for (const field of desc.fields) {
    if (field.oneof === undefined || fields.size === 0) continue;
    const raw = consume(fields, field);
    if (raw === undefined) continue;
    // a oneof member is set even by null or a zero value: it is the member that was named; a later
    // member of the same oneof replaces an earlier one
    const value = fieldValue(field, raw) ?? (field.fieldKind === 'message' ? [] : field.fieldKind === 'scalar' ? zeroScalar(field.scalar) : 0);
    const earlier = assigned.findIndex(([f]) => f.oneof === field.oneof);
    if (earlier !== -1) assigned.splice(earlier, 1);
    assigned.push([field, value]);
  }
  return assigned;
}

/** The reflective message of what jsonpb read. */
export function messageOf(desc: DescMessage, assigned: Assigned): Message {
  const msg = create(desc) as Message & Fields;
  for (const [field, value] of assigned) {
    let v = value;
    if (field.fieldKind === 'message') v = messageOf(field.message, value as Assigned);
    else if (field.fieldKind === 'list' && field.listKind === 'message') v = (value as Assigned[]).map((item) => messageOf(field.message, item));
    if (field.oneof !== undefined) msg[field.oneof.localName] = { case: field.localName, value: v };
    else msg[field.localName] = v;
  }
  return msg;
}

/** The request message for a JSON value; throws JsonpbError with Go's text. */
export function decodeJsonpb(desc: DescMessage, v: GoJsonValue): Message {
  return messageOf(desc, assignedOf(desc, v));
}
