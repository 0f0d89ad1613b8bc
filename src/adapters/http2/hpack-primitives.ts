// HPACK's integer and string-literal representations (RFC 7541 §5.1, §5.2).
import { Http2ShimError } from './http2-shim-error.js';

/** A read position, advanced by the decoders (one object reused per block, so decoding allocates nothing). */
export interface HpackCursor {
  pos: number;
}

/** Continuation bytes after the prefix allow values up to about 2^28; header blocks are far smaller. */
const maxIntegerShiftBits = 28;

/** Decodes an integer with an N-bit prefix starting at buf[cursor.pos]; throws an 'hpack' error when truncated or too large. */
export function decodeInteger(buf: Uint8Array, cursor: HpackCursor, end: number, prefixBits: number): number {
  let pos = cursor.pos;
  if (pos >= end) throw new Http2ShimError('hpack', 'truncated integer');
  const max = (1 << prefixBits) - 1;
  let value = buf[pos++]! & max;
  if (value === max) {
    let shift = 0;
    for (;;) {
      if (pos >= end) throw new Http2ShimError('hpack', 'truncated integer');
      if (shift > maxIntegerShiftBits) throw new Http2ShimError('hpack', 'integer too large');
      const byte = buf[pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) break;
    }
  }
  cursor.pos = pos;
  return value;
}

/** Encodes `value` with an N-bit prefix; `firstByteFlags` fills the bits above the prefix. */
export function encodeInteger(value: number, prefixBits: number, firstByteFlags = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByteFlags | value];
  const bytes = [firstByteFlags | max];
  let rest = value - max;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return bytes;
}

/** Where a string literal's octets are, after its length prefix was read. */
export interface StringLiteral {
  huffman: boolean;
  start: number;
  end: number;
}

/** Reads a string literal's header (H bit, 7-bit-prefix length) and bounds; leaves cursor after its octets. */
export function readStringLiteral(buf: Uint8Array, cursor: HpackCursor, end: number, into: StringLiteral): void {
  if (cursor.pos >= end) throw new Http2ShimError('hpack', 'truncated string');
  const huffman = (buf[cursor.pos]! & 0x80) !== 0;
  const length = decodeInteger(buf, cursor, end, 7);
  const start = cursor.pos;
  if (length > end - start) throw new Http2ShimError('hpack', 'string runs past the header block');
  into.huffman = huffman;
  into.start = start;
  into.end = start + length;
  cursor.pos = start + length;
}

/** A raw (non-Huffman) string literal: length prefix then the octets. */
export function encodeRawStringLiteral(octets: Uint8Array): Buffer {
  const prefix = encodeInteger(octets.length, 7, 0);
  const out = Buffer.allocUnsafe(prefix.length + octets.length);
  for (let i = 0; i < prefix.length; i++) out[i] = prefix[i]!;
  out.set(octets, prefix.length);
  return out;
}
