// A lease revoke's key deletions as one Txn: a single revision whose sub-revisions follow key order,
// the order etcd's lessor deletes them in (so every member produces the same history).
import type { WriteCommand } from '../mvcc/apply-command.js';
import { keyBytes, type Key } from '../core/keys.js';

const EMPTY = Buffer.alloc(0);

export function revokeAsTxn(sortedKeys: readonly Key[]): WriteCommand {
  return {
    type: 'txn',
    req: {
      compare: [],
      success: sortedKeys.map((key) => ({ requestDeleteRange: { key: keyBytes(key), rangeEnd: EMPTY, prevKv: false } })),
      failure: [],
    },
  };
}
