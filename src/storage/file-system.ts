// The file layer every file Lattice writes goes through (the log WAL, the memory engine's WAL and
// snapshots). In production it is node:fs itself: a FileHandle, and its descriptor for writes made
// on the calling thread. Tests substitute a layer that remembers what was not yet synced and can
// simulate a power loss (test/helpers/power-loss-fs.ts); RocksDB's own files are not covered.
import { constants, writeSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';

export interface DurableFile {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  writev(buffers: readonly Buffer[], position: number): Promise<{ bytesWritten: number }>;
  /**
   * Writes the whole buffer at position on the calling thread, returning once it is written (throws
   * what write(2) fails with). A trip through libuv's thread pool costs 25-30 µs of CPU on this
   * machine, a write into the page cache about 1.5 µs; on a synced handle the thread also waits
   * for the disk (docs/design.md, "Writes on the calling thread").
   */
  writeNow(buffer: Buffer, position: number): void;
  /** Makes the file's data and size durable (not its directory entry: see FileSystem.fsyncDir). */
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ readonly size: number }>;
  close(): Promise<void>;
}

/**
 * r: read; r+: read and write an existing file; w: create or empty, write; w+: same, also read;
 * wx+: create a new file; r+sync: as r+, but a write returns only once its own bytes (and the file's
 * size) are durable (O_DSYNC). Bytes written earlier through another handle are not covered: a
 * writer uses it only when everything before the write is already synced.
 */
export type OpenFlags = 'r' | 'r+' | 'w' | 'w+' | 'wx+' | 'r+sync';

// A synced write is one trip through libuv's thread pool where write and fdatasync are two: about
// 30 µs of CPU and of latency less per durable append on this machine (docs/design.md). Where the
// platform has no O_DSYNC (Windows), opening so fails and writers fall back to write + fdatasync.
const syncedWriteFlags = constants.O_DSYNC === undefined ? undefined : constants.O_RDWR | constants.O_DSYNC;

export interface FileSystem {
  /** Rejects with an error whose `code` is ENOENT or EEXIST as node:fs does. */
  open(path: string, flags: OpenFlags): Promise<DurableFile>;
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; a missing one is not an error. */
  remove(path: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  /** mkdir -p; returns the first directory it created (undefined when dir existed). */
  mkdirs(dir: string, mode?: number): Promise<string | undefined>;
  /** The file's size, undefined when it does not exist. */
  size(path: string): Promise<number | undefined>;
  /** Makes creations, renames and removals in dir durable. */
  fsyncDir(dir: string): Promise<void>;
}

/** A FileHandle with the writes on the calling thread that FileHandle lacks. */
class NodeFile implements DurableFile {
  constructor(private readonly handle: FileHandle) {}

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return this.handle.read(buffer, offset, length, position);
  }

  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    return this.handle.write(buffer, offset, length, position);
  }

  writev(buffers: readonly Buffer[], position: number): Promise<{ bytesWritten: number }> {
    return this.handle.writev(buffers, position);
  }

  writeNow(buffer: Buffer, position: number): void {
    // The descriptor outside FileHandle's reference count: close() sets fd to -1 at once, so a write
    // after it fails with EBADF and never lands in a reused descriptor.
    let done = 0;
    while (done < buffer.length) {
      const written = writeSync(this.handle.fd, buffer, done, buffer.length - done, position + done);
      if (written === 0) throw new Error(`short write (${done} of ${buffer.length} bytes)`);
      done += written;
    }
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  stat(): Promise<{ readonly size: number }> {
    return this.handle.stat();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

export const nodeFileSystem: FileSystem = {
  open: async (path, flags) => {
    if (flags !== 'r+sync') return new NodeFile(await open(path, flags));
    if (syncedWriteFlags === undefined) throw new Error('synced writes (O_DSYNC) are not available on this platform');
    return new NodeFile(await open(path, syncedWriteFlags));
  },
  rename,
  remove: (path) => rm(path, { force: true }),
  readdir: (dir) => readdir(dir),
  mkdirs: (dir, mode) => mkdir(dir, { recursive: true, ...(mode === undefined ? {} : { mode }) }),
  size: async (path) => (await stat(path).catch(() => undefined))?.size,
  fsyncDir: async (dir) => {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

/** The errno code of a node:fs error (or of the test layer's imitation), if any. */
export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** Writes the whole buffer at position, looping over short writes. */
export async function writeFully(file: DurableFile, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesWritten } = await file.write(buffer, done, buffer.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`short write (${done} of ${buffer.length} bytes)`);
    done += bytesWritten;
  }
}
