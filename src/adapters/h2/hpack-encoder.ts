// HPACK header block encoding (RFC 7541) for the HTTP/2 engine's responses and trailers. It uses the
// static table only: no dynamic table state means no size updates to track, and the block is valid
// whatever SETTINGS_HEADER_TABLE_SIZE the peer announced (even 0).
import { staticNameIndex, staticNames, staticTableLength, staticValues } from './hpack-static-table.js';

/** Node's latin1 writer (not in @types/node); used for strings too long for the per-char loop. */
interface Latin1Buffer extends Buffer {
  latin1Write(text: string, offset: number, length: number): number;
}

/** Up to this length a string is copied char by char, cheaper than a native call for short strings. */
const maxLoopCopyChars = 32;

/**
 * One header block for `fields`, static table only: an exact name and value match is an indexed field,
 * a name match a literal without indexing with an indexed name, anything else a literal without
 * indexing with a new name. Strings are raw (not Huffman) latin1: names must already be lowercase,
 * and characters above U+00FF do not survive (HTTP field values are octets).
 */
export function encodeHeaderBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  let size = 0;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const name = field[0];
    const value = field[1];
    const nameIndex = staticNameIndex.get(name);
    if (nameIndex === undefined) {
      size += 1 + stringBytes(name) + stringBytes(value);
    } else if (exactIndex(nameIndex, name, value) !== 0) {
      size += 1; // every static index is below 127
    } else {
      size += integerBytes(nameIndex, 4) + stringBytes(value);
    }
  }
  const out = Buffer.allocUnsafe(size) as Latin1Buffer;
  let pos = 0;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const name = field[0];
    const value = field[1];
    const nameIndex = staticNameIndex.get(name);
    if (nameIndex === undefined) {
      out[pos++] = 0x00;
      pos = writeString(out, pos, name);
      pos = writeString(out, pos, value);
      continue;
    }
    const index = exactIndex(nameIndex, name, value);
    if (index !== 0) {
      out[pos++] = 0x80 | index;
    } else {
      pos = writeInteger(out, pos, nameIndex, 4, 0x00);
      pos = writeString(out, pos, value);
    }
  }
  return out;
}

/** The static index with this name and value, searching from the name's first index; 0 when none. */
function exactIndex(firstIndex: number, name: string, value: string): number {
  for (let i = firstIndex; i <= staticTableLength && staticNames[i] === name; i++) {
    if (staticValues[i] === value) return i;
  }
  return 0;
}

/** Octets of an integer with an N-bit prefix (RFC 7541 §5.1). */
function integerBytes(value: number, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) return 1;
  let bytes = 2;
  for (let rest = value - max; rest >= 0x80; rest = Math.floor(rest / 0x80)) bytes++;
  return bytes;
}

function writeInteger(out: Buffer, pos: number, value: number, prefixBits: number, flags: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | max;
  let rest = value - max;
  while (rest >= 0x80) {
    out[pos++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[pos++] = rest;
  return pos;
}

/** Octets of a raw string literal: 7-bit-prefix length, then the latin1 octets. */
const stringBytes = (text: string): number => integerBytes(text.length, 7) + text.length;

function writeString(out: Latin1Buffer, pos: number, text: string): number {
  const length = text.length;
  pos = writeInteger(out, pos, length, 7, 0x00);
  if (length <= maxLoopCopyChars) {
    for (let i = 0; i < length; i++) out[pos + i] = text.charCodeAt(i);
  } else {
    out.latin1Write(text, pos, length);
  }
  return pos + length;
}
