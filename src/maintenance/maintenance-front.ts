// Puts one member's maintenance pieces together: the alarm table the store applies, the quota in
// front of KV and Lease, Alarm/Defragment/Hash for the Maintenance service, Status with the alarms
// of every member, and the auto-compactor. lattice-server.ts only wires it in.
import { AlarmType, type AlarmRequest, type AlarmResponse, type CompactionRequest, type CompactionResponse } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { KvApi, StoreStatus } from '../core/kv-api.js';
import type { LeaseApi } from '../core/lease-api.js';
import type { MaintenanceApi } from '../core/maintenance-api.js';
import type { Timers } from '../core/timers.js';
import type { Engine } from '../engines/engine.js';
import type { Logger } from '../server/logger.js';
import { formatId } from '../server/member-id.js';
import { AlarmTable } from './alarm-table.js';
import { AutoCompactor, goDuration, type AutoCompactionMode } from './auto-compactor.js';
import { BackendQuota, defaultQuotaBytes, maxRecommendedQuotaBytes } from './backend-quota.js';
import { quotaGuardedKv, quotaGuardedLease } from './quota-guard.js';
import { hashStore } from './store-hash.js';

/** Loads the persisted alarms; etcd logs each raise and disarm as it applies them. */
export function loadAlarms(engine: Engine, log: Logger): Promise<AlarmTable> {
  return AlarmTable.load(engine, (change) => {
    const fields = { alarm: AlarmType[change.member.alarm], from: formatId(change.member.memberID) };
    if (change.kind === 'raised') log.warn('alarm raised', fields);
    else log.warn('alarm disarmed', fields);
  });
}

export interface MaintenanceStore {
  readonly revision: number;
  alarm(req: AlarmRequest): Promise<AlarmResponse>;
  compact(req: CompactionRequest): Promise<CompactionResponse>;
  status(): Promise<StoreStatus>;
  /** Resolves once the engine holds everything applied before the call. */
  persisted(): Promise<void>;
}

export interface MaintenanceFrontOptions {
  readonly store: MaintenanceStore;
  readonly engine: Engine;
  readonly alarms: AlarmTable;
  readonly memberId: bigint;
  /** Resolved --quota-backend-bytes (negative: no quota). */
  readonly quotaBytes: number;
  readonly autoCompaction: { readonly mode: AutoCompactionMode; readonly retention: number; readonly revisionCheckIntervalMs?: number | undefined };
  readonly isLeader: () => boolean;
  readonly timers: Timers;
  readonly log: Logger;
}

export class MaintenanceFront {
  readonly api: MaintenanceApi;
  private readonly quota: BackendQuota;
  private readonly compactor: AutoCompactor;
  /** One defragment at a time per member; a second caller shares the running one. */
  private defragmenting: Promise<void> | undefined;

  constructor(private readonly o: MaintenanceFrontOptions) {
    this.quota = new BackendQuota({
      quotaBytes: o.quotaBytes,
      dbSizeBytes: () => o.engine.sizeBytes(),
      alarm: (req) => o.store.alarm(req),
      memberId: o.memberId,
      timers: o.timers,
    });
    logQuota(o.quotaBytes, o.log);
    this.compactor = new AutoCompactor({
      ...o.autoCompaction,
      timers: o.timers,
      currentRevision: () => o.store.revision,
      isLeader: o.isLeader,
      compact: (revision) => o.store.compact({ revision: BigInt(revision), physical: false }),
      log: (level, message, fields) => o.log[level](message, fields),
    });
    this.api = {
      alarm: (req) => o.store.alarm(req),
      defragment: () => this.defragment(),
      // As etcd commits its backend before hashing it: a write answered before the call is in the hash.
      hash: async () => {
        await o.store.persisted();
        return hashStore(o.engine);
      },
    };
  }

  start(): void {
    const { mode, retention } = this.o.autoCompaction;
    if (retention > 0) {
      const fields = mode === 'periodic' ? { 'compact-period': goDuration(retention) } : { 'revision-compaction-retention': retention };
      this.o.log.info(`enabled auto ${mode} compaction`, fields);
    }
    this.compactor.start();
  }

  stop(): void {
    this.compactor.stop();
  }

  guardKv(kv: KvApi): KvApi {
    return quotaGuardedKv(kv, this.quota);
  }

  guardLease(lease: LeaseApi): LeaseApi {
    return quotaGuardedLease(lease, this.quota);
  }

  /** Status as etcd reports it: every member's alarms in errors (AlarmMember's text), so /health is false too. */
  async status(): Promise<StoreStatus> {
    const st = await this.o.store.status();
    const raised = this.o.alarms.get(AlarmType.NONE).map((m) => `memberID:${m.memberID} alarm:${AlarmType[m.alarm]} `);
    return { ...st, errors: [...raised, ...st.errors] };
  }

  private defragment(): Promise<void> {
    this.defragmenting ??= (async () => {
      const started = this.o.timers.now();
      this.o.log.info('starting defragment');
      try {
        await this.o.engine.defragment?.();
        this.o.log.info('finished defragment', { took: goDuration(Math.round(this.o.timers.now() - started)) });
      } catch (e) {
        this.o.log.warn('failed to defragment', { error: e instanceof Error ? e.message : String(e) });
        throw e;
      }
    })().finally(() => (this.defragmenting = undefined));
    return this.defragmenting;
  }
}

function logQuota(quotaBytes: number, log: Logger): void {
  if (quotaBytes < 0) {
    log.info('disabled backend quota', { 'quota-size-bytes': quotaBytes });
    return;
  }
  if (quotaBytes === defaultQuotaBytes) {
    log.info('enabled backend quota with default value', { 'quota-size-bytes': quotaBytes, 'quota-size': '2.1 GB' });
    return;
  }
  if (quotaBytes > maxRecommendedQuotaBytes) log.warn('quota exceeds the maximum value', { 'quota-size-bytes': quotaBytes, 'quota-maximum-size-bytes': maxRecommendedQuotaBytes });
  log.info('enabled backend quota', { 'quota-size-bytes': quotaBytes });
}
