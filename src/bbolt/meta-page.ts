// bbolt's meta page (db.go): after the page header,
//   magic u32 | version u32 | pageSize u32 | flags u32 | root bucket (pgid u64, sequence u64)
//   | freelist pgid u64 | high-water pgid u64 | txid u64 | checksum u64
// The checksum is FNV-64a over everything before it. A file has two meta pages (ids 0 and 1);
// a reader uses the valid one with the higher txid, so a torn meta write falls back to the other.

import { metaPageFlag, pageHeaderBytes, readPgid, view, writePageHeader } from './page-format.js';

export const bboltMagic = 0xed0cdaed;
export const bboltVersion = 2;
/** meta.freelist when the freelist is not stored (bbolt's NoFreelistSync). */
export const noFreelistPgid = Number.MAX_SAFE_INTEGER;
const noFreelistRaw = 0xffffffffffffffffn;
const metaChecksumOffset = 56;
export const metaBytes = 64;

export interface BboltMeta {
  readonly pageSize: number;
  readonly flags: number;
  readonly rootPgid: number;
  readonly rootSequence: bigint;
  /** noFreelistPgid when the file stores no freelist. */
  readonly freelistPgid: number;
  /** Pages the file uses: every page id below this is in a tree, the freelist or a meta page. */
  readonly highWaterPgid: number;
  readonly txid: bigint;
}

export type MetaCheck =
  | { readonly kind: 'valid'; readonly meta: BboltMeta }
  | { readonly kind: 'not-bbolt' }
  | { readonly kind: 'version-mismatch'; readonly version: number }
  | { readonly kind: 'bad-checksum' };

const fnvOffsetBasis = 0xcbf29ce484222325n;
const fnvPrime = 0x100000001b3n;

export function fnv64a(bytes: Uint8Array): bigint {
  let hash = fnvOffsetBasis;
  for (const byte of bytes) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * fnvPrime);
  return hash;
}

/** Reads and validates the meta in a page (at least pageHeaderBytes + metaBytes long), as bbolt's meta.validate. */
export function checkMetaPage(page: Uint8Array): MetaCheck {
  if (page.length < pageHeaderBytes + metaBytes) return { kind: 'not-bbolt' };
  const meta = page.subarray(pageHeaderBytes, pageHeaderBytes + metaBytes);
  const data = view(meta);
  if (data.getUint32(0, true) !== bboltMagic) return { kind: 'not-bbolt' };
  const version = data.getUint32(4, true);
  if (version !== bboltVersion) return { kind: 'version-mismatch', version };
  const checksum = data.getBigUint64(metaChecksumOffset, true);
  // bbolt accepts a zero checksum (files from before checksums existed).
  if (checksum !== 0n && checksum !== fnv64a(meta.subarray(0, metaChecksumOffset))) return { kind: 'bad-checksum' };
  const freelistRaw = data.getBigUint64(32, true);
  return {
    kind: 'valid',
    meta: {
      pageSize: data.getUint32(8, true),
      flags: data.getUint32(12, true),
      rootPgid: readPgid(data, 16),
      rootSequence: data.getBigUint64(24, true),
      freelistPgid: freelistRaw === noFreelistRaw ? noFreelistPgid : readPgid(data, 32),
      highWaterPgid: readPgid(data, 40),
      txid: data.getBigUint64(48, true),
    },
  };
}

/** One whole meta page for page id `pgid` (0 or 1), checksum included. */
export function encodeMetaPage(meta: BboltMeta, pgid: number): Uint8Array {
  const page = new Uint8Array(meta.pageSize);
  writePageHeader(page, { id: pgid, flags: metaPageFlag, count: 0, overflow: 0 });
  const body = page.subarray(pageHeaderBytes, pageHeaderBytes + metaBytes);
  const data = view(body);
  data.setUint32(0, bboltMagic, true);
  data.setUint32(4, bboltVersion, true);
  data.setUint32(8, meta.pageSize, true);
  data.setUint32(12, meta.flags, true);
  data.setBigUint64(16, BigInt(meta.rootPgid), true);
  data.setBigUint64(24, meta.rootSequence, true);
  data.setBigUint64(32, meta.freelistPgid === noFreelistPgid ? noFreelistRaw : BigInt(meta.freelistPgid), true);
  data.setBigUint64(40, BigInt(meta.highWaterPgid), true);
  data.setBigUint64(48, meta.txid, true);
  data.setBigUint64(metaChecksumOffset, fnv64a(body.subarray(0, metaChecksumOffset)), true);
  return page;
}
