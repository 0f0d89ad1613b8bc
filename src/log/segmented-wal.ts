// An append-only log of numbered entries in segment files, apart from the engine (as etcd keeps its
// WAL apart from its backend). All I/O is async `fs` on the libuv pool, so an fdatasync never stalls
// the event loop.
//
// Files in dir: <first index, 16 hex digits>.wal, e.g. 0000000000000001.wal, so names sort by index.
// Each is a record file (src/storage/record-file.ts) whose record payload is the entry's index
// (u64le) followed by its bytes; the index makes a gap or misordering detectable at open.
//
// Durability: an append with sync ends in one fdatasync; it also covers every earlier append, since
// the segment it lands in is fdatasynced before a new one is started. A crash mid-append can leave a
// torn tail only in the last segment; open cuts it off. Anything else unreadable is an error.

import { open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { makeDirDurable } from '../storage/durable-dir.js';
import { join } from 'node:path';
import { EtcdError } from '../core/errors.js';
import { fsyncDir, hasMagic, magicBytes, readRecords, recordHeaderBytes, seal } from '../storage/record-file.js';

/** Segment size past which the next append starts a new segment. */
export const defaultMaxSegmentBytes = 64 * 1024 * 1024;
/** Largest entry; the record length field is a u32. */
export const maxEntryBytes = 512 * 1024 * 1024;

export interface SegmentedWalOptions {
  readonly maxSegmentBytes?: number;
}

export interface WalEntry {
  readonly index: number;
  readonly bytes: Buffer;
}

export interface SegmentedWal {
  /** Index of the oldest entry held; 0 when nothing was ever appended. */
  readonly firstIndex: number;
  /** Index of the newest entry appended (and written); 0 when nothing was ever appended. */
  readonly lastIndex: number;
  /**
   * Appends entries whose indices continue, without gaps, from those of earlier calls. Calls are
   * written in call order; one write per call, and with sync one fdatasync. After a failed write
   * every later call fails too.
   */
  append(entries: readonly WalEntry[], sync: boolean): Promise<void>;
  /** Entries with index >= `index`, in order, up to the lastIndex when iteration starts. */
  readFrom(index: number): AsyncIterable<WalEntry>;
  /** Deletes whole segments whose every entry is below `index`; never the segment being appended to. */
  truncateBefore(index: number): Promise<void>;
  /** Waits for queued appends, makes them durable and releases the files. */
  close(): Promise<void>;
}

const segmentMagic = Buffer.from('LATLOG01', 'latin1');
const indexBytes = 8;
const segmentNamePattern = /^([0-9a-f]{16})\.wal$/;

interface Segment {
  /** Index its first entry has (or will have): the number in its name. */
  readonly first: number;
  readonly path: string;
  /** Index of its last entry; first - 1 while it is empty. */
  last: number;
  bytes: number;
}

/** Opens (creating if missing) the WAL in dir, validating every segment and cutting a torn tail. */
export async function openSegmentedWal(dir: string, options: SegmentedWalOptions = {}): Promise<SegmentedWal> {
  const maxSegmentBytes = options.maxSegmentBytes ?? defaultMaxSegmentBytes;
  if (!(maxSegmentBytes > 0)) throw new RangeError('maxSegmentBytes must be positive');
  await makeDirDurable(dir);
  const names = (await readdir(dir)).filter((n) => segmentNamePattern.test(n)).sort();
  const segments: Segment[] = [];
  let active: FileHandle | undefined;
  try {
    for (const [i, name] of names.entries()) {
      const first = parseInt(name.slice(0, 16), 16);
      const segment: Segment = { first, path: join(dir, name), last: first - 1, bytes: magicBytes };
      const previous = segments.at(-1);
      if (previous !== undefined && first !== previous.last + 1) {
        throw corrupt(dir, `${name} starts at index ${first} but the segment before it ends at ${previous.last}`);
      }
      const isLast = i === names.length - 1;
      const handle = await open(segment.path, isLast ? 'r+' : 'r');
      try {
        await validateSegment(handle, segment, isLast);
      } catch (err) {
        await handle.close();
        throw err;
      }
      if (isLast) active = handle;
      else await handle.close();
      segments.push(segment);
    }
  } catch (err) {
    await active?.close();
    throw err;
  }
  return new FileWal(dir, segments, active, maxSegmentBytes);
}

/** Reads a segment through, checking indices; the last one's torn tail is cut off, not an error. */
async function validateSegment(handle: FileHandle, segment: Segment, isLast: boolean): Promise<void> {
  const size = (await handle.stat()).size;
  if (isLast && size < magicBytes) {
    // Crashed while creating it: nothing was ever acknowledged from this file.
    await handle.truncate(0);
    await writeFully(handle, segmentMagic, 0);
    await handle.datasync();
    return;
  }
  if (!(await hasMagic(handle, segmentMagic))) throw corrupt(segment.path, `does not start with ${segmentMagic.toString('latin1')}`);
  let end = magicBytes;
  for await (const { payload, end: recordEnd } of readRecords(handle, size)) {
    const index = payload.length >= indexBytes ? readIndex(payload, 0) : -1;
    if (index !== segment.last + 1) {
      throw corrupt(segment.path, `the record at offset ${end} holds index ${index}, expected ${segment.last + 1}`);
    }
    segment.last = index;
    end = recordEnd;
  }
  if (end < size) {
    if (!isLast) throw corrupt(segment.path, `unreadable record at offset ${end} (the file has ${size} bytes)`);
    await handle.truncate(end);
    await handle.datasync();
  }
  segment.bytes = end;
}

class FileWal implements SegmentedWal {
  /** Index the next appended entry must have, counting appends still queued. */
  private nextIndex: number;
  private appending: Promise<void> = Promise.resolve();
  private truncating: Promise<void> = Promise.resolve();
  /** Whether the active segment has writes not yet fdatasynced. */
  private dirty = false;
  /** Set on the first failed write; from then on appends reject (the file may hold part of a batch). */
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private segments: Segment[],
    private active: FileHandle | undefined,
    private readonly maxSegmentBytes: number,
  ) {
    this.nextIndex = this.lastIndex + 1;
  }

  get firstIndex(): number {
    return this.segments[0]?.first ?? 0;
  }

  get lastIndex(): number {
    return this.segments.at(-1)?.last ?? 0;
  }

  append(entries: readonly WalEntry[], sync: boolean): Promise<void> {
    const unusable = this.closing !== undefined ? closedError() : this.failure;
    if (unusable !== undefined) return Promise.reject(unusable);
    if (entries.length === 0) return Promise.resolve();
    let batch: Buffer;
    try {
      batch = this.encode(entries);
    } catch (err) {
      return Promise.reject(err);
    }
    const first = this.nextIndex;
    this.nextIndex += entries.length;
    const written = this.appending.then(() => this.write(batch, first, entries.length, sync));
    this.appending = written.catch(() => undefined);
    return written;
  }

  async *readFrom(index: number): AsyncGenerator<WalEntry> {
    const upTo = this.lastIndex;
    for (const segment of [...this.segments]) {
      if (segment.last < index || segment.last < segment.first) continue;
      if (segment.first > upTo) return;
      // A handle of its own: the active segment's handle is written at the same time.
      const handle = await open(segment.path, 'r').catch((err: unknown) => {
        throw errorCode(err) === 'ENOENT' ? new Error(`log WAL: ${segment.path} was truncated away while being read`) : err;
      });
      try {
        const size = segment.bytes;
        let expected = segment.first;
        for await (const { payload } of readRecords(handle, size)) {
          if (expected > upTo) return;
          if (readIndex(payload, 0) !== expected) throw corrupt(segment.path, `index ${readIndex(payload, 0)} where ${expected} was expected`);
          // A copy, so what the caller keeps does not pin the whole read chunk.
          if (expected >= index) yield { index: expected, bytes: Buffer.from(payload.subarray(indexBytes)) };
          expected++;
        }
        if (expected <= Math.min(segment.last, upTo)) throw corrupt(segment.path, `entries from ${expected} are unreadable`);
      } finally {
        await handle.close();
      }
    }
  }

  truncateBefore(index: number): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(closedError());
    const done = this.truncating.then(() => this.deleteSegmentsBefore(index));
    this.truncating = done.catch(() => undefined);
    return done;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await this.appending;
    await this.truncating;
    if (this.active === undefined) return;
    try {
      if (this.dirty && this.failure === undefined) await this.active.datasync();
    } finally {
      await this.active.close();
      this.active = undefined;
    }
  }

  private encode(entries: readonly WalEntry[]): Buffer {
    let size = 0;
    for (const [i, entry] of entries.entries()) {
      if (entry.index !== this.nextIndex + i) {
        throw new RangeError(`log WAL: append of index ${entry.index} where ${this.nextIndex + i} was expected`);
      }
      if (entry.bytes.length > maxEntryBytes) throw new RangeError(`log WAL: entry of ${entry.bytes.length} bytes exceeds maxEntryBytes (${maxEntryBytes})`);
      size += recordHeaderBytes + indexBytes + entry.bytes.length;
    }
    const batch = Buffer.allocUnsafe(size);
    let at = 0;
    for (const entry of entries) {
      const end = at + recordHeaderBytes + indexBytes + entry.bytes.length;
      writeIndex(batch, at + recordHeaderBytes, entry.index);
      entry.bytes.copy(batch, at + recordHeaderBytes + indexBytes);
      seal(batch.subarray(at, end));
      at = end;
    }
    return batch;
  }

  private async write(batch: Buffer, first: number, count: number, sync: boolean): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    try {
      let segment = this.segments.at(-1);
      if (segment === undefined || this.active === undefined || (segment.last >= segment.first && segment.bytes + batch.length > this.maxSegmentBytes)) {
        segment = await this.startSegment(first);
      }
      const handle = this.active;
      if (handle === undefined) throw new Error('log WAL: no active segment');
      await writeFully(handle, batch, segment.bytes);
      this.dirty = true;
      if (sync) {
        await handle.datasync();
        this.dirty = false;
      }
      segment.bytes += batch.length;
      segment.last = first + count - 1;
    } catch (err) {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
      throw this.failure;
    }
  }

  /** Ends the active segment durably and starts a new, empty one whose entries begin at first. */
  private async startSegment(first: number): Promise<Segment> {
    if (this.active !== undefined) {
      if (this.dirty) await this.active.datasync();
      this.dirty = false;
      await this.active.close();
      this.active = undefined;
    }
    const path = join(this.dir, segmentName(first));
    const handle = await open(path, 'wx+');
    try {
      await writeFully(handle, segmentMagic, 0);
      await handle.datasync();
      await fsyncDir(this.dir);
    } catch (err) {
      await handle.close();
      throw err;
    }
    const segment: Segment = { first, path, last: first - 1, bytes: magicBytes };
    this.active = handle;
    this.segments = [...this.segments, segment];
    return segment;
  }

  private async deleteSegmentsBefore(index: number): Promise<void> {
    // Oldest first, each deletion made durable before the next, so a crash never leaves a gap.
    for (;;) {
      const [oldest, next] = this.segments;
      if (oldest === undefined || next === undefined || oldest.last >= index) return;
      this.segments = this.segments.slice(1);
      await rm(oldest.path, { force: true });
      await fsyncDir(this.dir);
    }
  }
}

function segmentName(first: number): string {
  return `${first.toString(16).padStart(16, '0')}.wal`;
}

function writeIndex(buffer: Buffer, at: number, index: number): void {
  buffer.writeUInt32LE(index % 0x1_0000_0000, at);
  buffer.writeUInt32LE(Math.floor(index / 0x1_0000_0000), at + 4);
}

function readIndex(buffer: Buffer, at: number): number {
  return buffer.readUInt32LE(at) + buffer.readUInt32LE(at + 4) * 0x1_0000_0000;
}

async function writeFully(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesWritten } = await handle.write(buffer, done, buffer.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`log WAL: short write (${done} of ${buffer.length} bytes)`);
    done += bytesWritten;
  }
}

function corrupt(path: string, detail: string): Error {
  return new Error(`log WAL: ${path} is corrupt: ${detail}`);
}

function closedError(): EtcdError {
  return new EtcdError('stopped', 'log WAL is closed');
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
