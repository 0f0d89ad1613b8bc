// Bulk-loads one bucket's B+tree from keys that arrive in order (bottom-up, bbolt's compact
// fill of 100%): a leaf fills until the next item would not fit, is written, and its first key
// becomes an item of the level above, which fills and is written the same way. Only one
// pending page per level is held, so memory is the tree's height in pages, whatever its size.

import { bucketHeaderBytes, bucketLeafFlag, pageHeaderBytes, view } from './page-format.js';
import { PendingPage, type PageItem } from './pending-page.js';
import type { PageWriter } from './page-writer.js';

export interface TreeOptions {
  /** Whether the bucket may be stored inside its parent's leaf when small, as bbolt does (never for the root). */
  readonly inlineAllowed: boolean;
  readonly sequence: bigint;
}

/** A finished bucket: a root page id, or an inline bucket's bytes ready to be its parent's value. */
export type FinishedTree =
  | { readonly kind: 'paged'; readonly rootPgid: number }
  | { readonly kind: 'inline'; readonly value: Uint8Array };

export class TreeBuilder {
  /** levels[0] is the leaf being filled; levels[n] the branch page n levels up. */
  private readonly levels: PendingPage[] = [new PendingPage(true)];

  constructor(
    private readonly pages: PageWriter,
    private readonly options: TreeOptions,
  ) {}

  addValue(key: Uint8Array, value: Uint8Array): void {
    this.addAt(0, { key, value, flags: 0, pgid: 0 });
  }

  addBucket(key: Uint8Array, bucketValue: Uint8Array): void {
    this.addAt(0, { key, value: bucketValue, flags: bucketLeafFlag, pgid: 0 });
  }

  finish(): FinishedTree {
    for (let level = 0; ; level++) {
      const page = this.levels[level]!;
      const isTop = level === this.levels.length - 1;
      if (isTop) {
        if (level === 0 && this.options.inlineAllowed && this.inlineable(page)) {
          return { kind: 'inline', value: this.inlineValue(page) };
        }
        return { kind: 'paged', rootPgid: this.pages.write(page) };
      }
      this.writeUp(level);
    }
  }

  private addAt(level: number, item: PageItem): void {
    const page = this.levels[level]!;
    if (!page.fits(item, this.pages.pageBytes)) {
      this.writeUp(level);
    }
    this.levels[level]!.add(item);
  }

  /** Writes the pending page at `level` and starts a fresh one there. */
  private writeUp(level: number): void {
    const page = this.levels[level]!;
    const firstKey = page.firstKey!;
    const pgid = this.pages.write(page);
    this.levels[level] = new PendingPage(page.isLeaf);
    if (this.levels.length === level + 1) this.levels.push(new PendingPage(false));
    this.addAt(level + 1, { key: firstKey, value: new Uint8Array(0), flags: 0, pgid });
  }

  /** bbolt's Bucket.inlineable: one leaf, no sub-buckets, at most a quarter page. */
  private inlineable(page: PendingPage): boolean {
    return !page.holdsBucket && page.byteSize <= this.pages.pageBytes / 4;
  }

  private inlineValue(page: PendingPage): Uint8Array {
    const value = new Uint8Array(bucketHeaderBytes + Math.max(page.byteSize, pageHeaderBytes));
    view(value).setBigUint64(8, this.options.sequence, true);
    // An inline page's header id and overflow stay 0, as bbolt writes them.
    page.encodeInto(value.subarray(bucketHeaderBytes), 0, 0);
    return value;
  }
}

/** The value a parent leaf stores for a paged sub-bucket. */
export function pagedBucketValue(rootPgid: number, sequence: bigint): Uint8Array {
  const value = new Uint8Array(bucketHeaderBytes);
  const data = view(value);
  data.setBigUint64(0, BigInt(rootPgid), true);
  data.setBigUint64(8, sequence, true);
  return value;
}
