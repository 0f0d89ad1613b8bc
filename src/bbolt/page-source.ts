// Reads pages of a bbolt file on demand through one read-ahead window, so a walk in file order
// costs one read per window instead of one per page, and memory stays one window.

import type { FileHandle } from 'node:fs/promises';
import { BboltFormatError } from './bbolt-errors.js';
import { pageHeaderBytes, readPageHeader } from './page-format.js';

/** Bytes read at once when a page is not in the current window. */
export const readAheadBytes = 256 * 1024;

export interface PageReader {
  /** The page with its overflow pages, as a private copy; checked against the high-water mark and the file size. */
  read(pgid: number): Promise<Uint8Array>;
}

export class FilePageSource implements PageReader {
  private window = new Uint8Array(0);
  private windowOffset = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly fileBytes: number,
    private readonly pageBytes: number,
    private readonly highWaterPgid: number,
  ) {}

  async read(pgid: number): Promise<Uint8Array> {
    if (pgid >= this.highWaterPgid) {
      throw new BboltFormatError('page-out-of-range', `page ${pgid} is at or past the high-water mark ${this.highWaterPgid}`, pgid);
    }
    const offset = pgid * this.pageBytes;
    const header = await this.bytesAt(offset, pageHeaderBytes, pgid);
    const { overflow } = readPageHeader(header);
    if (pgid + overflow >= this.highWaterPgid) {
      throw new BboltFormatError(
        'page-out-of-range',
        `page ${pgid} with ${overflow} overflow pages runs past the high-water mark ${this.highWaterPgid}`,
        pgid,
      );
    }
    const length = (overflow + 1) * this.pageBytes;
    // A large page (a big value) is read on its own rather than through the window, so it is held once.
    if (length > readAheadBytes) return this.readFresh(offset, length, pgid);
    return Uint8Array.from(await this.bytesAt(offset, length, pgid));
  }

  private async readFresh(offset: number, length: number, pgid: number): Promise<Uint8Array> {
    if (offset + length > this.fileBytes) {
      throw new BboltFormatError('truncated', `page ${pgid} ends at byte ${offset + length}, past the end of the file (${this.fileBytes} bytes)`, pgid);
    }
    const bytes = new Uint8Array(length);
    await this.fill(bytes, offset, pgid);
    return bytes;
  }

  private async fill(target: Uint8Array, offset: number, pgid: number): Promise<void> {
    let done = 0;
    while (done < target.length) {
      const { bytesRead } = await this.handle.read(target, done, target.length - done, offset + done);
      if (bytesRead === 0) throw new BboltFormatError('truncated', `the file ended while reading page ${pgid}`, pgid);
      done += bytesRead;
    }
  }

  /** A view valid until the next call. */
  private async bytesAt(offset: number, length: number, pgid: number): Promise<Uint8Array> {
    if (offset + length > this.fileBytes) {
      throw new BboltFormatError('truncated', `page ${pgid} ends at byte ${offset + length}, past the end of the file (${this.fileBytes} bytes)`, pgid);
    }
    const start = offset - this.windowOffset;
    if (start >= 0 && start + length <= this.window.length) return this.window.subarray(start, start + length);
    const windowLength = Math.max(length, Math.min(readAheadBytes, this.fileBytes - offset));
    const window = new Uint8Array(windowLength);
    await this.fill(window, offset, pgid);
    this.window = window;
    this.windowOffset = offset;
    return window.subarray(0, length);
  }
}
