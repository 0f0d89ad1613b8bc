// etcd rejects a write with "etcdserver: request is too large" when the marshalled InternalRaftRequest
// exceeds --max-request-bytes (etcdserver/v3_server.go processInternalRaftRequestOnce). Reads (Range,
// read-only Txn) never go through raft and are never size-checked. We estimate the same number:
//
//   InternalRaftRequest {
//     header = 100 (RequestHeader { ID = 1 (uint64) })   // 2-byte tag + 1-byte len + 1-byte tag + varint(ID)
//     put = 4 | delete_range = 5 | txn = 6 | compaction = 7  // 1-byte tag + varint(len) + len
//   }
//
// The ID comes from etcd's idutil generator: (uint16(memberID) << 48) | (unix-ms & (2^40-1)) << 8 | n,
// so its varint length is fixed by the low 16 bits of the member ID. Not counted: the username and
// auth revision etcd adds to the header when auth is enabled (Lattice has no auth yet).
import { varintSize } from '../../core/proto-writer.js';

/** Bytes of the RequestHeader field etcd adds around a request proposed by this member. */
export function raftHeaderBytes(memberId: bigint): number {
  const prefix = BigInt.asUintN(16, memberId) << 48n;
  // with a zero prefix the ID is the time/counter part, (ms mod 2^40) << 8: almost always 7 varint bytes
  const id = prefix === 0n ? 1n << 47n : prefix;
  return 2 + 1 + 1 + varintSize(id);
}

/** Size etcd would compare with max-request-bytes for a write whose own encoding is `encodedBytes`. */
export function raftRequestBytes(encodedBytes: number, memberId: bigint): number {
  return 1 + varintSize(BigInt(encodedBytes)) + encodedBytes + raftHeaderBytes(memberId);
}
