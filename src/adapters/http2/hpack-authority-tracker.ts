// Follows a client's HPACK encoder through every header block it sends on one connection, keeping a
// shadow of its dynamic table (entry sizes, and which entries are named `:authority`), to find each
// `:authority` value nghttp2 would reject. A rejected value is rewritten with `_` for each bad octet:
// same length, so the server's table entry has the same size as the client's and the two stay in step
// without touching any other field. Indexed references to such an entry need no rewrite: the server's
// copy was made from the rewritten literal.
import { isValidAuthority, sanitizeAuthority } from './authority-chars.js';
import { huffmanDecode, huffmanMaxDecodedBytes } from './hpack-huffman.js';
import {
  decodeInteger,
  encodeRawStringLiteral,
  readStringLiteral,
  type HpackCursor,
  type StringLiteral,
} from './hpack-primitives.js';
import { authorityStaticIndex, staticNameBytes, staticTableLength } from './hpack-static-table.js';
import { Http2ShimError } from './http2-shim-error.js';

/** SETTINGS_HEADER_TABLE_SIZE's default (RFC 7540 §6.5.2), which Node's http2 server leaves as is. */
export const defaultHeaderTableBytes = 4096;
/** The largest dynamic table size update accepted; nghttp2 refuses anything above its own setting anyway. */
export const maxHeaderTableBytes = 65_536;
/** RFC 7541 §4.1: an entry's size is its name and value lengths plus 32. */
const entryOverheadBytes = 32;

const authorityName = Buffer.from(':authority', 'latin1');

/** Replace block[start, end), a whole string literal (length prefix included), with `literal`. */
export interface LiteralRewrite {
  readonly start: number;
  readonly end: number;
  readonly literal: Buffer;
}

export interface HpackAuthorityTrackerOptions {
  /** The dynamic table's size before any size update (the RFC's examples use 256). */
  readonly initialTableBytes?: number;
  /** Size updates above this are rejected. */
  readonly maxTableBytes?: number;
}

export class HpackAuthorityTracker {
  private readonly maxTableBytes: number;
  private tableLimit: number;
  // ring buffer of entries, `newest` is HPACK index 62
  private readonly capacity: number;
  private readonly entrySize: Int32Array;
  private readonly entryNameBytes: Int32Array;
  private readonly entryIsAuthority: Uint8Array;
  private newest = 0;
  private count = 0;
  private used = 0;
  private scratch: Buffer = Buffer.alloc(256);
  private readonly cursor: HpackCursor = { pos: 0 };
  private readonly literal: StringLiteral = { huffman: false, start: 0, end: 0 };

  constructor(options: HpackAuthorityTrackerOptions = {}) {
    this.maxTableBytes = options.maxTableBytes ?? maxHeaderTableBytes;
    this.tableLimit = options.initialTableBytes ?? defaultHeaderTableBytes;
    if (this.tableLimit > this.maxTableBytes) throw new RangeError('initialTableBytes above maxTableBytes');
    this.capacity = Math.floor(this.maxTableBytes / entryOverheadBytes) + 1;
    this.entrySize = new Int32Array(this.capacity);
    this.entryNameBytes = new Int32Array(this.capacity);
    this.entryIsAuthority = new Uint8Array(this.capacity);
  }

  /** The dynamic table's size in RFC 7541 terms. */
  get tableBytes(): number {
    return this.used;
  }

  get entryCount(): number {
    return this.count;
  }

  /** The table's current maximum size (the last size update, else the initial size). */
  get tableLimitBytes(): number {
    return this.tableLimit;
  }

  /** Size of the entry at HPACK index 62 + age (0 = newest). */
  entryBytesAt(age: number): number {
    if (age < 0 || age >= this.count) throw new RangeError(`no dynamic table entry ${age}`);
    return this.entrySize[(this.newest + age) % this.capacity]!;
  }

  /**
   * Decodes one complete header block, updating the shadow table as the server's decoder will.
   * Returns the literals to rewrite (in block order), or undefined when every `:authority` is acceptable.
   * Throws an 'hpack' Http2ShimError on a block that does not decode.
   */
  scanBlock(block: Uint8Array): LiteralRewrite[] | undefined {
    const cursor = this.cursor;
    const literal = this.literal;
    const end = block.length;
    cursor.pos = 0;
    let rewrites: LiteralRewrite[] | undefined;
    let sawField = false;
    while (cursor.pos < end) {
      const first = block[cursor.pos]!;
      if (first & 0x80) {
        // indexed header field: no table change
        const index = decodeInteger(block, cursor, end, 7);
        if (index === 0 || index > staticTableLength + this.count) {
          throw new Http2ShimError('hpack', `header index ${index} out of range`);
        }
        sawField = true;
        continue;
      }
      if ((first & 0xe0) === 0x20) {
        if (sawField) throw new Http2ShimError('hpack', 'dynamic table size update after a header field');
        const size = decodeInteger(block, cursor, end, 5);
        if (size > this.maxTableBytes) throw new Http2ShimError('hpack', `dynamic table size ${size} too large`);
        this.tableLimit = size;
        this.evictTo(size);
        continue;
      }
      sawField = true;
      // literal: with incremental indexing (01), never indexed (0001) or without indexing (0000)
      const indexing = (first & 0xc0) === 0x40;
      const nameIndex = decodeInteger(block, cursor, end, indexing ? 6 : 4);
      let nameBytes: number;
      let isAuthority: boolean;
      if (nameIndex === 0) {
        readStringLiteral(block, cursor, end, literal);
        if (literal.huffman) {
          const scratch = this.scratchFor(literal.end - literal.start);
          nameBytes = huffmanDecode(block, literal.start, literal.end, scratch);
          if (nameBytes < 0) throw new Http2ShimError('hpack', 'bad Huffman code in a header name');
          isAuthority = isAuthorityName(scratch, 0, nameBytes);
        } else {
          nameBytes = literal.end - literal.start;
          isAuthority = isAuthorityName(block, literal.start, literal.end);
        }
      } else if (nameIndex <= staticTableLength) {
        nameBytes = staticNameBytes[nameIndex]!;
        isAuthority = nameIndex === authorityStaticIndex;
      } else {
        const age = nameIndex - staticTableLength - 1;
        if (age >= this.count) throw new Http2ShimError('hpack', `header index ${nameIndex} out of range`);
        const slot = (this.newest + age) % this.capacity;
        nameBytes = this.entryNameBytes[slot]!;
        isAuthority = this.entryIsAuthority[slot] === 1;
      }

      const valueLiteralStart = cursor.pos;
      readStringLiteral(block, cursor, end, literal);
      let valueBytes = literal.end - literal.start;
      if (isAuthority) {
        let replacement: Buffer | undefined;
        if (literal.huffman) {
          const scratch = this.scratchFor(valueBytes);
          valueBytes = huffmanDecode(block, literal.start, literal.end, scratch);
          if (valueBytes < 0) throw new Http2ShimError('hpack', 'bad Huffman code in :authority');
          if (!isValidAuthority(scratch, 0, valueBytes)) replacement = sanitizeAuthority(scratch, 0, valueBytes);
        } else if (!isValidAuthority(block, literal.start, literal.end)) {
          replacement = sanitizeAuthority(block, literal.start, literal.end);
        }
        if (replacement !== undefined) {
          (rewrites ??= []).push({ start: valueLiteralStart, end: literal.end, literal: encodeRawStringLiteral(replacement) });
        }
      } else if (indexing && literal.huffman) {
        // only the decoded length matters, for the entry's size
        valueBytes = huffmanDecode(block, literal.start, literal.end);
        if (valueBytes < 0) throw new Http2ShimError('hpack', 'bad Huffman code in a header value');
      }
      if (indexing) this.insert(nameBytes, valueBytes, isAuthority);
    }
    return rewrites;
  }

  private scratchFor(encodedBytes: number): Buffer {
    const need = huffmanMaxDecodedBytes(encodedBytes);
    if (this.scratch.length < need) this.scratch = Buffer.alloc(Math.max(need, this.scratch.length * 2));
    return this.scratch;
  }

  private insert(nameBytes: number, valueBytes: number, isAuthority: boolean): void {
    const size = nameBytes + valueBytes + entryOverheadBytes;
    if (size > this.tableLimit) {
      // RFC 7541 §4.4: an entry larger than the table empties it and is not added
      this.evictTo(0);
      return;
    }
    this.evictTo(this.tableLimit - size);
    this.newest = (this.newest + this.capacity - 1) % this.capacity;
    this.entrySize[this.newest] = size;
    this.entryNameBytes[this.newest] = nameBytes;
    this.entryIsAuthority[this.newest] = isAuthority ? 1 : 0;
    this.count++;
    this.used += size;
  }

  /** Drops the oldest entries until the table holds at most `bytes`. */
  private evictTo(bytes: number): void {
    while (this.used > bytes && this.count > 0) {
      const oldest = (this.newest + this.count - 1) % this.capacity;
      this.used -= this.entrySize[oldest]!;
      this.count--;
    }
  }
}

function isAuthorityName(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start !== authorityName.length) return false;
  for (let i = 0; i < authorityName.length; i++) if (buf[start + i] !== authorityName[i]) return false;
  return true;
}

/** `block` with each rewrite applied (rewrites in block order, not overlapping). */
export function applyRewrites(block: Uint8Array, rewrites: readonly LiteralRewrite[]): Buffer {
  let size = block.length;
  for (const r of rewrites) size += r.literal.length - (r.end - r.start);
  const out = Buffer.allocUnsafe(size);
  let from = 0;
  let to = 0;
  for (const r of rewrites) {
    out.set(block.subarray(from, r.start), to);
    to += r.start - from;
    out.set(r.literal, to);
    to += r.literal.length;
    from = r.end;
  }
  out.set(block.subarray(from), to);
  return out;
}
