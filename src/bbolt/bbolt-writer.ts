// Writes a whole bbolt file from buckets whose keys stream in sorted order, in bounded memory.
//
// Layout of the file written: pages 0 and 1 are the meta pages (written last, once the root and
// the high-water mark are known), page 2 an empty freelist (a bulk load frees nothing), then the
// trees in the order they complete: a sub-bucket is written entirely before its parent's leaf
// entry (which needs its root page id), so a parent waits with one pending page per level.

import { BboltWriteError } from './bbolt-errors.js';
import { keyText } from './key-text.js';
import { encodeMetaPage } from './meta-page.js';
import {
  compareKeys,
  defaultPageBytes,
  freelistPageFlag,
  maxKeyBytes,
  maxPageBytes,
  maxValueBytes,
  minPageBytes,
  writePageHeader,
} from './page-format.js';
import type { PageSink } from './page-sink.js';
import { PageWriter } from './page-writer.js';
import { pagedBucketValue, TreeBuilder, type FinishedTree } from './tree-builder.js';

export type WriteEntry =
  | { readonly kind: 'value'; readonly key: Uint8Array; readonly value: Uint8Array }
  | {
      readonly kind: 'bucket';
      readonly key: Uint8Array;
      readonly entries: EntrySource;
      /** bbolt's NextSequence counter; 0 when absent. */
      readonly sequence?: bigint;
    };

/**
 * A bucket's entries in strictly increasing key order (bytewise), values and sub-buckets mixed. An
 * asynchronous source may hand them over in runs (arrays), which costs one await per run instead of
 * one per entry: what a large bucket streamed from an engine needs.
 */
export type EntrySource = AsyncIterable<WriteEntry | readonly WriteEntry[]> | Iterable<WriteEntry>;

export interface BboltWriteOptions {
  readonly pageBytes?: number;
  /** Store small buckets inside their parent as bbolt does; false gives every bucket its own pages. */
  readonly inlineBuckets?: boolean;
}

export interface BboltWriteSummary {
  readonly pageBytes: number;
  /** Pages in the file, meta pages included. */
  readonly pageCount: number;
  readonly fileBytes: number;
  readonly rootPgid: number;
}

const metaPageCount = 2;
const freelistPgid = 2;
/** bbolt picks the valid meta with the higher txid; page 0 carries it, page 1 the same state one lower. */
const writtenTxid = 2n;

/** Writes the root bucket's entries (all of them buckets, as bbolt requires) to `sink`. */
export async function writeBbolt(
  topLevel: EntrySource,
  sink: PageSink,
  options: BboltWriteOptions = {},
): Promise<BboltWriteSummary> {
  const pageBytes = options.pageBytes ?? defaultPageBytes;
  if (!Number.isInteger(Math.log2(pageBytes)) || pageBytes < minPageBytes || pageBytes > maxPageBytes) {
    throw new BboltWriteError('bad-page-size', `page size ${pageBytes} is not a power of two in ${minPageBytes}..${maxPageBytes}`);
  }
  const freelist = new Uint8Array(pageBytes);
  writePageHeader(freelist, { id: freelistPgid, flags: freelistPageFlag, count: 0, overflow: 0 });
  await sink.write(freelist, freelistPgid * pageBytes);

  const pages = new PageWriter(sink, pageBytes, freelistPgid + 1);
  const inlineBuckets = options.inlineBuckets ?? true;
  const root = await writeTree(topLevel, pages, { inlineAllowed: false, sequence: 0n, isRoot: true, inlineBuckets });
  if (root.kind !== 'paged') throw new Error('the root bucket is never inline');
  await pages.flush();

  const meta = {
    pageSize: pageBytes,
    flags: 0,
    rootPgid: root.rootPgid,
    rootSequence: 0n,
    freelistPgid,
    highWaterPgid: pages.highWaterPgid,
  };
  const metas = new Uint8Array(metaPageCount * pageBytes);
  metas.set(encodeMetaPage({ ...meta, txid: writtenTxid }, 0), 0);
  metas.set(encodeMetaPage({ ...meta, txid: writtenTxid - 1n }, 1), pageBytes);
  await sink.write(metas, 0);
  return { pageBytes, pageCount: pages.highWaterPgid, fileBytes: pages.highWaterPgid * pageBytes, rootPgid: root.rootPgid };
}

interface TreeContext {
  readonly inlineAllowed: boolean;
  readonly sequence: bigint;
  readonly isRoot: boolean;
  readonly inlineBuckets: boolean;
}

async function writeTree(entries: EntrySource, pages: PageWriter, context: TreeContext): Promise<FinishedTree> {
  const tree = new TreeBuilder(pages, context);
  let previous: Uint8Array | undefined;
  const add = async (entry: WriteEntry): Promise<void> => {
    checkKey(entry.key, previous);
    previous = entry.key;
    if (entry.kind === 'value') {
      addValue(tree, entry.key, entry.value, context);
      return;
    }
    const sequence = entry.sequence ?? 0n;
    const child = await writeTree(entry.entries, pages, {
      inlineAllowed: context.inlineBuckets,
      sequence,
      isRoot: false,
      inlineBuckets: context.inlineBuckets,
    });
    tree.addBucket(entry.key, child.kind === 'inline' ? child.value : pagedBucketValue(child.rootPgid, sequence));
  };
  for await (const item of entries) {
    if (pages.shouldFlush) await pages.flush();
    if (!isRun(item)) {
      await add(item);
      continue;
    }
    // A run's values are added without an await each (the hot loop of a large bucket).
    for (const entry of item) {
      if (entry.kind !== 'value') {
        await add(entry);
        continue;
      }
      checkKey(entry.key, previous);
      previous = entry.key;
      addValue(tree, entry.key, entry.value, context);
      if (pages.shouldFlush) await pages.flush();
    }
  }
  return tree.finish();
}

function isRun(item: WriteEntry | readonly WriteEntry[]): item is readonly WriteEntry[] {
  return Array.isArray(item);
}

function addValue(tree: TreeBuilder, key: Uint8Array, value: Uint8Array, context: TreeContext): void {
  if (context.isRoot) throw new BboltWriteError('value-at-root', `key ${keyText(key)} is a value at the root: only buckets may be there`);
  if (value.length > maxValueBytes) {
    throw new BboltWriteError('value-too-large', `value of ${value.length} bytes under key ${keyText(key)} exceeds ${maxValueBytes}`);
  }
  tree.addValue(key, value);
}

function checkKey(key: Uint8Array, previous: Uint8Array | undefined): void {
  if (key.length === 0) throw new BboltWriteError('empty-key', 'a key is empty');
  if (key.length > maxKeyBytes) {
    throw new BboltWriteError('key-too-large', `key of ${key.length} bytes exceeds ${maxKeyBytes}`);
  }
  if (previous !== undefined && compareKeys(previous, key) >= 0) {
    throw new BboltWriteError('keys-not-sorted', `key ${keyText(key)} does not follow ${keyText(previous)} in byte order`);
  }
}
