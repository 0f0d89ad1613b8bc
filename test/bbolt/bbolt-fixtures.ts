// Test data and inspection for the bbolt module: seeded content, the canonical dump (the same
// format test/interop/go/bboltcheck prints from real bbolt), and a raw page walker.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BboltReader, type BucketRef } from '../../src/bbolt/bbolt-reader.js';
import type { EntrySource, WriteEntry } from '../../src/bbolt/bbolt-writer.js';
import { decodeTreePage } from '../../src/bbolt/page-elements.js';
import { checkMetaPage } from '../../src/bbolt/meta-page.js';
import { readPageHeader } from '../../src/bbolt/page-format.js';
import { PageVisits } from '../../src/bbolt/page-visits.js';

const encoder = new TextEncoder();
export const bytes = (text: string): Uint8Array => encoder.encode(text);

export const value = (key: string | Uint8Array, data: string | Uint8Array): WriteEntry => ({
  kind: 'value',
  key: typeof key === 'string' ? bytes(key) : key,
  value: typeof data === 'string' ? bytes(data) : data,
});

export const bucket = (key: string, entries: EntrySource, sequence?: bigint): WriteEntry => ({
  kind: 'bucket',
  key: bytes(key),
  entries,
  sequence,
});

import { seededRandom } from '../helpers/seeded-random.js';
export { seededRandom };

export function randomBytes(random: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** `count` values with keys key000000.. in order, produced lazily (as a store would stream them). */
export async function* numberedValues(count: number, valueBytes: (index: number) => Uint8Array, prefix = 'key'): AsyncGenerator<WriteEntry> {
  for (let i = 0; i < count; i++) yield value(`${prefix}${String(i).padStart(6, '0')}`, valueBytes(i));
}

const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');

/** The canonical dump of a file read with our reader, checking every page is reached once. */
export async function readerDump(path: string): Promise<string[]> {
  const reader = await BboltReader.open(path);
  try {
    const lines: string[] = [];
    const visits = new PageVisits(reader.meta.highWaterPgid);
    const walk = async (ref: BucketRef, path: string): Promise<void> => {
      for await (const entry of reader.entries(ref, visits)) {
        if (entry.kind === 'bucket') {
          const child = path === '' ? hex(entry.key) : `${path}/${hex(entry.key)}`;
          lines.push(`bucket ${child} seq=${entry.bucket.sequence}`);
          await walk(entry.bucket, child);
        } else {
          const sum = createHash('sha256').update(entry.value).digest('hex');
          lines.push(`value ${path} ${hex(entry.key)} ${entry.value.length} ${sum}`);
        }
      }
    };
    await walk(reader.root, '');
    return lines;
  } finally {
    await reader.close();
  }
}

/** What `bboltcheck dump --hash` prints for the same dump. */
export function dumpHash(lines: string[]): string {
  const hash = createHash('sha256');
  for (const line of lines) hash.update(`${line}\n`);
  return `lines=${lines.length} sha256=${hash.digest('hex')}`;
}

export interface PageCensus {
  readonly highWaterPgid: number;
  /** Per bucket root page id: the tree's depth (1 = a single leaf). */
  readonly depths: Map<number, number>;
  /** Page ids reached from the trees, the meta pages and the freelist. */
  readonly reached: Set<number>;
  readonly overflowPages: number;
  readonly inlineBuckets: number;
}

/** Walks the raw pages of a file's bytes: every tree page, its depth and overflow. */
export function pageCensus(file: Uint8Array): PageCensus {
  const metaCheck = checkMetaPage(file.subarray(0, 4096));
  if (metaCheck.kind !== 'valid') throw new Error(`meta 0 is ${metaCheck.kind}`);
  const { pageSize, rootPgid, freelistPgid, highWaterPgid } = metaCheck.meta;
  const reached = new Set<number>([0, 1, freelistPgid]);
  const depths = new Map<number, number>();
  let overflowPages = 0;
  let inlineBuckets = 0;
  const pageAt = (pgid: number): Uint8Array => {
    const header = readPageHeader(file.subarray(pgid * pageSize));
    return file.subarray(pgid * pageSize, (pgid + 1 + header.overflow) * pageSize);
  };
  const walkTree = (pgid: number): number => {
    const page = pageAt(pgid);
    const overflow = readPageHeader(page).overflow;
    for (let id = pgid; id <= pgid + overflow; id++) {
      if (reached.has(id)) throw new Error(`page ${id} reached twice`);
      reached.add(id);
    }
    overflowPages += overflow;
    const tree = decodeTreePage(page, pgid);
    if (tree.kind === 'branch') {
      const childDepths = tree.elements.map((element) => walkTree(element.pgid));
      if (new Set(childDepths).size !== 1) throw new Error(`page ${pgid}: children at different depths ${childDepths}`);
      return 1 + childDepths[0]!;
    }
    for (const element of tree.elements) {
      if (element.flags & 1) {
        const root = Number(Buffer.from(element.value).readBigUInt64LE(0));
        if (root === 0) inlineBuckets++;
        else depths.set(root, walkTree(root));
      }
    }
    return 1;
  };
  depths.set(rootPgid, walkTree(rootPgid));
  return { highWaterPgid, depths, reached, overflowPages, inlineBuckets };
}

/** Writes bytes to a file in `dir` and returns its path. */
export function fileWith(dir: string, name: string, data: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

export const readBytes = (path: string): Uint8Array => new Uint8Array(readFileSync(path));
