// A protobuf message → JSON text as etcd 3.4's gateway writes it (jsonpb, OrigName, EmitDefaults
// off): fields in .proto order under their .proto names, zero scalars and empty lists left out (the
// message came off the wire, where they do not exist), a oneof member written even when zero, int64
// kinds as quoted decimals, bytes as padded standard base64, enums by name (an unknown number bare),
// strings escaped as Go's encoding/json does.
import { ScalarType, type DescEnum, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';
import { goJsonString } from './go-json.js';

type Fields = Record<string, unknown>;

const quotedScalars = new Set<ScalarType>([ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64]);

function isZeroScalar(scalar: ScalarType, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (scalar === ScalarType.BYTES || scalar === ScalarType.STRING) return (v as { length: number }).length === 0;
  if (scalar === ScalarType.BOOL) return v === false;
  return v === 0 || v === 0n;
}

function scalarJson(scalar: ScalarType, v: unknown): string {
  switch (scalar) {
    case ScalarType.BOOL:
      return v === true ? 'true' : 'false';
    case ScalarType.STRING:
      return goJsonString(String(v));
    case ScalarType.BYTES: {
      const bytes = v as Uint8Array;
      return `"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}"`;
    }
    default:
      return quotedScalars.has(scalar) ? `"${String(v)}"` : String(v);
  }
}

function enumJson(e: DescEnum, n: unknown): string {
  const value = e.values.find((x) => x.number === n);
  return value === undefined ? String(n) : `"${value.name}"`;
}

function valueJson(field: DescField, v: unknown): string {
  switch (field.fieldKind) {
    case 'scalar':
      return scalarJson(field.scalar, v);
    case 'enum':
      return enumJson(field.enum, v);
    case 'message':
      return encodeJsonpb(field.message, v as Message);
    case 'list': {
      const items = v as readonly unknown[];
      const parts = items.map((item) => {
        if (field.listKind === 'scalar') return scalarJson(field.scalar, item);
        if (field.listKind === 'enum') return enumJson(field.enum, item);
        return encodeJsonpb(field.message, item as Message);
      });
      return `[${parts.join(',')}]`;
    }
    case 'map':
      throw new Error(`map fields are not supported (${field.name})`);
  }
}

function isUnset(field: DescField, v: unknown): boolean {
  switch (field.fieldKind) {
    case 'scalar':
      return isZeroScalar(field.scalar, v);
    case 'enum':
      return v === 0 || v === undefined;
    case 'message':
      return v === undefined;
    case 'list':
      return (v as readonly unknown[]).length === 0;
    case 'map':
      return true;
  }
}

export function encodeJsonpb(desc: DescMessage, message: Message): string {
  const m = message as Message & Fields;
  let out = '{';
  let first = true;
  const put = (name: string, json: string): void => {
    out += `${first ? '' : ','}${goJsonString(name)}:${json}`;
    first = false;
  };
  for (const member of desc.members) {
    if (member.kind === 'oneof') {
      const chosen = m[member.localName] as { case: string | undefined; value?: unknown };
      if (chosen.case === undefined) continue;
      const field = member.fields.find((f) => f.localName === chosen.case);
      if (field !== undefined) put(field.name, valueJson(field, chosen.value));
      continue;
    }
    const v = m[member.localName];
    if (isUnset(member, v)) continue;
    put(member.name, valueJson(member, v));
  }
  return `${out}}`;
}
