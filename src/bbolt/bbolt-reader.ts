// Reads a bbolt file page by page (never the whole file): picks the meta page as bbolt does,
// iterates buckets in key order, looks keys up, and refuses damage with BboltFormatError.
//
// Keys and values handed out are views into page copies owned by the caller; holding one keeps
// its page (usually 4 KiB) alive.

import { open, type FileHandle } from 'node:fs/promises';
import { BboltFormatError } from './bbolt-errors.js';
import { keyText } from './key-text.js';
import { checkMetaPage, noFreelistPgid, type BboltMeta, type MetaCheck } from './meta-page.js';
import {
  bucketHeaderBytes,
  bucketLeafFlag,
  compareKeys,
  defaultPageBytes,
  freelistCountOverflow,
  freelistPageFlag,
  pageHeaderBytes,
  pageTypeName,
  readPageHeader,
  readPgid,
  view,
} from './page-format.js';
import { decodeTreePage, type LeafElement, type TreePage } from './page-elements.js';
import { FilePageSource, type PageReader } from './page-source.js';
import type { PageVisits } from './page-visits.js';

/** A bucket to read: its root page, or (root 0) the page stored inline in its parent's value. */
export interface BucketRef {
  readonly rootPgid: number;
  readonly sequence: bigint;
  readonly inlinePage: Uint8Array | null;
}

export type ReadEntry =
  | { readonly kind: 'value'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly kind: 'bucket'; readonly key: Uint8Array; readonly bucket: BucketRef };

/** Page sizes outside these cannot come from bbolt (a page must hold the meta; bbolt maps pages as OS pages). */
const minReadablePageBytes = 512;
const maxReadablePageBytes = 1024 * 1024;

/** Deeper than any tree bbolt can build (a 4 KiB page holds at least 2 keys per level). */
export const maxTreeDepth = 64;

export class BboltReader {
  private constructor(
    private readonly handle: FileHandle,
    private readonly pages: PageReader,
    readonly meta: BboltMeta,
    readonly fileBytes: number,
  ) {}

  /** Opens `path` read-only; the file may carry etcd's sha256 trailer (it lies past the high-water mark). */
  static async open(path: string): Promise<BboltReader> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const readAt = async (offset: number, length: number): Promise<Uint8Array> => {
        const bytes = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
        if (bytes.length > 0) await handle.read(bytes, 0, bytes.length, offset);
        return bytes;
      };
      const meta = await chooseMeta(size, readAt);
      const source = new FilePageSource(handle, size, meta.pageSize, meta.highWaterPgid);
      return new BboltReader(handle, source, meta, size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  /** The bucket holding the top-level buckets. */
  get root(): BucketRef {
    return { rootPgid: this.meta.rootPgid, sequence: this.meta.rootSequence, inlinePage: null };
  }

  /**
   * The bucket's entries in key order. With `visits`, every page reached is recorded there and a
   * page reached twice is refused (pass one PageVisits to a whole-file walk to check it as bbolt's Check).
   */
  async *entries(bucket: BucketRef, visits?: PageVisits): AsyncGenerator<ReadEntry> {
    for await (const run of this.entryRuns(bucket, visits)) yield* run;
  }

  /** entries() a leaf page at a time: one await per page, not per entry (a restore's hot loop). */
  async *entryRuns(bucket: BucketRef, visits?: PageVisits): AsyncGenerator<ReadEntry[]> {
    let previous: Uint8Array | undefined;
    for await (const leaf of this.leaves(bucket, visits)) {
      const run = new Array<ReadEntry>(leaf.length);
      for (let i = 0; i < leaf.length; i++) {
        const element = leaf[i]!;
        if (previous !== undefined && compareKeys(previous, element.key) >= 0) {
          throw new BboltFormatError('unsorted-keys', `key ${keyText(element.key)} follows ${keyText(previous)} out of order`);
        }
        previous = element.key;
        run[i] = toEntry(element);
      }
      if (run.length > 0) yield run;
    }
  }

  /** The entry stored under `key` in `bucket`, found by descending the tree. */
  async get(bucket: BucketRef, key: Uint8Array): Promise<ReadEntry | undefined> {
    let page: TreePage;
    if (bucket.inlinePage !== null) {
      page = decodeTreePage(bucket.inlinePage, null);
    } else {
      let pgid = bucket.rootPgid;
      for (let depth = 0; ; depth++) {
        if (depth > maxTreeDepth) throw new BboltFormatError('cycle', `bucket rooted at page ${bucket.rootPgid} is deeper than ${maxTreeDepth} levels`);
        page = decodeTreePage(await this.pages.read(pgid), pgid);
        if (page.kind === 'leaf') break;
        const child = lastAtOrBelow(page.elements, key);
        pgid = child.pgid;
      }
    }
    if (page.kind !== 'leaf') throw new Error('unreachable: descent ends on a leaf');
    const element = page.elements.find((candidate) => compareKeys(candidate.key, key) === 0);
    return element === undefined ? undefined : toEntry(element);
  }

  /** The sub-bucket `path` (names from the root), or undefined if some name is missing or not a bucket. */
  async bucket(...path: Uint8Array[]): Promise<BucketRef | undefined> {
    let current = this.root;
    for (const name of path) {
      const entry = await this.get(current, name);
      if (entry?.kind !== 'bucket') return undefined;
      current = entry.bucket;
    }
    return current;
  }

  /** The ids the freelist page lists as free (empty when the file stores no freelist). */
  async freePageIds(): Promise<number[]> {
    const pgid = this.meta.freelistPgid;
    if (pgid === noFreelistPgid) return [];
    const page = await this.pages.read(pgid);
    const header = readPageHeader(page);
    if (header.id !== pgid || (header.flags & freelistPageFlag) === 0) {
      throw new BboltFormatError('bad-page', `page ${pgid}: a ${pageTypeName(header.flags)} page where the freelist belongs`, pgid);
    }
    const data = view(page);
    let first = pageHeaderBytes;
    let count = header.count;
    if (count === freelistCountOverflow) {
      count = readPgid(data, pageHeaderBytes);
      first += 8;
    }
    if (first + count * 8 > page.length) throw new BboltFormatError('bad-page', `page ${pgid}: ${count} free ids do not fit`, pgid);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(readPgid(data, first + i * 8));
    return ids;
  }

  /** The elements of each leaf of the bucket, leaf by leaf in key order. */
  private async *leaves(bucket: BucketRef, visits: PageVisits | undefined): AsyncGenerator<LeafElement[]> {
    if (bucket.inlinePage !== null) {
      const page = decodeTreePage(bucket.inlinePage, null);
      if (page.kind === 'leaf') yield page.elements;
      return;
    }
    yield* this.subtreeLeaves(bucket.rootPgid, [], visits);
  }

  private async *subtreeLeaves(pgid: number, ancestors: number[], visits: PageVisits | undefined): AsyncGenerator<LeafElement[]> {
    if (ancestors.includes(pgid)) {
      throw new BboltFormatError('cycle', `page ${pgid} is its own ancestor (path ${[...ancestors, pgid].join(' > ')})`, pgid);
    }
    if (ancestors.length >= maxTreeDepth) {
      throw new BboltFormatError('cycle', `the tree below page ${ancestors[0]} is deeper than ${maxTreeDepth} levels`, pgid);
    }
    const bytes = await this.pages.read(pgid);
    visits?.visit(pgid, readPageHeader(bytes).overflow);
    const page = decodeTreePage(bytes, pgid);
    if (page.kind === 'leaf') {
      yield page.elements;
      return;
    }
    const path = [...ancestors, pgid];
    for (const child of page.elements) yield* this.subtreeLeaves(child.pgid, path, visits);
  }
}

async function chooseMeta(fileBytes: number, readAt: (offset: number, length: number) => Promise<Uint8Array>): Promise<BboltMeta> {
  // Like bbolt: meta 0 tells the page size; if it is damaged, assume the default and look for meta 1 there.
  const first = checkMetaPage(await readAt(0, defaultPageBytes));
  const pageBytes = first.kind === 'valid' ? first.meta.pageSize : defaultPageBytes;
  if (pageBytes < minReadablePageBytes || pageBytes > maxReadablePageBytes) {
    throw new BboltFormatError('not-bbolt', `meta page says page size ${pageBytes}`);
  }
  if (fileBytes < pageBytes * 2) throw new BboltFormatError('not-bbolt', `the file has ${fileBytes} bytes, less than two pages`);
  const second = checkMetaPage(await readAt(pageBytes, pageBytes));
  const valid = [first, second].flatMap((check) => (check.kind === 'valid' ? [check.meta] : []));
  const best = valid.sort((a, b) => (a.txid === b.txid ? 0 : a.txid > b.txid ? -1 : 1))[0];
  if (best === undefined) throw metaFailure(first, second);
  if (best.pageSize !== pageBytes) {
    throw new BboltFormatError('not-bbolt', `meta page says page size ${best.pageSize}, but the meta pages lie ${pageBytes} bytes apart`);
  }
  if (best.rootPgid >= best.highWaterPgid || (best.freelistPgid !== noFreelistPgid && best.freelistPgid >= best.highWaterPgid)) {
    throw new BboltFormatError('page-out-of-range', `meta names root ${best.rootPgid} / freelist ${best.freelistPgid} at or past the high-water mark ${best.highWaterPgid}`);
  }
  return best;
}

function metaFailure(first: MetaCheck, second: MetaCheck): BboltFormatError {
  const kinds = [first.kind, second.kind];
  if (kinds.includes('bad-checksum')) return new BboltFormatError('bad-checksum', 'both meta pages fail their checksum');
  const mismatch = [first, second].find((check) => check.kind === 'version-mismatch');
  if (mismatch?.kind === 'version-mismatch') {
    return new BboltFormatError('version-mismatch', `bbolt format version ${mismatch.version}, expected 2`);
  }
  return new BboltFormatError('not-bbolt', 'neither meta page carries the bbolt magic');
}

function toEntry(element: { readonly flags: number; readonly key: Uint8Array; readonly value: Uint8Array }): ReadEntry {
  if ((element.flags & bucketLeafFlag) === 0) return { kind: 'value', key: element.key, value: element.value };
  return { kind: 'bucket', key: element.key, bucket: parseBucketValue(element.key, element.value) };
}

function parseBucketValue(key: Uint8Array, value: Uint8Array): BucketRef {
  if (value.length < bucketHeaderBytes) {
    throw new BboltFormatError('bad-page', `bucket ${keyText(key)} has a ${value.length}-byte header`);
  }
  const data = view(value);
  const rootPgid = readPgid(data, 0);
  const sequence = data.getBigUint64(8, true);
  if (rootPgid !== 0) return { rootPgid, sequence, inlinePage: null };
  const inlinePage = value.subarray(bucketHeaderBytes);
  if (inlinePage.length < pageHeaderBytes) {
    throw new BboltFormatError('bad-page', `inline bucket ${keyText(key)} has no room for its page`);
  }
  return { rootPgid, sequence, inlinePage };
}

/** The branch element whose subtree holds `key`: the last with a key at or below it (or the first). */
function lastAtOrBelow<T extends { readonly key: Uint8Array }>(elements: T[], key: Uint8Array): T {
  let low = 0;
  let high = elements.length - 1;
  let found = 0;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (compareKeys(elements[middle]!.key, key) <= 0) {
      found = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return elements[found]!;
}
