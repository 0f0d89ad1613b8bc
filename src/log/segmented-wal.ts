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
// torn tail only in the unsynced end of the last segment; open cuts it off. Anything else
// unreadable is a CorruptFileError naming the file and offset (the rule: record-file.ts).

import { join } from 'node:path';
import { EtcdError } from '../core/errors.js';
import { makeDirDurable } from '../storage/durable-dir.js';
import { errorCode, nodeFileSystem, writeFully, type DurableFile, type FileSystem } from '../storage/file-system.js';
import { GroupCommit } from '../storage/group-commit.js';
import { CorruptFileError, fileHeaderBytes, newFileHeader, readFileHeader, readRecords, recordHeaderBytes, seal } from '../storage/record-file.js';

/** Segment size past which the next append starts a new segment. */
export const defaultMaxSegmentBytes = 64 * 1024 * 1024;
/** Largest entry; the record length field is a u32. */
export const maxEntryBytes = 512 * 1024 * 1024;

export interface SegmentedWalOptions {
  readonly maxSegmentBytes?: number;
  readonly fs?: FileSystem;
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
  /** The failure that stopped appends, if any (see append). */
  readonly failure: Error | undefined;
  /**
   * Appends entries whose indices continue, without gaps, from those of earlier calls. Calls are
   * written in call order; calls queued behind a write share the next one, with one fdatasync if
   * any asked for sync. After a failed write or sync every later call fails with that failure.
   */
  append(entries: readonly WalEntry[], sync: boolean): Promise<void>;
  /** Entries with index >= `index`, in order, up to the lastIndex when iteration starts. */
  readFrom(index: number): AsyncIterable<WalEntry>;
  /** Deletes whole segments whose every entry is below `index`; never the segment being appended to. */
  truncateBefore(index: number): Promise<void>;
  /** Waits for queued appends, makes them durable and releases the files. */
  close(): Promise<void>;
}

const segmentMagic = Buffer.from('LATLOG03', 'latin1');
const indexBytes = 8;
const segmentNamePattern = /^([0-9a-f]{16})\.wal$/;
/** Bytes of queued appends written (and synced) together. */
const maxAppendGroupBytes = 16 * 1024 * 1024;

interface Segment {
  /** Index its first entry has (or will have): the number in its name. */
  readonly first: number;
  readonly path: string;
  /** Index of its last entry; first - 1 while it is empty. */
  last: number;
  bytes: number;
  /** Bytes known to be on stable storage; records carry it so a reader can tell torn from corrupt. */
  synced: number;
  /** The file's salt (record-file.ts), sealed into each of its records. */
  salt: Buffer;
}

/** An encoded append: records with their headers left for sealing at write time. */
interface Append {
  readonly batch: Buffer;
  /** Offset in batch of each record's start, then the batch's length. */
  readonly bounds: readonly number[];
  readonly first: number;
  readonly count: number;
  readonly sync: boolean;
}

/** Opens (creating if missing) the WAL in dir, validating every segment and cutting a torn tail. */
export async function openSegmentedWal(dir: string, options: SegmentedWalOptions = {}): Promise<SegmentedWal> {
  const maxSegmentBytes = options.maxSegmentBytes ?? defaultMaxSegmentBytes;
  const fs = options.fs ?? nodeFileSystem;
  if (!(maxSegmentBytes > 0)) throw new RangeError('maxSegmentBytes must be positive');
  await makeDirDurable(dir, undefined, fs);
  const names = (await fs.readdir(dir)).filter((n) => segmentNamePattern.test(n)).sort();
  const segments: Segment[] = [];
  let active: DurableFile | undefined;
  try {
    for (const [i, name] of names.entries()) {
      const first = parseInt(name.slice(0, 16), 16);
      const segment: Segment = { first, path: join(dir, name), last: first - 1, bytes: fileHeaderBytes, synced: fileHeaderBytes, salt: Buffer.alloc(0) };
      const previous = segments.at(-1);
      if (previous !== undefined && first <= previous.last) {
        throw new CorruptFileError(join(dir, name), 0, `the segment starts at index ${first} but the segment before it ends at ${previous.last}`);
      }
      const isLast = i === names.length - 1;
      const handle = await fs.open(segment.path, isLast ? 'r+' : 'r');
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
    await removeTrimLeftovers(dir, fs, segments);
  } catch (err) {
    await active?.close();
    throw err;
  }
  return new FileWal(dir, fs, segments, active, maxSegmentBytes);
}

/**
 * Removes the segments before the last gap in the indices (durably, oldest first). Trimming removes
 * segments oldest first, so a gap means a trim removed what follows these segments: they are its
 * leftovers (a removal that failed or was not yet durable), all below what the engine persisted. If
 * the engine did not get that far, the store refuses to start (the log starts after its state).
 */
async function removeTrimLeftovers(dir: string, fs: FileSystem, segments: Segment[]): Promise<void> {
  let afterGap = 0;
  for (let i = 1; i < segments.length; i++) if (segments[i]!.first !== segments[i - 1]!.last + 1) afterGap = i;
  if (afterGap === 0) return;
  for (const leftover of segments.splice(0, afterGap)) {
    await fs.remove(leftover.path);
    await fs.fsyncDir(dir);
  }
}

/** Reads a segment through, checking indices; the last one's torn tail is cut off, not an error. */
async function validateSegment(handle: DurableFile, segment: Segment, isLast: boolean): Promise<void> {
  const size = (await handle.stat()).size;
  const salt = await readFileHeader(handle, segmentMagic);
  if (salt === undefined) {
    // Crashed while creating it (the header is synced before any record is written): nothing was
    // ever acknowledged from this file. A torn creation can leave the header's sector unwritten
    // while a later one landed, but never a byte that is not zero.
    if (!isLast || !(await isEmptySegment(handle, size))) throw new CorruptFileError(segment.path, 0, `it does not start with ${segmentMagic.toString('latin1')}`);
    const header = newFileHeader(segmentMagic);
    await handle.truncate(0);
    await writeFully(handle, header.bytes, 0);
    await handle.datasync();
    segment.salt = header.salt;
    return;
  }
  segment.salt = salt;
  let end = fileHeaderBytes;
  for await (const { payload, end: recordEnd } of readRecords(handle, size, { path: segment.path, salt, mayBeTorn: isLast })) {
    const index = payload.length >= indexBytes ? readIndex(payload, 0) : -1;
    if (index !== segment.last + 1) {
      throw new CorruptFileError(segment.path, end, `the record holds index ${index}, expected ${segment.last + 1}`);
    }
    segment.last = index;
    end = recordEnd;
  }
  if (end < size) await handle.truncate(end);
  // What was read may still be only in the page cache (a process crash keeps it): new records may
  // claim it synced only once it is.
  if (isLast) await handle.datasync();
  segment.bytes = end;
  segment.synced = end;
}

/** A last segment whose header is missing or cut short holds no record either when no byte past the header is set. */
async function isEmptySegment(handle: DurableFile, size: number): Promise<boolean> {
  if (size <= fileHeaderBytes) return true;
  const bytes = Buffer.alloc(size - fileHeaderBytes);
  await handle.read(bytes, 0, bytes.length, fileHeaderBytes);
  return bytes.every((b) => b === 0);
}

class FileWal implements SegmentedWal {
  /** Index the next appended entry must have, counting appends still queued. */
  private nextIndex: number;
  private truncating: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private readonly committer: GroupCommit<Append>;

  constructor(
    private readonly dir: string,
    private readonly fs: FileSystem,
    private segments: Segment[],
    private active: DurableFile | undefined,
    private readonly maxSegmentBytes: number,
  ) {
    this.nextIndex = this.lastIndex + 1;
    this.committer = new GroupCommit<Append>({
      flush: (group) => this.write(group),
      weight: (a) => a.batch.length,
      maxGroupWeight: maxAppendGroupBytes,
    });
  }

  get firstIndex(): number {
    return this.segments[0]?.first ?? 0;
  }

  get lastIndex(): number {
    return this.segments.at(-1)?.last ?? 0;
  }

  get failure(): Error | undefined {
    return this.committer.failure;
  }

  append(entries: readonly WalEntry[], sync: boolean): Promise<void> {
    const unusable = this.closing !== undefined ? closedError() : this.committer.failure;
    if (unusable !== undefined) return Promise.reject(unusable);
    if (entries.length === 0) return Promise.resolve();
    let append: Append;
    try {
      append = this.encode(entries, sync);
    } catch (err) {
      return Promise.reject(err);
    }
    this.nextIndex += entries.length;
    return this.committer.submit(append);
  }

  async *readFrom(index: number): AsyncGenerator<WalEntry> {
    const upTo = this.lastIndex;
    for (const segment of [...this.segments]) {
      if (segment.last < index || segment.last < segment.first) continue;
      if (segment.first > upTo) return;
      // A handle of its own: the active segment's handle is written at the same time.
      const handle = await this.fs.open(segment.path, 'r').catch((err: unknown) => {
        throw errorCode(err) === 'ENOENT' ? new Error(`log WAL: ${segment.path} was truncated away while being read`) : err;
      });
      try {
        // Only what this WAL wrote and validated is read, so nothing in it may be torn.
        const size = segment.bytes;
        let expected = segment.first;
        for await (const { payload, end } of readRecords(handle, size, { path: segment.path, salt: segment.salt, mayBeTorn: false })) {
          if (expected > upTo) return;
          if (readIndex(payload, 0) !== expected) throw new CorruptFileError(segment.path, end, `index ${readIndex(payload, 0)} where ${expected} was expected`);
          // A copy, so what the caller keeps does not pin the whole read chunk.
          if (expected >= index) yield { index: expected, bytes: Buffer.from(payload.subarray(indexBytes)) };
          expected++;
        }
        if (expected <= Math.min(segment.last, upTo)) throw new Error(`log WAL: ${segment.path}: entries from ${expected} are unreadable`);
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
    await this.committer.drain();
    await this.truncating;
    if (this.active === undefined) return;
    try {
      const segment = this.segments.at(-1);
      if (segment !== undefined && segment.synced < segment.bytes && this.committer.failure === undefined) await this.active.datasync();
    } finally {
      await this.active.close();
      this.active = undefined;
    }
  }

  private encode(entries: readonly WalEntry[], sync: boolean): Append {
    let size = 0;
    for (const [i, entry] of entries.entries()) {
      if (entry.index !== this.nextIndex + i) {
        throw new RangeError(`log WAL: append of index ${entry.index} where ${this.nextIndex + i} was expected`);
      }
      if (entry.bytes.length > maxEntryBytes) throw new RangeError(`log WAL: entry of ${entry.bytes.length} bytes exceeds maxEntryBytes (${maxEntryBytes})`);
      size += recordHeaderBytes + indexBytes + entry.bytes.length;
    }
    const batch = Buffer.allocUnsafe(size);
    const bounds: number[] = [];
    let at = 0;
    for (const entry of entries) {
      bounds.push(at);
      writeIndex(batch, at + recordHeaderBytes, entry.index);
      entry.bytes.copy(batch, at + recordHeaderBytes + indexBytes);
      at += recordHeaderBytes + indexBytes + entry.bytes.length;
    }
    bounds.push(at);
    return { batch, bounds, first: this.nextIndex, count: entries.length, sync };
  }

  /** Writes a group of appends with one write (and one fdatasync if any asked for it). */
  private async write(group: readonly Append[]): Promise<void> {
    const first = group[0]!.first;
    const bytes = group.reduce((sum, a) => sum + a.batch.length, 0);
    let segment = this.segments.at(-1);
    if (segment === undefined || this.active === undefined || (segment.last >= segment.first && segment.bytes + bytes > this.maxSegmentBytes)) {
      segment = await this.startSegment(first);
    }
    const handle = this.active;
    if (handle === undefined) throw new Error('log WAL: no active segment');
    for (const append of group) {
      for (let r = 0; r + 1 < append.bounds.length; r++) seal(append.batch.subarray(append.bounds[r], append.bounds[r + 1]), segment.salt, segment.synced);
    }
    await writeFully(handle, group.length === 1 ? group[0]!.batch : Buffer.concat(group.map((a) => a.batch), bytes), segment.bytes);
    segment.bytes += bytes;
    const last = group.at(-1)!;
    segment.last = last.first + last.count - 1;
    if (group.some((a) => a.sync)) {
      await handle.datasync();
      segment.synced = segment.bytes;
    }
  }

  /** Ends the active segment durably and starts a new, empty one whose entries begin at first. */
  private async startSegment(first: number): Promise<Segment> {
    const current = this.segments.at(-1);
    if (this.active !== undefined) {
      if (current !== undefined && current.synced < current.bytes) await this.active.datasync();
      if (current !== undefined) current.synced = current.bytes;
      await this.active.close();
      this.active = undefined;
    }
    const path = join(this.dir, segmentName(first));
    const handle = await this.fs.open(path, 'wx+');
    const header = newFileHeader(segmentMagic);
    try {
      await writeFully(handle, header.bytes, 0);
      await handle.datasync();
      await this.fs.fsyncDir(this.dir);
    } catch (err) {
      await handle.close();
      throw err;
    }
    const segment: Segment = { first, path, last: first - 1, bytes: fileHeaderBytes, synced: fileHeaderBytes, salt: header.salt };
    this.active = handle;
    this.segments = [...this.segments, segment];
    return segment;
  }

  private async deleteSegmentsBefore(index: number): Promise<void> {
    // Oldest first, each deletion made durable before the next, so a crash never leaves a gap. A
    // segment leaves the list only once its removal is durable; a failed removal or directory fsync
    // stops the WAL (the directory's state in the page cache can no longer be trusted).
    for (;;) {
      if (this.committer.failure !== undefined) throw this.committer.failure;
      const [oldest, next] = this.segments;
      if (oldest === undefined || next === undefined || oldest.last >= index) return;
      try {
        await this.fs.remove(oldest.path);
        await this.fs.fsyncDir(this.dir);
      } catch (err) {
        throw this.committer.fail(err);
      }
      this.segments = this.segments.slice(1);
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

function closedError(): EtcdError {
  return new EtcdError('stopped', 'log WAL is closed');
}
