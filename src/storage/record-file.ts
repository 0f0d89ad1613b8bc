// Files of checksummed records, shared by the memory engine (WAL, snapshot) and the segmented log WAL.
//
// Layout: a 16-byte file header, an 8-byte magic naming the file kind and an 8-byte random salt
// chosen when the file is created, then records:
//   u32le payload length | u32le crc32(salt ‖ synced-through ‖ payload) | u64le synced-through | payload
// The salt makes a record image inside a payload (a user's value, say) fail the CRC: only the
// writer of this file can produce a record that checks. "Synced through" is the offset up to which
// the file was known durable (fdatasynced) when the record was written. Together with signs of a
// torn write they tell a torn tail from corruption after a crash (docs/design.md, "Torn tail or
// corruption"):
// - A file that is not being appended to (a sealed segment, a snapshot, wal.prev) was wholly synced:
//   any bad record in it is corruption.
// - In the file being appended to, a bad record at offset P is corruption if some intact record
//   after it says the file was synced past P (P was on stable storage). Otherwise it is a torn tail,
//   cut off at open, only if it shows a sign of a torn write, as etcd's WAL decides (isTornEntry):
//   its header is cut short by the end of the file, its length runs past the end, it is empty (an
//   all-zero header), or some piece of it within one disk sector reads as zeros (a sector that
//   never reached the disk while a later one did reads as a hole of zeros). A bad record with none
//   of these is damage (a flipped bit, say): corruption too.

import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import type { DurableFile } from './file-system.js';

export const magicBytes = 8;
const saltBytes = 8;
/** Magic and salt; records start here. */
export const fileHeaderBytes = magicBytes + saltBytes;
export const recordHeaderBytes = 16;
/** Bytes read per call while scanning a file. */
export const defaultReadChunkBytes = 4 * 1024 * 1024;
/** The unit a disk writes whole or not at all; a torn write loses whole sectors. */
export const sectorBytes = 512;

export const crc32: (data: Uint8Array, initial?: number) => number =
  typeof zlib.crc32 === 'function' ? (data, initial = 0) => zlib.crc32(data, initial) : tableCrc32;

/**
 * What an operator can do about a damaged file: cut it at the offset (a log segment or a WAL, losing
 * what it holds from there on), or restore it (a snapshot: what follows the damage cannot be rebuilt).
 */
export type Remedy = 'cut' | 'restore';

/** A record file damaged where it had been synced: starting would silently lose acknowledged data. */
export class CorruptFileError extends Error {
  constructor(
    readonly path: string,
    readonly offset: number,
    readonly detail: string,
    readonly remedy: Remedy = 'cut',
  ) {
    super(`${path} is corrupt at offset ${offset}: ${detail}. Nothing was changed. ${remedyText(path, offset, remedy)}`);
    this.name = 'CorruptFileError';
  }
}

function remedyText(path: string, offset: number, remedy: Remedy): string {
  switch (remedy) {
    case 'cut':
      return (
        `To start anyway, losing what the file holds from that offset on, run: lattice-repair cut ${path} ${offset} ` +
        `(see docs/operations.md, "Recovering from a corruption error")`
      );
    case 'restore':
      return (
        'Cutting cannot repair this file (what follows the damage cannot be rebuilt): restore the data dir from a backup, ' +
        'or replace this member from another one (see docs/operations.md, "Recovering from a corruption error")'
      );
  }
}

/** A new file's header: the magic and a fresh random salt (see the file comment). */
export function newFileHeader(magic: Buffer): { readonly bytes: Buffer; readonly salt: Buffer } {
  if (magic.length !== magicBytes) throw new RangeError(`a magic is ${magicBytes} bytes`);
  const salt = randomBytes(saltBytes);
  return { bytes: Buffer.concat([magic, salt]), salt };
}

/** The file's salt, or undefined when it does not start with magic and a whole header. */
export async function readFileHeader(file: DurableFile, magic: Buffer): Promise<Buffer | undefined> {
  const header = Buffer.alloc(fileHeaderBytes);
  const { bytesRead } = await file.read(header, 0, fileHeaderBytes, 0);
  if (bytesRead !== fileHeaderBytes || !header.subarray(0, magicBytes).equals(magic)) return undefined;
  return header.subarray(magicBytes);
}

/** Fills in the length, synced-through mark and CRC of a record whose payload follows a 16-byte gap. */
export function seal(record: Buffer, salt: Buffer, syncedThrough = 0): Buffer {
  const payload = record.subarray(recordHeaderBytes);
  record.writeUInt32LE(payload.length, 0);
  writeU64(record, 8, syncedThrough);
  record.writeUInt32LE(recordCrc(salt, record.subarray(8, recordHeaderBytes), payload), 4);
  return record;
}

function recordCrc(salt: Buffer, syncedThrough: Buffer, payload: Buffer): number {
  return crc32(payload, crc32(syncedThrough, crc32(salt)));
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
  /** The file's salt, from readFileHeader. */
  readonly salt: Buffer;
  /** Whether the file is the one being appended to, so that its unsynced end may be torn. */
  readonly mayBeTorn: boolean;
  /** Offered in a corruption error; cut unless said otherwise. */
  readonly remedy?: Remedy;
  readonly start?: number;
  readonly readChunkBytes?: number;
}

/**
 * Yields each intact record in [start, size) in order. A bad record (short, failing its CRC) ends
 * the iteration if it is a torn tail (see the file comment); otherwise it throws CorruptFileError. The caller compares the last `end` (or start) with size to see a torn tail.
 */
export async function* readRecords(file: DurableFile, size: number, options: ReadRecordsOptions): AsyncGenerator<RecordAt> {
  const start = options.start ?? fileHeaderBytes;
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

  const corrupt = (detail: string): CorruptFileError => new CorruptFileError(options.path, position, detail, options.remedy);
  /**
   * A bad record at position: returns if it is a torn tail (which ends the iteration), throws
   * otherwise. `torn` says the record itself shows a torn write; `look` asks for a zero sector in it.
   */
  const bad = async (detail: string, evidence: 'torn' | 'look'): Promise<void> => {
    if (!options.mayBeTorn) throw corrupt(`${detail} in a file that was wholly synced`);
    const proof = await findSyncedPast(file, position, size, options.salt);
    if (proof !== undefined) {
      throw corrupt(`${detail}, but the record at offset ${proof.at} was written after the file was synced through offset ${proof.syncedThrough}`);
    }
    if (evidence === 'torn') return;
    const length = await readU32At(file, position);
    if (await hasZeroSectorPiece(file, position, Math.min(size, position + recordHeaderBytes + length))) return;
    throw corrupt(`${detail}, and no part of it reads as zeros as a torn write leaves it`);
  };

  while (position < size) {
    if (size - position < recordHeaderBytes) return bad('a record header is cut short by the end of the file', 'torn');
    await ensure(recordHeaderBytes);
    const at = position - bufferStart;
    if (buffer.length - at < recordHeaderBytes) return bad('the file shrank while being read', 'torn');
    const length = buffer.readUInt32LE(at);
    const checksum = buffer.readUInt32LE(at + 4);
    const syncedThrough = readU64(buffer, at + 8);
    if (length > size - position - recordHeaderBytes) return bad(`a record of ${length} bytes runs past the end of the file`, 'torn');
    await ensure(recordHeaderBytes + length);
    // ensure may have moved the buffer: offsets into it are taken afresh.
    const header = position - bufferStart;
    const payload = buffer.subarray(header + recordHeaderBytes, header + recordHeaderBytes + length);
    if (payload.length !== length) return bad('the file shrank while being read', 'torn');
    // Writers never write an empty record; an all-zero header is what a lost sector leaves.
    if (length === 0) return bad('an empty record', 'torn');
    if (recordCrc(options.salt, buffer.subarray(header + 8, header + recordHeaderBytes), payload) !== checksum) return bad('a record fails its checksum', 'look');
    if (syncedThrough > position) return bad(`a record claims the file was synced through ${syncedThrough}, past its own offset`, 'look');
    position += recordHeaderBytes + length;
    yield { payload, end: position };
  }
}

/**
 * Calls onPayload for each intact record after the magic, in order. Returns the offset where intact
 * records end: the file size, or the start of a torn tail.
 */
export async function scanRecords(file: DurableFile, size: number, options: ReadRecordsOptions, onPayload: (payload: Buffer) => void): Promise<number> {
  let end = options.start ?? fileHeaderBytes;
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
async function findSyncedPast(file: DurableFile, from: number, size: number, salt: Buffer): Promise<{ at: number; syncedThrough: number } | undefined> {
  const tail = await readRange(file, from, size);
  for (let i = 1; i + recordHeaderBytes <= tail.length; i++) {
    const at = from + i;
    const syncedThrough = readU64(tail, i + 8);
    // A real record's mark lies between the damaged offset and its own offset; cheap filters first.
    if (!(syncedThrough > from && syncedThrough <= at)) continue;
    const length = tail.readUInt32LE(i);
    if (length === 0 || i + recordHeaderBytes + length > tail.length) continue;
    const checksum = recordCrc(salt, tail.subarray(i + 8, i + recordHeaderBytes), tail.subarray(i + recordHeaderBytes, i + recordHeaderBytes + length));
    if (checksum === tail.readUInt32LE(i + 4)) return { at, syncedThrough };
  }
  return undefined;
}

/** Whether some piece of [from, to) that lies within one disk sector is all zeros (etcd: isTornEntry). */
async function hasZeroSectorPiece(file: DurableFile, from: number, to: number): Promise<boolean> {
  const bytes = await readRange(file, from, to);
  const end = from + bytes.length;
  for (let at = from; at < end; ) {
    const next = Math.min(end, (Math.floor(at / sectorBytes) + 1) * sectorBytes);
    if (bytes.subarray(at - from, next - from).every((b) => b === 0)) return true;
    at = next;
  }
  return false;
}

async function readU32At(file: DurableFile, at: number): Promise<number> {
  const bytes = await readRange(file, at, at + 4);
  return bytes.length === 4 ? bytes.readUInt32LE(0) : 0;
}

async function readRange(file: DurableFile, from: number, to: number): Promise<Buffer> {
  const bytes = Buffer.alloc(Math.max(0, to - from));
  let filled = 0;
  while (filled < bytes.length) {
    const { bytesRead } = await file.read(bytes, filled, bytes.length - filled, from + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return bytes.subarray(0, filled);
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
