// bbolt's on-disk page layout (go.etcd.io/bbolt page.go), little-endian as bbolt writes it on
// every platform Lattice runs on.
//
// Every page starts with a 16-byte header: id u64 | flags u16 | count u16 | overflow u32.
// A page with overflow N spans N+1 consecutive pages on disk.
//   leaf element (16 bytes):   flags u32 | pos u32 | ksize u32 | vsize u32
//   branch element (16 bytes): pos u32 | ksize u32 | pgid u64
// pos counts from the element's own first byte to its key; the value follows the key.

export const pageHeaderBytes = 16;
export const leafElementBytes = 16;
export const branchElementBytes = 16;
/** A sub-bucket value starts with root pgid u64 | sequence u64; root 0 means an inline page follows. */
export const bucketHeaderBytes = 16;

export const branchPageFlag = 0x01;
export const leafPageFlag = 0x02;
export const metaPageFlag = 0x04;
export const freelistPageFlag = 0x10;
/** Leaf element flag: the value is a sub-bucket. */
export const bucketLeafFlag = 0x01;

/** bbolt's limits (bucket.go): larger keys or values are refused by bbolt itself. */
export const maxKeyBytes = 32768;
export const maxValueBytes = 2 ** 31 - 2;
/** page.count is a u16; bbolt panics on 0xFFFF or more elements in one page. */
export const maxElementsPerPage = 0xfffe;
/** The freelist stores its length in the first slot once it reaches 0xFFFF entries. */
export const freelistCountOverflow = 0xffff;

export const defaultPageBytes = 4096;
/** The meta page must fit, and bbolt reads the first 4 KiB to learn the page size. */
export const minPageBytes = 1024;
export const maxPageBytes = 65536;

export interface PageHeader {
  readonly id: number;
  readonly flags: number;
  readonly count: number;
  readonly overflow: number;
}

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A page id as a JS number; ids beyond 2^53 cannot address any real file. */
export function readPgid(data: DataView, offset: number): number {
  const id = data.getBigUint64(offset, true);
  return id > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(id);
}

export function readPageHeader(page: Uint8Array): PageHeader {
  const data = view(page);
  return {
    id: readPgid(data, 0),
    flags: data.getUint16(8, true),
    count: data.getUint16(10, true),
    overflow: data.getUint32(12, true),
  };
}

export function writePageHeader(page: Uint8Array, header: PageHeader): void {
  const data = view(page);
  data.setBigUint64(0, BigInt(header.id), true);
  data.setUint16(8, header.flags, true);
  data.setUint16(10, header.count, true);
  data.setUint32(12, header.overflow, true);
}

export function pageTypeName(flags: number): string {
  if (flags & branchPageFlag) return 'branch';
  if (flags & leafPageFlag) return 'leaf';
  if (flags & metaPageFlag) return 'meta';
  if (flags & freelistPageFlag) return 'freelist';
  return `unknown<${flags.toString(16).padStart(2, '0')}>`;
}

/** Keys up to this long are compared in JS: cheaper than a call into Buffer.compare's binding. */
const shortKeyBytes = 64;

/** Byte order bbolt sorts keys in (negative, 0 or positive, as Buffer.compare). */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  if (a.length > shortKeyBytes || b.length > shortKeyBytes) return Buffer.compare(a, b);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
