// etcd's mvcc operation counters and its proposal counters, counted as plain numbers. Reads and Txns
// are counted where this member serves them (a decorator over the KV API); puts and deletes where
// every member applies them (the store's applied stream), as etcd counts them on each member.
import type { Observable } from 'rxjs';
import type { KvApi } from '../core/kv-api.js';
import { EtcdError, type EtcdErrorKind } from '../core/errors.js';
import type { AppliedBatch } from '../store/applied-batch.js';

export class KvCounters {
  ranges = 0;
  puts = 0;
  deletes = 0;
  txns = 0;
  /** Writes proposed by this member and not yet answered (etcd_server_proposals_pending). */
  proposalsPending = 0;
  /** Writes whose proposal failed: refused, lost or timed out (etcd_server_proposals_failed_total). */
  proposalsFailed = 0;
}

/** The refusals that mean the proposal itself failed, as etcd counts proposalsFailed (not apply-time errors such as a missing lease). */
const proposalFailures: ReadonlySet<EtcdErrorKind> = new Set<EtcdErrorKind>(['timeout', 'stopped', 'tooManyRequests', 'noLeader', 'leaderChanged', 'noSpace']);

/** Wraps `kv` so that its calls are counted in `counters`. */
export function countingKv(kv: KvApi, counters: KvCounters): KvApi {
  const proposal = async <T>(write: Promise<T>): Promise<T> => {
    counters.proposalsPending++;
    try {
      return await write;
    } catch (e) {
      if (e instanceof EtcdError && proposalFailures.has(e.kind)) counters.proposalsFailed++;
      throw e;
    } finally {
      counters.proposalsPending--;
    }
  };
  return {
    range: (req) => {
      counters.ranges++;
      return kv.range(req);
    },
    put: (req, auth) => proposal(kv.put(req, auth)),
    deleteRange: (req, auth) => proposal(kv.deleteRange(req, auth)),
    txn: async (req, auth) => {
      const res = await proposal(kv.txn(req, auth));
      const ops = res.succeeded ? req.success : req.failure;
      // etcd counts an mvcc transaction of more than one operation as a txn (metrics_txn.go)
      if (ops.length > 1) counters.txns++;
      for (const op of ops) if (op.requestRange !== undefined) counters.ranges++;
      return res;
    },
    compact: (req) => kv.compact(req),
  };
}

/** Counts applied puts and deletions (one per key deleted) from the store's applied stream. */
export function countApplied(applied$: Observable<AppliedBatch>, counters: KvCounters): () => void {
  const subscription = applied$.subscribe((batch) => {
    for (const change of batch.changes) {
      if (change.record.tombstone) counters.deletes++;
      else counters.puts++;
    }
  });
  return () => subscription.unsubscribe();
}
