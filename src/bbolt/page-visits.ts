// One bit per page of the file: which pages a walk has reached. Reaching one twice means a
// cycle or a page shared by two parents, both damage (bbolt's Check reports the same).

import { BboltFormatError } from './bbolt-errors.js';

export class PageVisits {
  private readonly bits: Uint8Array;

  /** `highWaterPgid` bits: 64 KiB per 2 GiB of 4 KiB pages. */
  constructor(readonly highWaterPgid: number) {
    this.bits = new Uint8Array(Math.ceil(highWaterPgid / 8));
  }

  /** Marks the page and its overflow pages; throws if any was reached before. */
  visit(pgid: number, overflow: number): void {
    for (let id = pgid; id <= pgid + overflow; id++) {
      const mask = 1 << id % 8;
      const index = Math.floor(id / 8);
      const byte = this.bits[index] ?? 0;
      if (byte & mask) {
        throw new BboltFormatError('page-shared', `page ${id} is reached twice (a cycle or two parents)`, id);
      }
      this.bits[index] = byte | mask;
    }
  }

  has(pgid: number): boolean {
    return ((this.bits[Math.floor(pgid / 8)] ?? 0) & (1 << pgid % 8)) !== 0;
  }
}
