// etcd's snapshot integrity trailer: the SHA-256 of the bbolt file, appended after it
// (etcdserver/api/v3rpc maintenance.go sends it; clientv3/snapshot checks it on save and restore).
// etcd tells a file with a trailer by its size: bbolt files are whole 512-byte multiples, so a
// size of 32 past such a multiple means a hash follows (hasChecksum in v3_snapshot.go).

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

export const snapshotHashBytes = 32;
const hashAlignmentBytes = 512;
/** Bytes hashed per read when checking a file. */
const hashReadBytes = 1024 * 1024;

export function hasSnapshotHash(fileBytes: number): boolean {
  return fileBytes % hashAlignmentBytes === snapshotHashBytes;
}

/** Passes the chunks through, then yields the SHA-256 of all of them. */
export async function* withSnapshotHash(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  for await (const chunk of chunks) {
    hash.update(chunk);
    yield chunk;
  }
  yield new Uint8Array(hash.digest());
}

export type SnapshotHashCheck =
  | { readonly kind: 'ok'; readonly dbBytes: number }
  | { readonly kind: 'missing'; readonly dbBytes: number }
  | { readonly kind: 'mismatch'; readonly dbBytes: number; readonly expected: string; readonly actual: string };

/** Checks a snapshot file's trailer as etcdctl snapshot restore does; dbBytes is the bbolt part's length. */
export async function checkSnapshotHash(path: string): Promise<SnapshotHashCheck> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (!hasSnapshotHash(size)) return { kind: 'missing', dbBytes: size };
    const dbBytes = size - snapshotHashBytes;
    const hash = createHash('sha256');
    const buffer = new Uint8Array(hashReadBytes);
    for (let offset = 0; offset < dbBytes; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, dbBytes - offset), offset);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      offset += bytesRead;
    }
    const stored = new Uint8Array(snapshotHashBytes);
    await handle.read(stored, 0, snapshotHashBytes, dbBytes);
    const expected = Buffer.from(stored).toString('hex');
    const actual = hash.digest('hex');
    return expected === actual ? { kind: 'ok', dbBytes } : { kind: 'mismatch', dbBytes, expected, actual };
  } finally {
    await handle.close();
  }
}
