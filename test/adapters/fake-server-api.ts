// An in-memory ServerApi good enough to drive the adapters: single keys and [key, rangeEnd) ranges,
// puts, deletes, txns without compares (always "succeeded"). Keys starting with `!` misbehave on
// purpose so tests can check the error paths.
import { NEVER } from 'rxjs';
import { EtcdError } from '../../src/core/errors.js';
import type { ClusterApi } from '../../src/core/cluster-api.js';
import { WatchHub, type WatchSource } from '../../src/actors/watch-hub.js';
import type { HashKvResult, KvApi, MemberInfo, ServerApi, RaftInfo, StoreStatus } from '../../src/core/kv-api.js';
import type { AlarmResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { LeaseApi } from '../../src/core/lease-api.js';
import { LockRecipe } from '../../src/concurrency/lock.js';
import { ElectionRecipe } from '../../src/concurrency/election.js';
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { KeyValue } from '../../src/gen/etcd/mvcc/mvccpb/kv.js';

export const fakeMember: MemberInfo = {
  name: 'lattice-test',
  memberId: 0xbdaf_9ea0_4d12_8f0dn,
  clusterId: 0xd1cf_4a0e_7f3a_92aan,
  peerUrls: ['http://127.0.0.1:2380'],
  clientUrls: ['http://127.0.0.1:2379'],
};

export const fakeRaftTerm = 2;

/** The fake cluster is this one member; every change is refused as etcd refuses an unknown member. */
const oneMemberCluster: ClusterApi = {
  memberList: async () => [
    { id: fakeMember.memberId, name: fakeMember.name, peerUrls: fakeMember.peerUrls, clientUrls: fakeMember.clientUrls, isLearner: false },
  ],
  memberAdd: () => Promise.reject(new EtcdError('notEnoughStartedMembers')),
  memberRemove: () => Promise.reject(new EtcdError('memberNotFound')),
  memberUpdate: () => Promise.reject(new EtcdError('memberNotFound')),
  memberPromote: () => Promise.reject(new EtcdError('memberNotFound')),
};

/**
 * `!throw…` throws synchronously, `!reject…` rejects with a plain Error, `!string…` rejects with a
 * string, `!compacted` / `!leaseNotFound` / `!noSpace` reject with that EtcdError kind,
 * `!hang` never settles.
 */
function misbehave(key: Buffer): void {
  const k = key.toString('latin1');
  if (!k.startsWith('!')) return;
  if (k.startsWith('!throw')) throw new Error('fake core exploded synchronously');
  if (k.startsWith('!reject')) throw new Error('fake core rejected');
  if (k.startsWith('!string')) throw 'a bare string'; // eslint-disable-line no-throw-literal
  if (k === '!compacted') throw new EtcdError('compacted');
  if (k === '!leaseNotFound') throw new EtcdError('leaseNotFound');
  if (k === '!noSpace') throw new EtcdError('noSpace');
}

/** A watch hub over a store that never changes: creates and cancels work, no events ever come. */
const quietWatchSource: WatchSource = {
  applied$: NEVER,
  revision: 1,
  compactRevision: -1,
  changes: async (_range, _from, toRev) => ({ changes: [], throughRevision: toRev }),
};

/** Leases are tested against the real store (test/lease); here every call fails as a stopped server's. */
const stoppedLeases: LeaseApi = {
  grant: () => Promise.reject(new EtcdError('stopped')),
  revoke: () => Promise.reject(new EtcdError('stopped')),
  renew: () => Promise.reject(new EtcdError('stopped')),
  timeToLive: () => Promise.reject(new EtcdError('stopped')),
  leases: () => Promise.reject(new EtcdError('stopped')),
  header: () => ({ clusterId: fakeMember.clusterId, memberId: fakeMember.memberId, revision: 1n, raftTerm: BigInt(fakeRaftTerm) }),
};

export class FakeServerApi implements ServerApi {
  readonly lease = stoppedLeases;
  readonly lock = new LockRecipe(this);
  readonly election = new ElectionRecipe(this);
  readonly member = fakeMember;
  readonly cluster = oneMemberCluster;
  readonly watch = new WatchHub(quietWatchSource, { progressIntervalMs: 600_000, backlogLimitBytes: 1 << 20, onError: () => undefined });
  readonly version = '3.4.23';
  private readonly data = new Map<string, KeyValue>();
  private revision = 1;
  statusFails = false;
  /** What Status reports as raised alarms and errors (a storage fault). */
  faults: { alarms: string[]; errors: string[] } = { alarms: [], errors: [] };

  header(revision?: number): ResponseHeader {
    return {
      clusterId: fakeMember.clusterId,
      memberId: fakeMember.memberId,
      revision: BigInt(revision ?? this.revision),
      raftTerm: BigInt(fakeRaftTerm),
    };
  }

  async status(): Promise<StoreStatus> {
    if (this.statusFails) throw new EtcdError('stopped');
    return {
      revision: this.revision,
      compactRevision: 0,
      raftIndex: this.revision + 3,
      raftTerm: fakeRaftTerm,
      dbSizeBytes: 20480,
      dbSizeInUseBytes: 16384,
      alarms: [...this.faults.alarms],
      errors: [...this.faults.errors],
    };
  }

  raft(): RaftInfo {
    return { leader: this.leaderId, term: fakeRaftTerm, committedIndex: this.revision + 3, isLearner: false };
  }

  /** The fake is a single member that always leads: moving to itself is done, any other ID is unknown. */
  async moveLeader(transferee: bigint): Promise<void> {
    if (transferee !== fakeMember.memberId) throw new EtcdError('badLeaderTransferee');
  }

  /** The leader raft() reports; loseLeader() sets it to 0 (none) and fires onLeaderLost. */
  leaderId = fakeMember.memberId;
  private readonly leaderLostListeners = new Set<() => void>();
  onLeaderLost(listener: () => void): () => void {
    this.leaderLostListeners.add(listener);
    return () => this.leaderLostListeners.delete(listener);
  }
  loseLeader(): void {
    this.leaderId = 0n;
    for (const l of [...this.leaderLostListeners]) l();
  }

  /** No alarms; defragment does nothing; a fixed hash. */
  readonly maintenance = {
    alarm: async (): Promise<AlarmResponse> => ({ header: undefined, alarms: [] }),
    defragment: async (): Promise<void> => undefined,
    hash: async (): Promise<{ hash: number; revision: number }> => ({ hash: 0x1234_5678, revision: this.revision }),
  };

  /** A fixed hash; revisions below 0 fail as compacted, above the current one as future. */
  async hashKv(revision: bigint): Promise<HashKvResult> {
    if (revision < 0n) throw new EtcdError('compacted');
    if (revision > BigInt(this.revision)) throw new EtcdError('futureRev');
    return { hash: 0x1234_5678, compactRevision: -1, revision: this.revision };
  }

  private inRange(key: string, from: Buffer, end: Buffer): boolean {
    const k = Buffer.from(key, 'latin1');
    if (end.length === 0) return k.equals(from);
    if (end.length === 1 && end[0] === 0) return Buffer.compare(k, from) >= 0;
    return Buffer.compare(k, from) >= 0 && Buffer.compare(k, end) < 0;
  }

  private rangeNow(req: RangeRequest): RangeResponse {
    misbehave(req.key);
    const kvs = [...this.data.entries()]
      .filter(([k]) => this.inRange(k, req.key, req.rangeEnd))
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')))
      .map(([, kv]) => kv);
    return { header: this.header(), kvs: req.countOnly ? [] : kvs, more: false, count: BigInt(kvs.length) };
  }

  private putNow(req: PutRequest, rev: number): PutResponse {
    misbehave(req.key);
    const id = req.key.toString('latin1');
    const prev = this.data.get(id);
    this.data.set(id, {
      key: req.key,
      value: req.value,
      createRevision: prev?.createRevision ?? BigInt(rev),
      modRevision: BigInt(rev),
      version: (prev?.version ?? 0n) + 1n,
      lease: req.lease,
    });
    return { header: this.header(rev), prevKv: req.prevKv ? prev : undefined };
  }

  private deleteNow(req: DeleteRangeRequest, rev: number): DeleteRangeResponse {
    misbehave(req.key);
    const gone = [...this.data.entries()].filter(([k]) => this.inRange(k, req.key, req.rangeEnd));
    for (const [k] of gone) this.data.delete(k);
    return { header: this.header(rev), deleted: BigInt(gone.length), prevKvs: req.prevKv ? gone.map(([, kv]) => kv) : [] };
  }

  private txnNow(req: TxnRequest, rev: number): TxnResponse {
    const responses: ResponseOp[] = req.success.map((op): ResponseOp => {
      if (op.requestRange) return { responseRange: this.rangeNow(op.requestRange) };
      if (op.requestPut) return { responsePut: this.putNow(op.requestPut, rev) };
      if (op.requestDeleteRange) return { responseDeleteRange: this.deleteNow(op.requestDeleteRange, rev) };
      if (op.requestTxn) return { responseTxn: this.txnNow(op.requestTxn, rev) };
      throw new Error('empty op reached the fake core');
    });
    return { header: this.header(rev), succeeded: true, responses };
  }

  readonly kv: KvApi = {
    range: async (req) => {
      if (req.key.toString('latin1') === '!hang') return new Promise<RangeResponse>(() => undefined);
      return this.rangeNow(req);
    },
    put: (req) => {
      // not async on purpose: `!throw` escapes synchronously from the handler's call
      if (req.key.toString('latin1').startsWith('!throw')) misbehave(req.key);
      return (async () => this.putNow(req, ++this.revision))();
    },
    deleteRange: async (req) => this.deleteNow(req, ++this.revision),
    txn: async (req) => this.txnNow(req, ++this.revision),
    compact: async (_req: CompactionRequest): Promise<CompactionResponse> => ({ header: undefined }),
  };
}
