// etcd's backend quota (etcdserver/quota.go and api/v3rpc/quota.go): before a Put, a Txn or a
// LeaseGrant is proposed, its cost is added to the db size; at or past the quota the member raises
// the NOSPACE alarm through the log and the request fails with "database space exceeded".
import { EtcdError } from '../core/errors.js';
import type { Timers } from '../core/timers.js';
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  type AlarmRequest,
  type AlarmResponse,
  type PutRequest,
  type TxnRequest,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';

/** etcd's DefaultQuotaBytes (2 GiB) and the size past which it warns (8 GiB). */
export const defaultQuotaBytes = 2 * 1024 * 1024 * 1024;
export const maxRecommendedQuotaBytes = 8 * 1024 * 1024 * 1024;
/** etcd's per-request overheads in its cost estimate. */
const kvOverheadBytes = 256;
const leaseOverheadBytes = 64;
/** How stale the db size a quota check reads may be: measuring it walks the engine's files. */
export const dbSizeMaxAgeMs = 100;
/**
 * With this much room left under the quota, a measurement may be older: no write load fills 256 MiB
 * in 2 s, and the walk (a readdir and a stat per file, through the thread pool) cost about 1.4 % of
 * a busy member's CPU at ten a second.
 */
export const roomyHeadroomBytes = 256 * 1024 * 1024;
export const roomyDbSizeMaxAgeMs = 2000;

/** How long a measurement of `bytes` stays fresh under `quotaBytes`. */
export const dbSizeFreshMs = (bytes: number, quotaBytes: number): number => (quotaBytes - bytes >= roomyHeadroomBytes ? roomyDbSizeMaxAgeMs : dbSizeMaxAgeMs);

export const putCost = (req: PutRequest): number => kvOverheadBytes + req.key.length + req.value.length;

/** etcd's costTxn: the larger branch's puts (top level only, as etcd counts). */
export function txnCost(req: TxnRequest): number {
  const branch = (ops: TxnRequest['success']): number => ops.reduce((sum, op) => sum + (op.requestPut === undefined ? 0 : putCost(op.requestPut)), 0);
  return Math.max(branch(req.success), branch(req.failure));
}

export const leaseGrantCost = (): number => leaseOverheadBytes;

export interface BackendQuotaOptions {
  /** Resolved flag value: negative disables the quota (etcd's passthrough quota). */
  readonly quotaBytes: number;
  /** Bytes the engine occupies on disk now. */
  readonly dbSizeBytes: () => Promise<number>;
  /** Proposes an Alarm request through the log (the store's alarm). */
  readonly alarm: (req: AlarmRequest) => Promise<AlarmResponse>;
  readonly memberId: bigint;
  readonly timers: Timers;
}

export class BackendQuota {
  private measured: { readonly at: number; readonly bytes: number; readonly freshMs: number } | undefined;
  private measuring: Promise<number> | undefined;

  constructor(private readonly options: BackendQuotaOptions) {}

  get enabled(): boolean {
    return this.options.quotaBytes >= 0;
  }

  /**
   * True when a request of `cost` bytes is known to fit right now (no quota, or a fresh measurement
   * with room), so the caller can go on without waiting; false means: call check().
   */
  fitsNow(cost: number): boolean {
    if (!this.enabled || cost === 0) return true;
    const measured = this.measured;
    return measured !== undefined && this.options.timers.now() - measured.at < measured.freshMs && measured.bytes + cost < this.options.quotaBytes;
  }

  /**
   * Resolves when a request of `cost` bytes fits; otherwise raises NOSPACE for this member (waiting
   * for the log as etcd does, whatever the outcome) and rejects with noSpace.
   */
  async check(cost: number): Promise<void> {
    if (!this.enabled || cost === 0) return;
    const size = await this.dbSize();
    if (size + cost < this.options.quotaBytes) return;
    await this.options
      .alarm({ action: AlarmRequest_AlarmAction.ACTIVATE, memberID: this.options.memberId, alarm: AlarmType.NOSPACE })
      .catch(() => undefined);
    throw new EtcdError('noSpace');
  }

  private async dbSize(): Promise<number> {
    const now = this.options.timers.now();
    if (this.measured !== undefined && now - this.measured.at < this.measured.freshMs) return this.measured.bytes;
    // One measurement at a time; callers meanwhile share it.
    this.measuring ??= this.options
      .dbSizeBytes()
      .then((bytes) => {
        this.measured = { at: this.options.timers.now(), bytes, freshMs: dbSizeFreshMs(bytes, this.options.quotaBytes) };
        return bytes;
      })
      .finally(() => (this.measuring = undefined));
    return this.measuring;
  }
}
