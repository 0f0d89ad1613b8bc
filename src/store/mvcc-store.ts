// The one store every adapter talks to. Writes go through the revision log: propose → committed →
// applied in log order by the owning shard actor(s) → persisted → caller answered (or timed out).
// Reads are served by the shards at the store's current revision without a log entry; a
// linearizable one first waits at the read barrier until the store has applied the log's read index.
import { Subject, type Observable } from 'rxjs';
import type { AppliedBatch, AppliedChange } from './applied-batch.js';
import type {
  AlarmRequest,
  AlarmResponse,
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  LeaseCheckpointRequest,
  LeaseCheckpointResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
  TxnRequest,
  TxnResponse,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { EtcdError, type EtcdErrorKind } from '../core/errors.js';
import { keyRange, type KeyRange } from '../core/keys.js';
import type { HashKvResult, KvApi, StoreStatus } from '../core/kv-api.js';
import type { Engine, WriteOp } from '../engines/engine.js';
import type { Command, LogEntry } from '../log/command.js';
import { IdGenerator } from '../core/id-generator.js';
import { systemTimers, type Timers } from '../core/timers.js';
import { AppliedIndex } from './applied-index.js';
import { defaultRequestTimeoutMs, ProposalWaiters, type RequestIdSource } from './proposal-waiters.js';
import { isSerializableRead, ReadBarrier } from './read-barrier.js';
import { loadPersistedState, type PersistedMarks } from './persisted-state.js';
import type { RevisionLog } from '../log/revision-log.js';
import { applyWrite, leasesNamedBy, revisionsUsed, serveRead, type ApplyOutcome, type ReadOutcome, type ReadRequest, type ReadResponse, type WriteCommand, type WriteResponse } from '../mvcc/apply-command.js';
import { systemClock } from '../actors/lease-table.js';
import { LeaseTableRef } from '../actors/lease-actor.js';
import type { LeaseLedger } from '../actors/lease-table-ports.js';
import type { Key } from '../core/keys.js';
import { askLeaseKeys, keysOfOnly, notAsked } from './asked-lease-keys.js';
import type { LeaseKeys } from '../auth/request-permissions.js';
import { revokeAsTxn } from './lease-revoke.js';
import { isTxnReadOnly } from '../mvcc/kv-operations.js';
import { byRevisionOrder, cutAtRevisions, type ChangeScan, type RecordChange, type RevisionId } from '../mvcc/key-history-index.js';
import { encodeRecord, type KvRecord } from '../mvcc/kv-record.js';
import type { RevisionState } from '../mvcc/store-txn.js';
import type { ShardSet } from './shard-set.js';
import { hashKv, inlineHashJobs } from './hash-kv.js';
import type { HashJobs } from '../jobs/job-pool.js';
import { describeStorageFault, refusalFor, type StorageFault } from '../storage/storage-fault.js';
import type { AuthHeader, AuthRequest } from '../auth/auth-op.js';
import type { AuthAnswer, AuthOutcome } from '../auth/auth-state.js';
import { refusesUnderNoSpace, refusesWhenCorrupt, type AlarmLedger } from '../maintenance/alarm-table.js';
import { encodeLeaseTtl, leaseKey, recordKey } from './storage-keys.js';
import { PersistQueue } from './persist-queue.js';

type SettledResult =
  | WriteResponse
  | { type: 'compact'; response: CompactionResponse }
  | { type: 'leaseGrant'; response: LeaseGrantResponse }
  | { type: 'leaseRevoke'; response: LeaseRevokeResponse }
  | { type: 'leaseCheckpoint'; response: LeaseCheckpointResponse }
  | { type: 'auth'; response: AuthAnswer }
  | { type: 'alarm'; response: AlarmResponse };

type Settled = { readonly ok: true; readonly result: SettledResult } | { readonly ok: false; readonly error: EtcdErrorKind };

/** What the store needs of the lease table while applying the log (src/actors/lease-table-ports.ts). */
export type { LeaseLedger };

export type LeaseRevokeCommand = Extract<Command, { type: 'leaseRevoke' }>;
type LeaseGrantCommand = Extract<Command, { type: 'leaseGrant' }>;

export type ConfChangeEntry = LogEntry & { readonly command: Extract<Command, { type: 'confChange' }> };

/** The auth state's apply-time half (src/auth/auth-state.ts), in log order like the lease table. */
export interface AuthApplier {
  apply(req: AuthRequest, logIndex: number, ops: WriteOp[]): AuthOutcome;
  /**
   * Why a write may not be applied now (etcd's authApplierV3 for auth-headed writes; tenant limits for all); undefined: it may.
   * `leaseKeys`: the keys attached to the leases the write names, asked of the lease table at this
   * log position when readsLeaseKeys(command) said the check reads them.
   */
  writeRefusal(command: WriteCommand, leaseKeys?: LeaseKeys): EtcdErrorKind | undefined;
  /** True when the write's check reads what earlier writes can change (the keys attached to a lease): it must be checked after them. */
  checkReadsWrittenState(command: WriteCommand): boolean;
  /** True when writeRefusal reads the keys attached to the write's leases (auth's checkLeasePuts), so they must be asked for. */
  readsLeaseKeys(command: WriteCommand): boolean;
  /** Why a lease revoke may not be applied now (etcd's authApplierV3.LeaseRevoke: write on every attached key); undefined: it may. `leaseKeys`: the lease's keys at this log position. */
  leaseRevokeRefusal(command: LeaseRevokeCommand, leaseKeys?: LeaseKeys): EtcdErrorKind | undefined;
  /** True when applying the write changes what the checks of later writes read (the tenant specs): it is a run of its own. */
  appliedAlone?(command: WriteCommand): boolean;
}

export interface StoreHooks {
  /** Fills the header fields the store does not own (cluster, member, term). */
  readonly header: (revision: number) => ResponseHeader;
  /**
   * The store hit an error it cannot go on from (writing the log or the engine, or applying,
   * failed); it takes no more writes. Called once.
   */
  readonly onFatal: (fault: StorageFault) => void;
  /**
   * The lease table (the lease actor's client), updated in log order as entries are applied (and
   * restored at open); every answer is awaited before the next entry. Absent: a lease actor of the
   * store's own that nobody expires, enough for tests of the store alone.
   */
  readonly leases?: LeaseLedger;
  /** Applies a membership change, in log order (the membership module). Absent: ignored. */
  readonly onConfChange?: (entry: ConfChangeEntry) => void | Promise<void>;
  /** Applies auth entries and checks every write (auth's checks pass writes without an auth header; tenant limits do not). Absent: auth entries fail. */
  readonly auth?: AuthApplier;
  /** Request ids for proposals. Absent: etcd's generator for the header's member ID, seeded from now. */
  readonly requestIds?: RequestIdSource;
  /** Deadlines of writes and linearizable reads. Absent: the system clock. */
  readonly timers?: Timers;
  /** The alarm list, changed by Alarm entries in log order. Absent: Alarm entries are refused. */
  readonly alarms?: AlarmLedger;
}

/** Writes proposed but not yet applied before new ones get etcd's "too many requests". */
const maxInFlightWrites = 100_000;
/** Linearizable reads waiting at the read barrier before new ones get "too many requests". */
const maxWaitingReads = 100_000;
/** Waits for the applied index at once: a read barrier round, or opening (see AppliedIndex). */
const maxAppliedIndexWaiters = 64;
/** Default of StoreTuning.syncedPersistEveryEntries. */
export const defaultSyncedPersistEveryEntries = 10_000;

/** Bounds tests shrink (so that, say, the log is trimmed within a short run). */
export interface StoreTuning {
  /** Log entries applied between persist batches written with sync (see persist). */
  readonly syncedPersistEveryEntries: number;
  /** etcd's request timeout for writes and linearizable reads (default: etcd's with its default election timeout). */
  readonly requestTimeoutMs?: number;
}

export class MvccStore implements KvApi {
  private rev: number;
  private compactRev: number;
  private readonly applied: AppliedIndex;
  private readonly proposals: ProposalWaiters<Settled>;
  private readonly reads: ReadBarrier;
  /** Until open() returns: a failure of the apply loop fails the open instead of stopping the store. */
  private opening = true;
  private readonly persistQueue: PersistQueue;
  private readonly appliedSubject = new Subject<AppliedBatch>();
  /**
   * Every applied batch, in log order, as soon as it is applied (before the engine has it: the log
   * already holds it durably). No backpressure: a consumer that can fall behind buffers for itself.
   */
  readonly applied$: Observable<AppliedBatch> = this.appliedSubject.asObservable();
  /** Settles once the log has completed and every committed batch has been applied. */
  private applyDrained: Promise<void> = Promise.resolve();
  private failure: StorageFault | null = null;

  private constructor(
    private readonly engine: Engine,
    private readonly log: RevisionLog,
    private readonly shards: ShardSet,
    private readonly hooks: StoreHooks,
    private readonly jobs: HashJobs,
    private readonly tuning: StoreTuning,
    private readonly leases: LeaseLedger,
    marks: PersistedMarks,
  ) {
    this.rev = marks.revision;
    this.compactRev = marks.compactRevision;
    this.persistQueue = new PersistQueue({
      engine,
      log,
      syncedIndex: marks.appliedIndex,
      syncedEveryEntries: tuning.syncedPersistEveryEntries,
      onFailure: (e) => this.stop(e),
    });
    const timers = hooks.timers ?? systemTimers;
    const timeoutMs = tuning.requestTimeoutMs ?? defaultRequestTimeoutMs;
    const ids = hooks.requestIds ?? new IdGenerator(hooks.header(0).memberId, Date.now());
    this.proposals = new ProposalWaiters<Settled>({ ids, timeoutMs, maxWaiters: maxInFlightWrites, timers });
    this.applied = new AppliedIndex(marks.appliedIndex, timers, maxAppliedIndexWaiters);
    this.reads = new ReadBarrier({ readIndex: () => log.readIndex(), applied: this.applied, timeoutMs, maxWaitingReads, timers });
  }

  /**
   * Loads the persisted state into the shards, then follows the log from there: one apply loop
   * replays what was committed and goes on with what commits later, so nothing committed meanwhile is
   * missed or applied twice. Returns once everything committed at the start is applied. `jobs` runs
   * HashKV's checksum; the caller owns it (and closes it after the store).
   */
  static async open(
    engine: Engine,
    log: RevisionLog,
    shards: ShardSet,
    hooks: StoreHooks,
    jobs: HashJobs = inlineHashJobs,
    tuning: StoreTuning = { syncedPersistEveryEntries: defaultSyncedPersistEveryEntries },
  ): Promise<MvccStore> {
    const leases = hooks.leases ?? new LeaseTableRef({ minTtlSeconds: 1, clock: systemClock });
    const marks = await loadPersistedState(engine, shards, leases);
    await leases.flush?.();
    const store = new MvccStore(engine, log, shards, hooks, jobs, tuning, leases, marks);
    const committed = log.committedIndex;
    if (committed < marks.appliedIndex) {
      // New entries would be numbered at or below state already applied and be skipped at the next
      // replay; the WAL was lost or cut short (possible after a power failure with --unsafe-no-fsync).
      throw new Error(`the revision log ends at entry ${committed} but the applied state is at ${marks.appliedIndex}: the WAL under the data dir was lost or truncated`);
    }
    store.applyDrained = store.applyLog(marks.appliedIndex);
    try {
      await store.applied.reached(committed, Infinity);
    } catch (e) {
      // The caller closes the engine next: a write of the replay still running must land first.
      await store.persistQueue.drain();
      throw e;
    }
    // What the replay applied goes to the engine now, not a moment later.
    await store.persistQueue.drain();
    store.opening = false;
    // A failure found outside a write (the memory engine's background snapshot, a log trim) stops
    // the store at once, so that /health and Status say so before the next write is acknowledged.
    engine.onFailure((failure) => store.stop(failure));
    log.onFailure((failure) => store.stop(failure));
    return store;
  }

  get revision(): number {
    return this.rev;
  }

  /** Resolves once the engine holds everything applied before the call (its write failing: once the store stopped). */
  persisted(): Promise<void> {
    return this.persistQueue.drain();
  }

  /** The log index this store has applied up to (Status's raft index, without asking the engine its size). */
  get appliedIndex(): number {
    return this.applied.current;
  }

  /** History below this revision is gone (-1 before any compaction). */
  get compactRevision(): number {
    return this.compactRev;
  }

  /**
   * The changes in `range` with revisions in [fromRev, toRev] (toRev <= the current revision), in
   * revision order, cut after maxRevisions distinct revisions: what a watcher catching up reads.
   * prev is left out where etcd's Range at modRevision - 1 would fail as compacted. Rejects with
   * compacted when history from fromRev is gone, also if a compaction lands during the read.
   */
  async changes(range: KeyRange, fromRev: number, toRev: number, maxRevisions: number): Promise<ChangeScan> {
    if (fromRev < this.compactRev) throw new EtcdError('compacted');
    const parts = await Promise.all(
      this.shards.shardsOf(range).map((s) => this.shards.shard(s).ask({ type: 'changes', range, fromRev, toRev, maxRevisions })),
    );
    const compactRev = this.compactRev;
    if (fromRev < compactRev) throw new EtcdError('compacted');
    const through = Math.min(...parts.map((p) => p.throughRevision));
    const merged: RecordChange[] = [];
    for (const part of parts) {
      for (const c of part.changes) {
        if (c.record.modRevision > through) continue;
        // `?? undefined`: a missing prev may come back from a worker thread as null.
        const prev = c.record.modRevision - 1 < compactRev ? undefined : (c.prev ?? undefined);
        merged.push({ record: c.record, prev });
      }
    }
    if (parts.length > 1) merged.sort(byRevisionOrder);
    return cutAtRevisions(merged, through, maxRevisions);
  }

  async status(): Promise<StoreStatus> {
    if (this.failure === null && this.log.failure !== undefined) this.stop(this.log.failure);
    const fault = this.failure;
    // A stopped engine may be unable to say its size; the failure is what Status must show.
    const size = await this.engine.sizeBytes().catch((e: unknown) => {
      if (fault === null) throw e;
      return 0;
    });
    return {
      revision: this.rev,
      compactRevision: this.compactRev,
      raftIndex: this.applied.current,
      raftTerm: this.log.term,
      dbSizeBytes: size,
      // Estimates (RocksDB counts its memtables whole) never report more in use than on disk.
      dbSizeInUseBytes: Math.min(size, (await this.engine.sizeInUseBytes?.().catch(() => undefined)) ?? size),
      alarms: fault?.alarm === undefined ? [] : [fault.alarm],
      errors: fault === null ? [] : [fault.description],
    };
  }

  async range(req: RangeRequest): Promise<RangeResponse> {
    const owner = this.shards.ownerOfRange(keyRange(req.key, req.rangeEnd));
    const outcome = await this.read({ type: 'range', req }, owner);
    if (outcome.result.type !== 'range') throw new Error('range answered with another response type');
    return this.stamp(outcome.result.response);
  }

  put(req: PutRequest, auth?: AuthHeader): Promise<PutResponse> {
    // One `then`, not an async frame: every put passes here.
    return this.propose(auth === undefined ? { type: 'put', req } : { type: 'put', req, auth }).then(this.putAnswer);
  }

  private readonly putAnswer = (s: Settled): PutResponse => {
    const r = settledResult(s);
    if (r.type !== 'put') throw new Error('put answered with another response type');
    return this.stamp(r.response);
  };

  async deleteRange(req: DeleteRangeRequest, auth?: AuthHeader): Promise<DeleteRangeResponse> {
    const r = await this.write(auth === undefined ? { type: 'deleteRange', req } : { type: 'deleteRange', req, auth });
    if (r.type !== 'deleteRange') throw new Error('delete answered with another response type');
    return this.stamp(r.response);
  }

  /** `auth`: checked when the write is applied; a read-only Txn's permissions are the caller's to check. */
  async txn(req: TxnRequest, auth?: AuthHeader): Promise<TxnResponse> {
    // A read-only Txn changes nothing, so it is served like a Range, without a log entry.
    if (isTxnReadOnly(req)) {
      const outcome = await this.read({ type: 'txn', req }, this.shards.ownerOf({ type: 'txn', req }));
      if (outcome.result.type !== 'txn') throw new Error('txn answered with another response type');
      return this.stamp(outcome.result.response);
    }
    const r = await this.write(auth === undefined ? { type: 'txn', req } : { type: 'txn', req, auth });
    if (r.type !== 'txn') throw new Error('txn answered with another response type');
    return this.stamp(r.response);
  }

  /** Grants through the log; the request must carry its ID (the lease front picks one for 0). */
  async leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    const r = await this.write({ type: 'leaseGrant', req });
    if (r.type !== 'leaseGrant') throw new Error('lease grant answered with another response type');
    return this.stamp(r.response);
  }

  /**
   * Revokes through the log: every attached key is deleted in one revision. `auth`: the revoking
   * client, checked when applied against the keys then attached; undefined: unchecked (expiry; revokeHeaderAsked's plain revokes).
   */
  async leaseRevoke(req: LeaseRevokeRequest, auth: AuthHeader | undefined): Promise<LeaseRevokeResponse> {
    const r = await this.write(auth === undefined ? { type: 'leaseRevoke', req } : { type: 'leaseRevoke', req, auth });
    if (r.type !== 'leaseRevoke') throw new Error('lease revoke answered with another response type');
    return this.stamp(r.response);
  }

  /** Records leases' remaining TTLs through the log (the primary's checkpoints). */
  async leaseCheckpoint(req: LeaseCheckpointRequest): Promise<LeaseCheckpointResponse> {
    const r = await this.write({ type: 'leaseCheckpoint', req });
    if (r.type !== 'leaseCheckpoint') throw new Error('lease checkpoint answered with another response type');
    return this.stamp(r.response);
  }

  async compact(req: CompactionRequest): Promise<CompactionResponse> {
    const r = await this.write({ type: 'compact', req });
    if (r.type !== 'compact') throw new Error('compact answered with another response type');
    return this.stamp(r.response);
  }

  /** One Auth RPC through the log; its answer once applied. */
  async proposeAuth(req: AuthRequest): Promise<AuthAnswer> {
    const r = await this.write({ type: 'auth', req });
    if (r.type !== 'auth') throw new Error('auth request answered with another response type');
    return r.response;
  }

  /** etcd's Alarm: GET, ACTIVATE and DEACTIVATE all go through the log, as in etcd. */
  async alarm(req: AlarmRequest): Promise<AlarmResponse> {
    const r = await this.write({ type: 'alarm', req });
    if (r.type !== 'alarm') throw new Error('alarm answered with another response type');
    return r.response;
  }

  /** etcd's HashByRev (see hash-kv.ts). */
  hashKv(revision: bigint): Promise<HashKvResult> {
    return hashKv(this, this.shards, this.jobs, revision);
  }

  async close(): Promise<void> {
    // Entries already durable in the log are applied and answered before the shards stop.
    await this.log.close();
    await this.applyDrained;
    this.appliedSubject.complete();
    await this.persistQueue.drain();
    this.proposals.failAll(new EtcdError('stopped'));
    this.applied.end(new EtcdError('stopped'));
    this.reads.close();
    await this.shards.stop();
  }

  /** Fail-stop: nothing more is applied or persisted, waiting and new writes fail instead of hanging. */
  private stop(e: unknown): void {
    if (this.failure !== null) return;
    this.failure = describeStorageFault(e);
    this.persistQueue.stop();
    this.hooks.onFatal(this.failure);
    this.proposals.failAll(refusalFor(this.failure));
    this.applied.end(refusalFor(this.failure));
  }

  private stamp<T extends { header: ResponseHeader | undefined }>(response: T): T {
    response.header = this.hooks.header(Number(response.header?.revision ?? BigInt(this.rev)));
    return response;
  }

  private async read(read: ReadRequest, owner: number | null): Promise<ReadOutcome & { ok: true }> {
    if (!isSerializableRead(read)) await this.reads.wait();
    const outcome = owner === null ? await serveRead(this.shards.view, read, this.revs()) : await this.shards.shard(owner).ask({ type: 'read', revs: this.revs(), read });
    if (!outcome.ok) throw new EtcdError(outcome.error);
    // A compaction applied while the read was queued may have removed part of the history it read.
    if (oldestRequestedRevision(read, outcome.result) < this.compactRev) throw new EtcdError('compacted');
    return outcome;
  }

  private write(command: Command): Promise<SettledResult> {
    return this.propose(command).then(settledResult);
  }

  /** A write's settled outcome. Not async (every write passes here): a refusal before proposing still comes as a rejection. */
  private propose(command: Command): Promise<Settled> {
    // The log stopped on a failed write or fsync (perhaps on another caller's entry): so does the store.
    if (this.failure === null && this.log.failure !== undefined) this.stop(this.log.failure);
    if (this.failure !== null) return Promise.reject(refusalFor(this.failure));
    // Every write waits until applied (or its deadline), so this also bounds what the log has
    // committed but the store not yet applied.
    let registered: { readonly id: bigint; readonly outcome: Promise<Settled> };
    try {
      registered = this.proposals.register();
    } catch (e) {
      return Promise.reject(e);
    }
    const id = registered.id;
    // Committed: the answer comes when the entry is applied. Refused or lost: it comes from here.
    this.log.propose(id, command).catch((e: unknown) => {
      if (this.log.failure !== undefined) this.stop(this.log.failure);
      this.proposals.fail(id, this.failure === null ? e : refusalFor(this.failure));
    });
    return registered.outcome;
  }

  /** The one loop that applies the log: replay, then live (RevisionLog.follow). */
  private async applyLog(fromIndex: number): Promise<void> {
    try {
      for await (const entries of this.log.follow(fromIndex)) {
        if (this.failure !== null) break;
        await this.applyBatch(entries);
      }
      this.applied.end(new EtcdError('stopped'));
    } catch (e) {
      if (this.opening) {
        // The open fails and its caller closes the engine: nothing may be written to it later.
        this.persistQueue.stop();
        this.applied.end(e);
      } else this.stop(e);
    }
  }

  /** Applies committed entries in order; runs of entries owned by one shard go to it in one message. */
  private async applyBatch(entries: readonly LogEntry[]): Promise<void> {
    if (this.failure !== null) return;
    const changes: KvRecord[] = [];
    const applied: AppliedChange[] = [];
    // Callers are answered only after the batch is published, so that whatever a caller does next
    // (create a watch from "now", say) already sees the revision its write was answered with.
    const answers: [LogEntry, Settled][] = [];
    const removed: RevisionId[] = [];
    const leaseOps: WriteOp[] = [];
    let compacted = false;
    let i = 0;
    while (i < entries.length) {
      const entry = entries[i]!;
      // etcd's applierV3Corrupt, then applierV3Capped: with CORRUPT or NOSPACE raised every member
      // refuses the same entries.
      if (this.hooks.alarms?.corrupt === true && refusesWhenCorrupt(entry.command)) {
        answers.push([entry, { ok: false, error: 'corrupt' }]);
        i++;
        continue;
      }
      if (this.refusedByAlarm(entry.command)) {
        answers.push([entry, { ok: false, error: 'noSpace' }]);
        i++;
        continue;
      }
      if (entry.command.type === 'leaseGrant') {
        // A run of grants (what a burst of clients makes) is one question to the lease table.
        let j = i + 1;
        while (j < entries.length && entries[j]!.command.type === 'leaseGrant' && !this.refusedByAlarm(entries[j]!.command)) j++;
        await this.applyLeaseGrants(entries.slice(i, j), answers, leaseOps);
        i = j;
        continue;
      }
      if (!isKvWrite(entry.command)) {
        compacted = (await this.applyOther(entry, answers, removed, leaseOps, changes, applied)) || compacted;
        i++;
        continue;
      }
      const command = entry.command;
      // Every write is offered to the checks: auth's pass writes without an auth header, tenant size limits do not.
      const refused = this.hooks.auth?.writeRefusal(command, this.hooks.auth.readsLeaseKeys(command) ? await askLeaseKeys(this.leases, leasesNamedBy(command)) : notAsked);
      if (refused !== undefined) {
        answers.push([entry, { ok: false, error: refused }]);
        i++;
        continue;
      }
      const owner = this.shards.ownerOf(command);
      if (owner === null) {
        const outcome = await applyWrite(this.shards.view, command, this.revs(), new Set(await this.liveLeases([command])));
        this.finish(entry, outcome, changes, applied, answers);
        i++;
        continue;
      }
      let j = i + 1;
      // a write that changes what later writes' checks read (the tenant specs) is a run of its own
      const alone = this.hooks.auth?.appliedAlone?.(command) === true;
      while (!alone && j < entries.length && isKvWrite(entries[j]!.command) && this.shards.ownerOf(entries[j]!.command) === owner && !this.endsRunForAuth(entries[j]!.command) && !this.refusedByAlarm(entries[j]!.command)) j++;
      const run = entries.slice(i, j);
      const commands = run.map((e) => e.command as WriteCommand);
      const reply = await this.shards.shard(owner).ask({ type: 'apply', revs: this.revs(), commands, liveLeases: await this.liveLeases(commands) });
      run.forEach((e, k) => this.finish(e, reply[k]!, changes, applied, answers));
      i = j;
    }
    // The lease table's updates from this batch (track) are sent now; every later ask queues behind
    // them. Nothing here uses their answer, so the batch does not wait for it, but a failure is never
    // lost: it stops the store at once, as a failed persist of an answered batch does.
    const leasesUpdated = this.leases.flush?.();
    if (leasesUpdated !== undefined) leasesUpdated.catch((e: unknown) => this.stop(e));
    if (applied.length > 0 || compacted) {
      this.appliedSubject.next({ changes: applied, revision: this.rev, compactRevision: this.compactRev });
    }
    // Only the caller that proposed an entry waits for its id: other members' entries answer nobody.
    for (const [entry, settled] of answers) this.proposals.settle(entry.requestId, settled);
    const last = entries[entries.length - 1];
    if (last !== undefined) this.applied.advance(last.index);
    await this.persist(changes, removed, compacted, leaseOps);
  }

  /** Applies an entry that is not a key-value write; true when it was a compaction that took effect. */
  private async applyOther(
    entry: LogEntry,
    answers: [LogEntry, Settled][],
    removed: RevisionId[],
    leaseOps: WriteOp[],
    changes: KvRecord[],
    applied: AppliedChange[],
  ): Promise<boolean> {
    const command = entry.command;
    switch (command.type) {
      case 'compact': {
        const outcome = await this.applyCompact(command.req, removed);
        answers.push([entry, outcome]);
        return outcome.ok;
      }
      case 'leaseGrant':
        await this.applyLeaseGrants([entry], answers, leaseOps);
        return false;
      case 'leaseRevoke': {
        // Checked against the auth state and the attached keys this entry meets: the same on every member.
        const id = command.req.ID;
        const keys = await this.leases.keysOf(id);
        const refused = this.hooks.auth?.leaseRevokeRefusal(command, keysOfOnly(id, keys));
        answers.push([entry, refused !== undefined ? { ok: false, error: refused } : await this.applyLeaseRevoke(command.req, keys, leaseOps, changes, applied)]);
        return false;
      }
      case 'leaseCheckpoint':
        // etcd 3.4 keeps checkpoints in memory only (3.6 persists them): nothing for the engine.
        // Sent together (the table takes them in this order), answered before the next entry.
        await Promise.all(command.req.checkpoints.map((c) => this.leases.checkpoint(c.ID, Number(c.remainingTTL))));
        answers.push([entry, { ok: true, result: { type: 'leaseCheckpoint', response: { header: this.hooks.header(this.rev) } } }]);
        return false;
      case 'confChange':
        await this.hooks.onConfChange?.({ ...entry, command });
        return false;
      case 'auth': {
        const outcome: AuthOutcome = this.hooks.auth?.apply(command.req, entry.index, leaseOps) ?? { ok: false, error: 'authNotEnabled' };
        answers.push([entry, outcome.ok ? { ok: true, result: { type: 'auth', response: outcome.answer } } : outcome]);
        return false;
      }
      case 'alarm': {
        if (this.hooks.alarms === undefined) {
          answers.push([entry, { ok: false, error: 'notCapable' }]);
          return false;
        }
        const { response, ops } = this.hooks.alarms.apply(command.req);
        leaseOps.push(...ops);
        answers.push([entry, { ok: true, result: { type: 'alarm', response } }]);
        return false;
      }
      // Membership's business (the Raft log hands it to the membership); for the store it is a no-op.
      case 'memberAttributes':
      case 'noop':
      case 'put':
      case 'deleteRange':
      case 'txn':
        return false;
    }
  }

  /**
   * A write (with an auth header or without: the tenant size check applies to both) ends a run of writes when the auth state refuses it now (it is answered
   * alone), or when its check reads what the run's earlier writes change (a put's lease keys): it
   * then starts the next run and is checked once they are applied, so the outcome never depends on
   * how entries were batched (members batch differently). The auth state itself cannot change inside
   * a run: auth entries are not key-value writes.
   */
  private endsRunForAuth(command: Command): boolean {
    if (!isKvWrite(command) || this.hooks.auth === undefined) return false;
    // a check that reads lease keys ends the run before this: none are read here
    return this.hooks.auth.checkReadsWrittenState(command) || this.hooks.auth.writeRefusal(command, notAsked) !== undefined;
  }

  private refusedByAlarm(command: Command): boolean {
    return (this.hooks.alarms?.capped === true && refusesUnderNoSpace(command)) || (this.hooks.alarms?.corrupt === true && refusesWhenCorrupt(command));
  }

  /** The leases named by a run of commands that exist: no lease changes inside a run, so one answer serves it. */
  private async liveLeases(commands: readonly WriteCommand[]): Promise<readonly bigint[]> {
    const named = commands.flatMap(leasesNamedBy);
    return named.length === 0 ? [] : this.leases.liveOf(named);
  }

  /** Grant entries (each the whole entry's command), applied in order with one question to the lease table. */
  private async applyLeaseGrants(run: readonly LogEntry[], answers: [LogEntry, Settled][], leaseOps: WriteOp[]): Promise<void> {
    const requests = run.map((e) => {
      const req = (e.command as LeaseGrantCommand).req;
      return { id: req.ID, ttlSeconds: req.TTL };
    });
    const outcomes = await this.leases.grantAll(requests);
    for (let k = 0; k < run.length; k++) {
      const granted = outcomes[k]!;
      if (!granted.ok) {
        answers.push([run[k]!, granted]);
        continue;
      }
      leaseOps.push({ type: 'put', key: leaseKey(granted.id), value: encodeLeaseTtl(granted.ttlSeconds) });
      const response: LeaseGrantResponse = { header: this.hooks.header(this.rev), ID: granted.id, TTL: BigInt(granted.ttlSeconds), error: '' };
      answers.push([run[k]!, { ok: true, result: { type: 'leaseGrant', response } }]);
    }
  }

  /** etcd's lessor.Revoke: the attached keys are deleted in one revision (none: no revision), then the lease. */
  private async applyLeaseRevoke(req: LeaseRevokeRequest, keys: readonly Key[] | undefined, leaseOps: WriteOp[], changes: KvRecord[], applied: AppliedChange[]): Promise<Settled> {
    if (keys === undefined) return { ok: false, error: 'leaseNotFound' };
    if (keys.length > 0) {
      const command = revokeAsTxn(keys);
      const owner = this.shards.ownerOf(command);
      const outcome =
        owner === null
          ? await applyWrite(this.shards.view, command, this.revs())
          : (await this.shards.shard(owner).ask({ type: 'apply', revs: this.revs(), commands: [command], liveLeases: [] }))[0]!;
      if (!outcome.ok) throw new Error(`revoking lease ${req.ID} failed to delete its keys: ${outcome.error}`);
      this.record(outcome, changes, applied);
    }
    await this.leases.remove(req.ID);
    leaseOps.push({ type: 'del', key: leaseKey(req.ID) });
    return { ok: true, result: { type: 'leaseRevoke', response: { header: this.hooks.header(this.rev) } } };
  }

  private revs(): RevisionState {
    return { beginRev: this.rev, compactRev: this.compactRev };
  }

  private finish(entry: LogEntry, outcome: ApplyOutcome, changes: KvRecord[], applied: AppliedChange[], answers: [LogEntry, Settled][]): void {
    this.record(outcome, changes, applied);
    // The outcome itself is a Settled (its changes ride along unused): no copy per write.
    answers.push([entry, outcome]);
  }

  /** Takes an applied outcome's changes; the lease table follows each at once, so the next entry sees it. */
  private record(outcome: ApplyOutcome, changes: KvRecord[], applied: AppliedChange[]): void {
    this.rev += revisionsUsed(outcome);
    if (!outcome.ok) return;
    // A loop, not push(...): a delete of many keys has more changes than a call takes arguments.
    for (const c of outcome.changes) changes.push(c);
    for (let i = 0; i < outcome.changes.length; i++) {
      const record = outcome.changes[i]!;
      // `?? undefined`: a missing prev may come back from a worker thread as null.
      applied.push({ record, prev: outcome.prevs[i] ?? undefined });
      this.leases.track(record);
    }
  }

  private async applyCompact(req: CompactionRequest, removed: RevisionId[]): Promise<Settled> {
    if (req.revision <= this.compactRev) return { ok: false, error: 'compacted' };
    if (req.revision > this.rev) return { ok: false, error: 'futureRev' };
    const rev = Number(req.revision);
    this.compactRev = rev;
    for (let s = 0; s < this.shards.count; s++) {
      // A loop, not push(...): a compaction can remove more records than a call takes arguments.
      for (const id of await this.shards.shard(s).ask({ type: 'compact', rev })) removed.push(id);
    }
    // The header is stamped with this member's fields when the caller is answered.
    return { ok: true, result: { type: 'compact', response: { header: this.hooks.header(this.rev) } } };
  }

  /** Hands the batch's changes to the engine (see PersistQueue); waits only when too much is in flight. */
  private async persist(changes: readonly KvRecord[], removed: readonly RevisionId[], compacted: boolean, leaseOps: readonly WriteOp[]): Promise<void> {
    const ops: WriteOp[] = changes.map((r) => ({ type: 'put', key: recordKey(r.modRevision, r.sub), value: encodeRecord(r) }));
    for (const op of leaseOps) ops.push(op);
    for (const id of removed) ops.push({ type: 'del', key: recordKey(id.main, id.sub) });
    const marks = { index: this.applied.current, revision: this.rev, ...(compacted && { compactRevision: this.compactRev }) };
    const backlog = this.persistQueue.add(ops, marks);
    if (backlog !== undefined) await backlog;
  }

}

/** The result of a settled write, or its refusal as a rejection. */
function settledResult(s: Settled): SettledResult {
  if (!s.ok) throw new EtcdError(s.error);
  return s.result;
}

const isKvWrite = (c: Command): c is WriteCommand => c.type === 'put' || c.type === 'deleteRange' || c.type === 'txn';


/**
 * The oldest revision a read asked for along the branch it took (Infinity when it reads only the
 * current revision). A Range in a branch the compares did not select reads nothing, so etcd does not
 * refuse it when its revision is compacted, and neither may this check. A read-only Txn holds no
 * nested Txn (isTxnReadOnly), so one level is all there is.
 */
function oldestRequestedRevision(read: ReadRequest, result: ReadResponse): number {
  if (read.type === 'range') return read.req.revision > 0n ? Number(read.req.revision) : Infinity;
  if (result.type !== 'txn') throw new Error('a txn read answered with another response type');
  let oldest = Infinity;
  for (const op of result.response.succeeded ? read.req.success : read.req.failure) {
    const r = op.requestRange?.revision ?? 0n;
    if (r > 0n) oldest = Math.min(oldest, Number(r));
  }
  return oldest;
}
