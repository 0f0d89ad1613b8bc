// Hands out page ids in file order and encodes pages straight into large write buffers: one
// buffer of writeBatchBytes is filled page after page and handed to the sink whole, then reused.

import type { PageSink } from './page-sink.js';
import type { PendingPage } from './pending-page.js';

/** Pages are gathered up to this many bytes before one sink write (a page may exceed it alone). */
export const writeBatchBytes = 1024 * 1024;

export class PageWriter {
  private buffer: Buffer = Buffer.allocUnsafe(writeBatchBytes);
  private used = 0;
  /** Filled buffers waiting for the next flush, before `buffer` (only when a page did not fit). */
  private filled: Buffer[] = [];
  private filledBytes = 0;
  /** File offset of the first byte not yet handed to the sink. */
  private batchOffset: number;

  constructor(
    private readonly sink: PageSink,
    readonly pageBytes: number,
    /** The first id to hand out: ids below it are reserved (meta pages, freelist). */
    private nextPgid: number,
  ) {
    this.batchOffset = nextPgid * pageBytes;
  }

  /** Page ids handed out so far: the file's high-water mark once everything is written. */
  get highWaterPgid(): number {
    return this.nextPgid;
  }

  /** Whether enough pages wait that the caller should flush() before adding more. */
  get shouldFlush(): boolean {
    return this.filledBytes + this.used >= writeBatchBytes;
  }

  /**
   * Encodes `page` at the next id (taking overflow pages as needed) into the batch and returns
   * that id. Synchronous so that adding an item costs no await; callers flush() when shouldFlush.
   */
  write(page: PendingPage): number {
    const pageCount = Math.ceil(page.byteSize / this.pageBytes);
    const bytes = pageCount * this.pageBytes;
    if (this.used + bytes > this.buffer.length) {
      if (this.used > 0) {
        this.filled.push(this.buffer.subarray(0, this.used));
        this.filledBytes += this.used;
      }
      this.buffer = Buffer.allocUnsafe(Math.max(writeBatchBytes, bytes));
      this.used = 0;
    }
    const pgid = this.nextPgid;
    const target = this.buffer.subarray(this.used, this.used + bytes);
    target.fill(0);
    page.encodeInto(target, pgid, pageCount - 1);
    this.nextPgid += pageCount;
    this.used += bytes;
    return pgid;
  }

  async flush(): Promise<void> {
    const parts = this.used > 0 ? [...this.filled, this.buffer.subarray(0, this.used)] : this.filled;
    this.filled = [];
    this.filledBytes = 0;
    this.used = 0;
    for (const part of parts) {
      const offset = this.batchOffset;
      this.batchOffset += part.length;
      await this.sink.write(part, offset);
    }
    // The sink is done with the buffer (see PageSink): the next pages reuse it, unless it was an
    // oversized one made for a single large page.
    if (this.buffer.length > writeBatchBytes) this.buffer = Buffer.allocUnsafe(writeBatchBytes);
  }
}
