// Maintenance.Hash: etcd hashes its whole backend (every bucket's keys and values, CRC-32C). Lattice
// hashes the engine's key-value content the same way, minus the applied-index mark (it counts log
// entries, which differ between members and after a snapshot, not content). So two stores with the
// same content answer the same hash, before and after a restart.
import type { Engine } from '../engines/engine.js';
import { crc32c } from '../jobs/hash-kv-task.js';
import { APPLIED_KEY, decodeApplied } from '../store/storage-keys.js';

/** Bytes hashed between yields to the event loop, so a large store does not stall other clients. */
const hashSliceBytes = 4 * 1024 * 1024;

export interface StoreHash {
  readonly hash: number;
  /** The revision the hashed state is at (from the same point-in-time view). */
  readonly revision: number;
}

export async function hashStore(engine: Engine): Promise<StoreHash> {
  let crc = 0;
  let revision = 0;
  let sinceYield = 0;
  for await (const pairs of engine.iterateBatches({})) {
    for (const [key, value] of pairs) {
      if (key.equals(APPLIED_KEY)) {
        revision = decodeApplied(value).revision;
        continue;
      }
      crc = crc32c(value, crc32c(key, crc));
      sinceYield += key.length + value.length;
    }
    if (sinceYield >= hashSliceBytes) {
      sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return { hash: crc, revision };
}
