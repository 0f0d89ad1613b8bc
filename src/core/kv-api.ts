// What the protocol adapters call. Requests and responses are etcd's own protobuf shapes (ts-proto,
// int64 as bigint). Failures reject with EtcdError; the adapter maps them once.
import type { EtcdSnapshotImage } from '../snapshot/snapshot-export.js';
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
  TxnRequest,
  TxnResponse,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { ClusterApi } from './cluster-api.js';
import type { ElectionApi, LockApi } from './concurrency-api.js';
import type { LeaseApi } from './lease-api.js';
import type { MaintenanceApi } from './maintenance-api.js';
import type { WatchApi } from './watch-api.js';
import type { AuthHeader } from '../auth/auth-op.js';
import type { AuthFront } from '../auth/auth-front.js';

export interface KvApi {
  range(req: RangeRequest): Promise<RangeResponse>;
  /** `auth`: the caller when auth is enabled; the write's permissions are checked when it is applied. */
  put(req: PutRequest, auth: AuthHeader | undefined): Promise<PutResponse>;
  deleteRange(req: DeleteRangeRequest, auth: AuthHeader | undefined): Promise<DeleteRangeResponse>;
  txn(req: TxnRequest, auth: AuthHeader | undefined): Promise<TxnResponse>;
  compact(req: CompactionRequest): Promise<CompactionResponse>;
}

/** Facts about this member that Maintenance/Cluster report. */
export interface MemberInfo {
  readonly name: string;
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
}

export interface RaftInfo {
  /** The leader this member follows (itself when leading); 0 while there is none. */
  readonly leader: bigint;
  readonly term: number;
  readonly committedIndex: number;
  readonly isLearner: boolean;
}

export interface StoreStatus {
  readonly revision: number;
  readonly compactRevision: number;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly dbSizeBytes: number;
  readonly dbSizeInUseBytes: number;
  /** Alarms raised on this member (etcd's AlarmType names), e.g. NOSPACE after the disk filled. */
  readonly alarms: readonly string[];
  /** Why the member is not healthy, one line each; empty when it is. */
  readonly errors: readonly string[];
}

/** Maintenance.HashKV's answer (etcd's HashByRev). */
export interface HashKvResult {
  /** CRC-32C (Castagnoli) of the key bucket up to the revision, as etcd computes it. */
  readonly hash: number;
  /** The compact revision when hashed (-1 if never compacted). */
  readonly compactRevision: number;
  /** The store's current revision when hashed (etcd reports it in the header). */
  readonly revision: number;
}

export interface ServerApi {
  readonly kv: KvApi;
  readonly watch: WatchApi;
  readonly lease: LeaseApi;
  readonly lock: LockApi;
  readonly election: ElectionApi;
  readonly member: MemberInfo;
  readonly cluster: ClusterApi;
  /** Users, roles, tokens and permission checks (src/auth/). Absent: no auth (tests of other services). */
  readonly auth?: AuthFront;
  /**
   * Whether every member can apply log entries of `feature` (src/cluster/log-feature-gate.ts).
   * Absent: yes (a server of tests, with no peers).
   */
  everyMemberApplies?(feature: string): boolean;
  readonly version: string;
  header(revision?: number): ResponseHeader;
  status(): Promise<StoreStatus>;
  /** The store's compact revision now (-1: never compacted), without the cost of status(). Absent: callers use status(). */
  compactRevision?(): number;
  /** What Raft knows on this member now. */
  raft(): RaftInfo;
  /**
   * Maintenance.MoveLeader: resolves once `transferee` leads. Rejects with `notLeader` (this member
   * does not lead), `badLeaderTransferee` (unknown member or a learner), `leaderTransferTimeout`
   * (not done within `timeoutMs`, at most the request timeout).
   */
  moveLeader(transferee: bigint, timeoutMs?: number): Promise<void>;
  /**
   * Calls `listener` whenever this member has been without a leader for long enough that streams
   * opened WithRequireLeader are cancelled (etcd: 3 election timeouts). Returns the unsubscribe.
   */
  onLeaderLost(listener: () => void): () => void;
  /** HashKV at `revision` (0 = current); rejects with compacted / futureRev like etcd. */
  hashKv(revision: bigint): Promise<HashKvResult>;
  /** Maintenance.Snapshot: an etcd-format image of the store at one revision (absent: UNIMPLEMENTED). */
  snapshot?(signal?: AbortSignal): Promise<EtcdSnapshotImage>;
  /** Alarm, Defragment and Hash. */
  readonly maintenance: MaintenanceApi;
}
