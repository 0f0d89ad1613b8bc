// A small HPACK encoder and HTTP/2 frame builder for tests: header blocks written by hand, field by
// field, in each representation a client may choose.
import * as assert from 'uvu/assert';
import { Http2ShimError } from '../../src/adapters/http2/http2-shim-error.js';
import { huffmanCode } from '../../src/adapters/http2/hpack-huffman.js';
import { encodeInteger } from '../../src/adapters/http2/hpack-primitives.js';

export const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

export function huffmanEncode(octets: Uint8Array): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const octet of octets) {
    const { code, bits: n } = huffmanCode(octet);
    for (let i = n - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >>> i) & 1);
      if (++bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) out.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(out);
}

export function stringLiteral(value: string, huffman = false): number[] {
  const raw = Buffer.from(value, 'latin1');
  const octets = huffman ? huffmanEncode(raw) : raw;
  return [...encodeInteger(octets.length, 7, huffman ? 0x80 : 0), ...octets];
}

export type LiteralKind = 'incremental' | 'without' | 'never';
const literalPrefix: Record<LiteralKind, { bits: number; flags: number }> = {
  incremental: { bits: 6, flags: 0x40 },
  without: { bits: 4, flags: 0x00 },
  never: { bits: 4, flags: 0x10 },
};

export interface LiteralOptions {
  huffmanName?: boolean;
  huffmanValue?: boolean;
}

export const hpack = {
  indexed: (index: number): number[] => encodeInteger(index, 7, 0x80),
  sizeUpdate: (bytes: number): number[] => encodeInteger(bytes, 5, 0x20),
  /** `name` is a table index or a literal name. */
  literal(kind: LiteralKind, name: number | string, value: string, options: LiteralOptions = {}): number[] {
    const { bits, flags } = literalPrefix[kind];
    const head =
      typeof name === 'number'
        ? encodeInteger(name, bits, flags)
        : [...encodeInteger(0, bits, flags), ...stringLiteral(name, options.huffmanName)];
    return [...head, ...stringLiteral(value, options.huffmanValue)];
  },
};

export const block = (...fields: number[][]): Buffer => Buffer.from(fields.flat());

export const frameType = { data: 0x0, headers: 0x1, rstStream: 0x3, settings: 0x4, ping: 0x6, goaway: 0x7, continuation: 0x9 } as const;
export const frameFlag = { endStream: 0x1, ack: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

export interface HeadersFrameOptions {
  endStream?: boolean;
  /** Pad length: adds the PADDED flag, a pad length octet and that many zero octets. */
  padding?: number;
  /** Adds the PRIORITY flag and these 5 octets. */
  priority?: Buffer;
  /** Splits the block: the HEADERS frame gets the first `split[0]` octets, each CONTINUATION the next `split[i]`, the last the rest. */
  split?: number[];
}

/** A request's HEADERS frame (and CONTINUATIONs) for a header block. */
export function headersFrames(streamId: number, headerBlock: Buffer, options: HeadersFrameOptions = {}): Buffer {
  const cuts = options.split ?? [];
  const pieces: Buffer[] = [];
  let from = 0;
  for (const n of cuts) {
    pieces.push(headerBlock.subarray(from, from + n));
    from += n;
  }
  pieces.push(headerBlock.subarray(from));
  const frames: Buffer[] = [];
  pieces.forEach((piece, i) => {
    const last = i === pieces.length - 1;
    if (i === 0) {
      let flags = (last ? frameFlag.endHeaders : 0) | (options.endStream ? frameFlag.endStream : 0);
      const parts: Buffer[] = [];
      if (options.padding !== undefined) {
        flags |= frameFlag.padded;
        parts.push(Buffer.from([options.padding]));
      }
      if (options.priority !== undefined) {
        flags |= frameFlag.priority;
        parts.push(options.priority);
      }
      parts.push(piece);
      if (options.padding !== undefined) parts.push(Buffer.alloc(options.padding));
      frames.push(frame(frameType.headers, flags, streamId, Buffer.concat(parts)));
    } else {
      frames.push(frame(frameType.continuation, last ? frameFlag.endHeaders : 0, streamId, piece));
    }
  });
  return Buffer.concat(frames);
}

export interface ParsedFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Splits bytes (without a preface) into frames; trailing partial bytes are ignored. */
export function parseFrames(bytes: Buffer): ParsedFrame[] {
  const frames: ParsedFrame[] = [];
  let at = 0;
  while (bytes.length - at >= 9) {
    const length = bytes.readUIntBE(at, 3);
    if (bytes.length - at - 9 < length) break;
    frames.push({
      type: bytes[at + 3]!,
      flags: bytes[at + 4]!,
      streamId: bytes.readUInt32BE(at + 5) & 0x7fffffff,
      payload: bytes.subarray(at + 9, at + 9 + length),
    });
    at += 9 + length;
  }
  return frames;
}

/** Asserts that fn throws the shim's error of the given kind (and message, when given). */
export function throwsKind(fn: () => unknown, kind: string, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, Http2ShimError);
    assert.is((err as Http2ShimError).kind, kind);
    if (message) assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected a ${kind} error`);
}
