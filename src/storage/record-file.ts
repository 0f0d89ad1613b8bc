// Files of checksummed records, shared by the memory engine (WAL, snapshot) and the segmented log WAL.
//
// Layout: an 8-byte magic naming the file kind, then records:
//   u32le payload length | u32le crc32(synced-through ‖ payload) | u64le synced-through | payload
// "Synced through" is the offset up to which the file was known durable (fdatasynced) when the
// record was written; it is what tells a torn tail from corruption after a crash (docs/design.md,
// "Torn tail or corruption"):
// - A file that is not being appended to (a sealed segment, a snapshot, wal.prev) was wholly synced:
//   any bad record in it is corruption.
// - In the file being appended to, a bad record at offset P is a torn tail, cut off at open, unless
//   some intact record after it says the file was synced past P: then P was on stable storage and
//   is damaged, and the open fails naming the file and offset. Records of an unsynced write can
//   land in any order (a later sector present, an earlier one missing), so intact records after P
//   prove nothing by themselves; only their synced-through mark does.

import zlib from 'node:zlib';
import type { DurableFile } from './file-system.js';

export const magicBytes = 8;
export const recordHeaderBytes = 16;
/** Bytes read per call while scanning a file. */
export const defaultReadChunkBytes = 4 * 1024 * 1024;

export const crc32: (data: Uint8Array, initial?: number) => number =
  typeof zlib.crc32 === 'function' ? (data, initial = 0) => zlib.crc32(data, initial) : tableCrc32;

/** A record file damaged where it had been synced: starting would silently lose acknowledged data. */
export class CorruptFileError extends Error {
  constructor(
    readonly path: string,
    readonly offset: number,
    readonly detail: string,
  ) {
    super(
      `${path} is corrupt at offset ${offset}: ${detail}. Nothing was changed. To start anyway, losing what the file holds from that ` +
        `offset on, run: lattice-repair cut ${path} ${offset} (see docs/operations.md, "Recovering from a corruption error")`,
    );
    this.name = 'CorruptFileError';
  }
}

/** Fills in the length, synced-through mark and CRC of a record whose payload follows a 16-byte gap. */
export function seal(record: Buffer, syncedThrough = 0): Buffer {
  const payload = record.subarray(recordHeaderBytes);
  record.writeUInt32LE(payload.length, 0);
  writeU64(record, 8, syncedThrough);
  record.writeUInt32LE(crc32(payload, crc32(record.subarray(8, recordHeaderBytes))), 4);
  return record;
}

/** Whether the file starts with magic (false also when it is shorter than the magic). */
export async function hasMagic(file: DurableFile, magic: Buffer): Promise<boolean> {
  const header = Buffer.alloc(magicBytes);
  const { bytesRead } = await file.read(header, 0, magicBytes, 0);
  return bytesRead === magicBytes && header.equals(magic);
}

export interface RecordAt {
  /** A view into a read buffer that is never reused, so it stays valid; copy it to keep it small. */
  readonly payload: Buffer;
  /** File offset just past this record. */
  readonly end: number;
}

export interface ReadRecordsOptions {
  /** Named in a corruption error. */
  readonly path: string;
  /** Whether the file is the one being appended to, so that its unsynced end may be torn. */
  readonly mayBeTorn: boolean;
  readonly start?: number;
  readonly readChunkBytes?: number;
}

/**
 * Yields each intact record in [start, size) in order. A bad record (short, failing its CRC) ends
 * the iteration if it can be a torn tail (see the file comment); otherwise it throws
 * CorruptFileError. The caller compares the last `end` (or start) with size to see a torn tail.
 */
export async function* readRecords(file: DurableFile, size: number, options: ReadRecordsOptions): AsyncGenerator<RecordAt> {
  const start = options.start ?? magicBytes;
  const readChunkBytes = options.readChunkBytes ?? defaultReadChunkBytes;
  let buffer = Buffer.alloc(0);
  let bufferStart = start; // file offset of buffer[0]
  let position = start; // file offset of the next record

  const ensure = async (bytes: number): Promise<void> => {
    const have = bufferStart + buffer.length - position;
    if (have >= bytes) return;
    const readFrom = bufferStart + buffer.length;
    const next = Buffer.allocUnsafe(Math.max(bytes, Math.min(readChunkBytes, size - position)));
    buffer.copy(next, 0, position - bufferStart);
    let filled = have;
    while (filled < next.length) {
      const { bytesRead } = await file.read(next, filled, next.length - filled, readFrom + filled - have);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    buffer = next.subarray(0, filled);
    bufferStart = position;
  };

  const bad = async (detail: string): Promise<void> => {
    if (!options.mayBeTorn) throw new CorruptFileError(options.path, position, `${detail} in a file that was wholly synced`);
    const proof = await findSyncedPast(file, position, size);
    if (proof !== undefined) {
      throw new CorruptFileError(
        options.path,
        position,
        `${detail}, but the record at offset ${proof.at} was written after the file was synced through offset ${proof.syncedThrough}`,
      );
    }
  };

  while (position < size) {
    if (size - position < recordHeaderBytes) return bad('a record header is cut short by the end of the file');
    await ensure(recordHeaderBytes);
    const at = position - bufferStart;
    if (buffer.length - at < recordHeaderBytes) return bad('the file shrank while being read');
    const length = buffer.readUInt32LE(at);
    const checksum = buffer.readUInt32LE(at + 4);
    const syncedThrough = readU64(buffer, at + 8);
    if (length > size - position - recordHeaderBytes) return bad(`a record of ${length} bytes runs past the end of the file`);
    await ensure(recordHeaderBytes + length);
    // ensure may have moved the buffer: offsets into it are taken afresh.
    const header = position - bufferStart;
    const payload = buffer.subarray(header + recordHeaderBytes, header + recordHeaderBytes + length);
    if (payload.length !== length) return bad('the file shrank while being read');
    // Writers never write an empty record; an all-zero header is what a lost sector leaves.
    if (length === 0) return bad('an empty record');
    if (crc32(payload, crc32(buffer.subarray(header + 8, header + recordHeaderBytes))) !== checksum) return bad('a record fails its checksum');
    if (syncedThrough > position) return bad(`a record claims the file was synced through ${syncedThrough}, past its own offset`);
    position += recordHeaderBytes + length;
    yield { payload, end: position };
  }
}

/**
 * Calls onPayload for each intact record after the magic, in order. Returns the offset where intact
 * records end: the file size, or the start of a torn tail.
 */
export async function scanRecords(file: DurableFile, size: number, options: ReadRecordsOptions, onPayload: (payload: Buffer) => void): Promise<number> {
  let end = options.start ?? magicBytes;
  for await (const record of readRecords(file, size, options)) {
    onPayload(record.payload);
    end = record.end;
  }
  return end;
}

/**
 * Searches [from, size) byte by byte for an intact record whose synced-through mark is past
 * `from`: proof that `from` was on stable storage. Only runs when a bad record was found.
 */
async function findSyncedPast(file: DurableFile, from: number, size: number): Promise<{ at: number; syncedThrough: number } | undefined> {
  const tail = Buffer.alloc(size - from);
  let filled = 0;
  while (filled < tail.length) {
    const { bytesRead } = await file.read(tail, filled, tail.length - filled, from + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  for (let i = 1; i + recordHeaderBytes <= filled; i++) {
    const at = from + i;
    const syncedThrough = readU64(tail, i + 8);
    // A real record's mark lies between the damaged offset and its own offset; cheap filters first.
    if (!(syncedThrough > from && syncedThrough <= at)) continue;
    const length = tail.readUInt32LE(i);
    if (length === 0 || i + recordHeaderBytes + length > filled) continue;
    const checksum = crc32(tail.subarray(i + recordHeaderBytes, i + recordHeaderBytes + length), crc32(tail.subarray(i + 8, i + recordHeaderBytes)));
    if (checksum === tail.readUInt32LE(i + 4)) return { at, syncedThrough };
  }
  return undefined;
}

function writeU64(buffer: Buffer, at: number, value: number): void {
  buffer.writeUInt32LE(value % 0x1_0000_0000, at);
  buffer.writeUInt32LE(Math.floor(value / 0x1_0000_0000), at + 4);
}

function readU64(buffer: Buffer, at: number): number {
  return buffer.readUInt32LE(at) + buffer.readUInt32LE(at + 4) * 0x1_0000_0000;
}

let crcTable: Uint32Array | undefined;

/** Fallback for Node < 20.15, which lacks zlib.crc32. Same polynomial (IEEE 802.3), same chaining. */
function tableCrc32(data: Uint8Array, initial = 0): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = (initial ^ 0xffffffff) >>> 0;
  for (const byte of data) crc = (crcTable[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
