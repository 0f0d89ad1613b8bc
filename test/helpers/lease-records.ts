// A record of one key at revision 2 with a lease (0: none), for tests of what the lease table tracks.
import type { KvRecord } from '../../src/mvcc/kv-record.js';

export const leaseRecord = (key: string, lease: bigint, tombstone = false): KvRecord => ({
  key,
  value: Buffer.alloc(0),
  createRevision: 2,
  modRevision: 2,
  sub: 0,
  version: 1,
  lease,
  tombstone,
});
