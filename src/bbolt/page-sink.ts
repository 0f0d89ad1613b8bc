// Where the writer's pages go. Pages are appended in id order; the two meta pages, which name
// the root and the high-water mark, can only be written once everything else is, at offset 0.
// So a sink must take positional writes: a file (then streamed, see snapshot-stream.ts) or memory.

import { open, type FileHandle } from 'node:fs/promises';

export interface PageSink {
  /** The writer reuses `bytes` once the returned promise settles: a sink keeping them must copy. */
  write(bytes: Uint8Array, offset: number): Promise<void>;
}

/** A new file (truncated if it exists); close() after the writer is done. */
export class FilePageSink implements PageSink {
  private constructor(private readonly handle: FileHandle) {}

  static async create(path: string): Promise<FilePageSink> {
    return new FilePageSink(await open(path, 'w', 0o600));
  }

  async write(bytes: Uint8Array, offset: number): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, offset + done);
      done += bytesWritten;
    }
  }

  async close(options: { readonly sync: boolean }): Promise<void> {
    try {
      if (options.sync) await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }
}

/** Keeps the file in memory: for tests and small files only. */
export class MemoryPageSink implements PageSink {
  private chunks: Array<{ readonly offset: number; readonly bytes: Uint8Array }> = [];

  async write(bytes: Uint8Array, offset: number): Promise<void> {
    this.chunks.push({ offset, bytes: Uint8Array.from(bytes) });
  }

  bytes(): Uint8Array {
    const size = Math.max(0, ...this.chunks.map((chunk) => chunk.offset + chunk.bytes.length));
    const file = new Uint8Array(size);
    for (const chunk of this.chunks) file.set(chunk.bytes, chunk.offset);
    return file;
  }
}
