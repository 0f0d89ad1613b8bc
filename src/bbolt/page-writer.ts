// Hands out page ids in file order and batches encoded pages into large sink writes.

import type { PageSink } from './page-sink.js';
import type { PendingPage } from './pending-page.js';

/** Pages are gathered up to this many bytes before one sink write (a page may exceed it alone). */
export const writeBatchBytes = 1024 * 1024;

export class PageWriter {
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  /** File offset of the batch's first byte. */
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
    return this.batchBytes >= writeBatchBytes;
  }

  /**
   * Encodes `page` at the next id (taking overflow pages as needed) into the batch and returns
   * that id. Synchronous so that adding an item costs no await; callers flush() when shouldFlush.
   */
  write(page: PendingPage): number {
    const pageCount = Math.ceil(page.byteSize / this.pageBytes);
    const pgid = this.nextPgid;
    const bytes = new Uint8Array(pageCount * this.pageBytes);
    page.encodeInto(bytes, pgid, pageCount - 1);
    this.nextPgid += pageCount;
    this.batch.push(bytes);
    this.batchBytes += bytes.length;
    return pgid;
  }

  async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const joined = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch, this.batchBytes);
    const offset = this.batchOffset;
    this.batchOffset += this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    await this.sink.write(joined, offset);
  }
}
