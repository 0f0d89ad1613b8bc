// ConfChange <-> bytes for EntryType.ConfChange entries, in raftpb.ConfChange's protobuf wire form
// (fields: 1 ID, 2 Type, 3 NodeID, 4 Context), so a log holds what etcd's would.
import { ConfChangeType, type ConfChange } from './types.js';

export type ConfChangeDecodeError = { readonly malformed: string };

const wireVarint = 0;
const wireFixed64 = 1;
const wireBytes = 2;
const wireFixed32 = 5;
const maxVarintBytes = 10;

export function encodeConfChange(change: ConfChange): Uint8Array {
  const out: number[] = [];
  // gogoproto writes the non-nullable scalars even when zero; so does this.
  out.push((1 << 3) | wireVarint);
  pushVarint(out, 0n);
  out.push((2 << 3) | wireVarint);
  pushVarint(out, BigInt(change.type));
  out.push((3 << 3) | wireVarint);
  pushVarint(out, change.nodeId);
  if (change.context.byteLength > 0) {
    out.push((4 << 3) | wireBytes);
    pushVarint(out, BigInt(change.context.byteLength));
    const bytes = new Uint8Array(out.length + change.context.byteLength);
    bytes.set(out);
    bytes.set(change.context, out.length);
    return bytes;
  }
  return Uint8Array.from(out);
}

export function isConfChangeDecodeError(value: ConfChange | ConfChangeDecodeError): value is ConfChangeDecodeError {
  return 'malformed' in value;
}

export function decodeConfChange(bytes: Uint8Array): ConfChange | ConfChangeDecodeError {
  let type: ConfChangeType = ConfChangeType.AddNode;
  let nodeId = 0n;
  let context = new Uint8Array(0);
  let at = 0;
  while (at < bytes.length) {
    const key = readVarint(bytes, at);
    if ('malformed' in key) return key;
    at = key.next;
    const field = Number(key.value >> 3n);
    const wire = Number(key.value & 7n);
    if (field === 0) return { malformed: `field number 0 at byte ${at}` };
    if (wire === wireVarint) {
      const value = readVarint(bytes, at);
      if ('malformed' in value) return value;
      at = value.next;
      if (field === 2) {
        if (value.value > BigInt(ConfChangeType.AddLearnerNode)) return { malformed: `unknown change type ${value.value}` };
        type = Number(value.value) as ConfChangeType;
      } else if (field === 3) {
        nodeId = value.value;
      }
    } else if (wire === wireBytes) {
      const length = readVarint(bytes, at);
      if ('malformed' in length) return length;
      at = length.next;
      const end = at + Number(length.value);
      if (length.value > BigInt(bytes.length) || end > bytes.length) return { malformed: `field ${field} runs past the end` };
      if (field === 4) context = bytes.slice(at, end);
      at = end;
    } else if (wire === wireFixed64 || wire === wireFixed32) {
      at += wire === wireFixed64 ? 8 : 4;
      if (at > bytes.length) return { malformed: `field ${field} runs past the end` };
    } else {
      return { malformed: `unsupported wire type ${wire} for field ${field}` };
    }
    if ((field === 2 || field === 3 || field === 1) && wire !== wireVarint) return { malformed: `field ${field} is not a varint` };
    if (field === 4 && wire !== wireBytes) return { malformed: 'context is not length-delimited' };
  }
  return { type, nodeId, context };
}

function pushVarint(out: number[], value: bigint): void {
  let rest = BigInt.asUintN(64, value);
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
}

function readVarint(bytes: Uint8Array, from: number): { value: bigint; next: number } | ConfChangeDecodeError {
  let value = 0n;
  let shift = 0n;
  for (let i = 0; i < maxVarintBytes; i++) {
    const byte = bytes[from + i];
    if (byte === undefined) return { malformed: `truncated varint at byte ${from}` };
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return { value: BigInt.asUintN(64, value), next: from + i + 1 };
    shift += 7n;
  }
  return { malformed: `varint longer than ${maxVarintBytes} bytes at byte ${from}` };
}
