// Files of checksummed records, shared by the memory engine (WAL, snapshot) and the segmented log WAL.
//
// Layout: an 8-byte magic naming the file kind, then records: u32le payload length, u32le
// crc32(payload), payload. A crash mid-append leaves a tail that is short or fails its CRC; readers
// stop there and say where, so the owner decides whether that is a torn tail (cut it) or corruption.

import { open, type FileHandle } from 'node:fs/promises';
import zlib from 'node:zlib';

export const magicBytes = 8;
export const recordHeaderBytes = 8;
/** Bytes read per call while scanning a file. */
export const defaultReadChunkBytes = 4 * 1024 * 1024;

export const crc32: (data: Uint8Array) => number =
  typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) : tableCrc32;

/** Fills in the length and CRC of a record whose payload follows an 8-byte gap. */
export function seal(record: Buffer): Buffer {
  const payload = record.subarray(recordHeaderBytes);
  record.writeUInt32LE(payload.length, 0);
  record.writeUInt32LE(crc32(payload), 4);
  return record;
}

/** Whether the file starts with magic (false also when it is shorter than the magic). */
export async function hasMagic(handle: FileHandle, magic: Buffer): Promise<boolean> {
  const header = Buffer.alloc(magicBytes);
  const { bytesRead } = await handle.read(header, 0, magicBytes, 0);
  return bytesRead === magicBytes && header.equals(magic);
}

export interface RecordAt {
  /** A view into a read buffer that is never reused, so it stays valid; copy it to keep it small. */
  readonly payload: Buffer;
  /** File offset just past this record. */
  readonly end: number;
}

/**
 * Yields each intact record in [start, size) in order. It stops at the end or at the first short or
 * CRC-failing record; the caller compares the last `end` (or start) with size to tell them apart.
 */
export async function* readRecords(
  handle: FileHandle,
  size: number,
  start = magicBytes,
  readChunkBytes = defaultReadChunkBytes,
): AsyncGenerator<RecordAt> {
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
      const { bytesRead } = await handle.read(next, filled, next.length - filled, readFrom + filled - have);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    buffer = next.subarray(0, filled);
    bufferStart = position;
  };

  while (size - position >= recordHeaderBytes) {
    await ensure(recordHeaderBytes);
    const at = position - bufferStart;
    if (buffer.length - at < recordHeaderBytes) return; // the file shrank under us
    const length = buffer.readUInt32LE(at);
    const checksum = buffer.readUInt32LE(at + 4);
    // A record running past the end is a write torn by a crash: the readable part ends here.
    if (length > size - position - recordHeaderBytes) return;
    await ensure(recordHeaderBytes + length);
    const from = position - bufferStart + recordHeaderBytes;
    const payload = buffer.subarray(from, from + length);
    if (payload.length !== length) return;
    // Writers never write an empty record, and an all-zero header would pass the CRC (crc32 of
    // nothing is 0): zeros are what some filesystems leave where a crash cut a write short.
    if (length === 0 || crc32(payload) !== checksum) {
      const recordEnd = position + recordHeaderBytes + length;
      if (length === 0 || (await isAllZero(handle, recordEnd, size))) return;
      // A bad record with real data after it is not a torn tail: cutting here would drop records
      // that were synced. Refuse, as etcd does on a CRC mismatch.
      throw new Error(`record at offset ${position} fails its checksum and ${size - recordEnd} bytes follow it: the file is corrupt`);
    }
    position += recordHeaderBytes + length;
    yield { payload, end: position };
  }
}

/**
 * Calls onPayload for each intact record after the magic, in order. Returns the offset where intact
 * records end: the file size, or the start of the first short or CRC-failing record.
 */
export async function scanRecords(handle: FileHandle, size: number, onPayload: (payload: Buffer) => void): Promise<number> {
  let end = magicBytes;
  for await (const record of readRecords(handle, size)) {
    onPayload(record.payload);
    end = record.end;
  }
  return end;
}

/** Makes creations, renames and deletions in dir durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

let crcTable: Uint32Array | undefined;

/** Fallback for Node < 20.15, which lacks zlib.crc32. Same polynomial (IEEE 802.3). */
function tableCrc32(data: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = (crcTable[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Whether every byte of the file from `from` to `size` is zero (nothing real was written there). */
async function isAllZero(handle: FileHandle, from: number, size: number): Promise<boolean> {
  const chunk = Buffer.allocUnsafe(Math.min(defaultReadChunkBytes, Math.max(size - from, 1)));
  for (let at = from; at < size; ) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, size - at), at);
    if (bytesRead === 0) return true;
    for (let i = 0; i < bytesRead; i++) if (chunk[i] !== 0) return false;
    at += bytesRead;
  }
  return true;
}
