// HPACK header block decoding (RFC 7541) for the HTTP/2 engine: representations, the dynamic table
// and the header list size. Fields go straight to a sink as latin1 strings, so a block is decoded
// without an object or array per field; strings of indexed fields are the table's own strings.
import { huffmanDecode, huffmanMaxDecodedBytes } from '../http2/hpack-huffman.js';
import { staticNames, staticTableLength, staticValues } from './hpack-static-table.js';

/** Malformed or over-limit header block; the connection answers with COMPRESSION_ERROR. */
export class HpackError extends Error {
  override name = 'HpackError';
}

export interface HeaderSink {
  header(name: string, value: string): void;
}

/** Node's latin1 view of a buffer: one native call, no encoding lookup (not in @types/node). */
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
}

/** RFC 7541 §4.1: an entry's size is its name and value octets plus 32. */
const entryOverheadBytes = 32;
/** Continuation octets after an integer's prefix; 4 allow values up to 2^28, far above any real block. */
const maxIntegerContinuationOctets = 4;
const defaultMaxTableBytes = 4096;
const initialRingSlots = 32;
/** The Huffman scratch buffer starts at this size and doubles as needed. */
const initialScratchBytes = 256;

export class HpackDecoder {
  /** Our SETTINGS_HEADER_TABLE_SIZE: the most a peer's size update may ask for. */
  readonly maxTableBytes: number;
  /** The table's current maximum size, as last set by the peer (starts at maxTableBytes). */
  private tableLimitBytes: number;
  private tableBytes = 0;
  // Ring buffer of entries, newest at `head`, older ones at head+1, head+2, ... (mod slots).
  private names: string[];
  private values: string[];
  private mask: number;
  private head = 0;
  private count = 0;
  /** Read position inside decode(), a field so the readers below return only their value. */
  private pos = 0;
  private scratch: Latin1Buffer = Buffer.allocUnsafe(initialScratchBytes) as Latin1Buffer;
  /** Set once a block failed: the table may then be out of step with the peer's, so nothing more is decoded. */
  private failed = false;

  constructor(maxTableBytes: number = defaultMaxTableBytes) {
    if (!Number.isInteger(maxTableBytes) || maxTableBytes < 0) throw new RangeError(`bad HPACK table size ${maxTableBytes}`);
    this.maxTableBytes = maxTableBytes;
    this.tableLimitBytes = maxTableBytes;
    this.names = new Array<string>(initialRingSlots).fill('');
    this.values = new Array<string>(initialRingSlots).fill('');
    this.mask = initialRingSlots - 1;
  }

  /** The dynamic table's current size in octets (RFC 7541 §4.1). */
  get dynamicTableBytes(): number {
    return this.tableBytes;
  }

  /** The dynamic table's current maximum size, as the peer last set it. */
  get dynamicTableLimitBytes(): number {
    return this.tableLimitBytes;
  }

  /** Number of entries in the dynamic table. */
  get dynamicTableLength(): number {
    return this.count;
  }

  /**
   * Decodes one complete header block block[start, end) (HEADERS and CONTINUATION payloads joined) and
   * calls sink.header for each field in order. Returns the header list size as RFC 7540 §6.5.2 counts
   * it. Throws HpackError on malformed input and once the list size exceeds maxHeaderListBytes, when
   * given. A block that throws may leave the dynamic table out of step with the peer's (fields after
   * the error were not applied), so every later call throws too: the connection must end with
   * COMPRESSION_ERROR. The same holds when sink.header throws.
   */
  decode(block: Uint8Array, start: number, end: number, sink: HeaderSink, maxHeaderListBytes?: number): number {
    if (this.failed) throw new HpackError('HPACK decoder failed on an earlier block');
    if (start < 0 || end > block.length || start > end) throw new RangeError('header block bounds outside the buffer');
    this.failed = true;
    const buf = (Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength)) as Latin1Buffer;
    const listLimit = maxHeaderListBytes ?? Infinity;
    let listBytes = 0;
    let fieldSeen = false;
    this.pos = start;
    while (this.pos < end) {
      const first = buf[this.pos]!;
      let name: string;
      let value: string;
      if (first & 0x80) {
        // §6.1 indexed header field
        const index = this.readInteger(buf, end, 7);
        if (index === 0) throw new HpackError('indexed header field with index 0');
        if (index <= staticTableLength) {
          name = staticNames[index]!;
          value = staticValues[index]!;
        } else {
          const slot = this.dynamicSlot(index);
          name = this.names[slot]!;
          value = this.values[slot]!;
        }
      } else if (first & 0x40) {
        // §6.2.1 literal with incremental indexing
        name = this.readName(buf, end, 6);
        value = this.readString(buf, end);
        this.insert(name, value);
      } else if (first & 0x20) {
        // §6.3 dynamic table size update, allowed only before the first field (§4.2)
        if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
        const size = this.readInteger(buf, end, 5);
        if (size > this.maxTableBytes) throw new HpackError(`dynamic table size update to ${size} above the limit ${this.maxTableBytes}`);
        this.tableLimitBytes = size;
        this.evictTo(size);
        continue;
      } else {
        // §6.2.2 without indexing (0000xxxx), §6.2.3 never indexed (0001xxxx): the same to a decoder
        name = this.readName(buf, end, 4);
        value = this.readString(buf, end);
      }
      fieldSeen = true;
      listBytes += name.length + value.length + entryOverheadBytes;
      if (listBytes > listLimit) throw new HpackError(`header list larger than ${listLimit} octets`);
      sink.header(name, value);
    }
    this.failed = false;
    return listBytes;
  }

  /** §5.1: an integer with an N-bit prefix at this.pos. */
  private readInteger(buf: Buffer, end: number, prefixBits: number): number {
    let pos = this.pos;
    const max = (1 << prefixBits) - 1;
    let value = buf[pos++]! & max;
    if (value === max) {
      let shift = 0;
      for (let n = 0; ; n++) {
        if (pos >= end) throw new HpackError('truncated integer');
        if (n === maxIntegerContinuationOctets) throw new HpackError('integer too large');
        const octet = buf[pos++]!;
        value += (octet & 0x7f) << shift;
        shift += 7;
        if ((octet & 0x80) === 0) break;
      }
    }
    this.pos = pos;
    return value;
  }

  /** A literal's name: an index in the N-bit prefix, or 0 and a string literal. */
  private readName(buf: Latin1Buffer, end: number, prefixBits: number): string {
    const index = this.readInteger(buf, end, prefixBits);
    if (index === 0) return this.readString(buf, end);
    if (index <= staticTableLength) return staticNames[index]!;
    return this.names[this.dynamicSlot(index)]!;
  }

  /** §5.2: a string literal at this.pos, raw or Huffman-coded. */
  private readString(buf: Latin1Buffer, end: number): string {
    if (this.pos >= end) throw new HpackError('truncated string');
    const huffman = (buf[this.pos]! & 0x80) !== 0;
    const length = this.readInteger(buf, end, 7);
    const from = this.pos;
    if (length > end - from) throw new HpackError('truncated string');
    this.pos = from + length;
    if (!huffman) return buf.latin1Slice(from, from + length);
    const need = huffmanMaxDecodedBytes(length);
    if (need > this.scratch.length) {
      let size = this.scratch.length * 2;
      while (size < need) size *= 2;
      this.scratch = Buffer.allocUnsafe(size) as Latin1Buffer;
    }
    const decoded = huffmanDecode(buf, from, from + length, this.scratch);
    if (decoded < 0) throw new HpackError('bad Huffman code (EOS, or padding longer than 7 bits or not all ones)');
    return this.scratch.latin1Slice(0, decoded);
  }

  /** The ring slot of dynamic index `index` (> staticTableLength); throws past the table. */
  private dynamicSlot(index: number): number {
    const age = index - staticTableLength - 1;
    if (age >= this.count) throw new HpackError(`header table index ${index} past the table (${staticTableLength + this.count} entries)`);
    return (this.head + age) & this.mask;
  }

  /** §4.4: evicts oldest entries to make room; an entry larger than the whole table empties it and is not added. */
  private insert(name: string, value: string): void {
    const size = name.length + value.length + entryOverheadBytes;
    if (size > this.tableLimitBytes) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.tableLimitBytes - size);
    if (this.count === this.mask + 1) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.tableBytes += size;
  }

  /** Evicts oldest entries until the table holds at most `bytes` octets. */
  private evictTo(bytes: number): void {
    while (this.tableBytes > bytes) {
      const slot = (this.head + this.count - 1) & this.mask;
      this.tableBytes -= this.names[slot]!.length + this.values[slot]!.length + entryOverheadBytes;
      // drop the strings so an evicted entry does not keep memory alive
      this.names[slot] = '';
      this.values[slot] = '';
      this.count--;
    }
  }

  /** Doubles the ring, oldest entries moved into place so newest stays at slot 0. */
  private grow(): void {
    const slots = (this.mask + 1) * 2;
    const names = new Array<string>(slots).fill('');
    const values = new Array<string>(slots).fill('');
    for (let age = 0; age < this.count; age++) {
      const slot = (this.head + age) & this.mask;
      names[age] = this.names[slot]!;
      values[age] = this.values[slot]!;
    }
    this.names = names;
    this.values = values;
    this.mask = slots - 1;
    this.head = 0;
  }
}
