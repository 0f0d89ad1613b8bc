// etcd's mvcc operation counters and its proposal counters, counted as plain numbers. Reads and Txns
// are counted where this member serves them (a decorator over the KV API); puts and deletes where
// every member applies them (the store's applied stream), as etcd counts them on each member.
import type { Observable } from 'rxjs';
import type { KvApi } from '../core/kv-api.js';
import { EtcdError, type EtcdErrorKind } from '../core/errors.js';
import type { AppliedBatch } from '../store/applied-batch.js';
import { isTxnReadOnly } from '../mvcc/kv-operations.js';

export class KvCounters {
  ranges = 0;
  puts = 0;
  deletes = 0;
  txns = 0;
  /** Writes proposed by this member and not yet answered (etcd_server_proposals_pending). */
  proposalsPending = 0;
  /** Writes whose proposal failed: refused, lost or timed out (etcd_server_proposals_failed_total). */
  proposalsFailed = 0;
  /** Reads that took longer than the warning threshold (etcd_server_slow_apply_total). */
  slowApplies = 0;
  /** Leases this member revoked because they expired (while it led). */
  leasesExpired = 0;
}

/** etcd's warning threshold for a request (--experimental-warning-apply-duration, 100 ms). */
export const slowRequestWarningMs = 100;

/** Fields of etcd's "apply request took too long" warning. */
export type SlowRequestWarning = (fields: Readonly<Record<string, string>>) => void;

/** The refusals that mean the proposal itself failed, as etcd counts proposalsFailed (not apply-time errors such as a missing lease). */
const proposalFailures: ReadonlySet<EtcdErrorKind> = new Set<EtcdErrorKind>(['timeout', 'stopped', 'tooManyRequests', 'noLeader', 'leaderChanged', 'noSpace']);

const keyText = (b: Uint8Array): string => JSON.stringify(Buffer.from(b).toString('latin1'));

/** Go's time.Duration text for a fractional number of milliseconds (123.456789ms, 1.5s). */
function goMilliseconds(ms: number): string {
  return ms < 1000 ? `${+ms.toFixed(6)}ms` : `${+(ms / 1000).toFixed(9)}s`;
}

/** Wraps `kv` so that its calls are counted in `counters`; a slow Range is warned about as etcd does. */
export function countingKv(kv: KvApi, counters: KvCounters, warnSlow?: SlowRequestWarning): KvApi {
  // Made once: a proposal's counting is one `then` on its promise, not an async frame per write.
  const answered = <T>(res: T): T => {
    counters.proposalsPending--;
    return res;
  };
  const refused = (e: unknown): never => {
    counters.proposalsPending--;
    if (e instanceof EtcdError && proposalFailures.has(e.kind)) counters.proposalsFailed++;
    throw e;
  };
  const proposal = <T>(write: Promise<T>): Promise<T> => {
    counters.proposalsPending++;
    return write.then(answered, refused);
  };
  return {
    range: async (req) => {
      counters.ranges++;
      const started = performance.now();
      const res = await kv.range(req);
      const took = performance.now() - started;
      if (took > slowRequestWarningMs) {
        counters.slowApplies++;
        warnSlow?.({
          took: goMilliseconds(took),
          'expected-duration': `${slowRequestWarningMs}ms`,
          prefix: 'read-only range ',
          request: `key:${keyText(req.key)} range_end:${keyText(req.rangeEnd)}${req.countOnly ? ' count_only:true' : ''}`,
          response: `range_response_count:${res.kvs.length}`,
        });
      }
      return res;
    },
    put: (req, auth) => proposal(kv.put(req, auth)),
    deleteRange: (req, auth) => proposal(kv.deleteRange(req, auth)),
    txn: async (req, auth) => {
      // a read-only Txn is served without a proposal
      const res = await (isTxnReadOnly(req) ? kv.txn(req, auth) : proposal(kv.txn(req, auth)));
      const ops = res.succeeded ? req.success : req.failure;
      // etcd counts an mvcc transaction of more than one operation as a txn (metrics_txn.go)
      if (ops.length > 1) counters.txns++;
      for (const op of ops) if (op.requestRange !== undefined) counters.ranges++;
      return res;
    },
    compact: (req) => kv.compact(req),
  };
}

/**
 * Live keys (etcd_debugging_mvcc_keys_total), kept from the applied stream: a put with no live
 * record before it adds a key, a deletion of a live key removes one. The starting count comes from
 * one count at some revision R; changes applied before the count's answer arrives are kept (a
 * bounded number) and only those past R are added, so the count is exact whatever the interleaving.
 */
export class LiveKeyCount {
  private base: { readonly count: number; readonly revision: number } | undefined;
  private delta = 0;
  private early: [revision: number, delta: number][] = [];
  /** Set when more batches arrived before the starting count than `maxEarlyBatches`: count again. */
  private overflowed = false;

  constructor(private readonly maxEarlyBatches = 100_000) {}

  applied(batch: AppliedBatch): void {
    let d = 0;
    for (const change of batch.changes) {
      if (change.record.tombstone) {
        if (change.prev !== undefined) d--;
      } else if (change.prev === undefined) d++;
    }
    if (d === 0) return;
    if (this.base !== undefined) {
      if (batch.revision > this.base.revision) this.delta += d;
    } else if (this.early.length < this.maxEarlyBatches) this.early.push([batch.revision, d]);
    else this.overflowed = true;
  }

  /** The count of live keys at `revision`; returns false when it came too late and must be taken again. */
  started(count: number, revision: number): boolean {
    if (this.overflowed) {
      this.overflowed = false;
      this.early = [];
      return false;
    }
    this.base = { count, revision };
    for (const [r, d] of this.early) if (r > revision) this.delta += d;
    this.early = [];
    return true;
  }

  /** Undefined until the starting count has arrived. */
  get value(): number | undefined {
    return this.base === undefined ? undefined : this.base.count + this.delta;
  }
}

/** Counts applied puts and deletions (one per key deleted) and live keys from the store's applied stream. */
export function countApplied(applied$: Observable<AppliedBatch>, counters: KvCounters, keys?: LiveKeyCount): () => void {
  const subscription = applied$.subscribe((batch) => {
    for (const change of batch.changes) {
      if (change.record.tombstone) counters.deletes++;
      else counters.puts++;
    }
    keys?.applied(batch);
  });
  return () => subscription.unsubscribe();
}
