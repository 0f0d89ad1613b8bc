// The vocabulary of Lattice's Raft: what goes into the pure state machine (messages, ticks,
// proposals) and what comes out of it (a Ready). Shapes follow etcd's raftpb so that etcd's raft
// tests and documents can be read against this code; member IDs are uint64 as in etcd, so bigint.

/** A member's ID (etcd's uint64 member ID). 0 means "none". */
export type NodeId = bigint;
export const noNode: NodeId = 0n;

export const enum EntryType {
  Normal = 0,
  /** `data` is an encoded ConfChange (src/raft/codec.ts). */
  ConfChange = 1,
}

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Opaque to Raft. An empty Normal entry is the no-op a new leader appends. */
  readonly data: Uint8Array;
}

/** What must be on disk before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

/**
 * Raft's snapshot is metadata plus a small opaque payload. The application state it stands for (the
 * engine's keys) is not held here: the peer transport streams it beside the MsgSnap, as etcd streams
 * its backend file, so memory stays bounded however large the store is.
 */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

/** etcd 3.4's single-step membership change (raftpb.ConfChange, v1). Promote is AddNode of a learner. */
export const enum ConfChangeType {
  AddNode = 0,
  RemoveNode = 1,
  UpdateNode = 2,
  AddLearnerNode = 3,
}

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to Raft: the member record (name, peer URLs) the application keeps. */
  readonly context: Uint8Array;
}

export const enum MessageType {
  Hup = 0,
  Beat = 1,
  Prop = 2,
  App = 3,
  AppResp = 4,
  Vote = 5,
  VoteResp = 6,
  Snap = 7,
  Heartbeat = 8,
  HeartbeatResp = 9,
  Unreachable = 10,
  SnapStatus = 11,
  CheckQuorum = 12,
  TransferLeader = 13,
  TimeoutNow = 14,
  ReadIndex = 15,
  ReadIndexResp = 16,
  PreVote = 17,
  PreVoteResp = 18,
}

/** One Raft message; fields a type does not use are 0, empty or undefined (as in raftpb.Message). */
export interface Message {
  readonly type: MessageType;
  readonly to: NodeId;
  readonly from: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly snapshot?: Snapshot;
  readonly reject: boolean;
  readonly rejectHint: number;
  /** ReadIndex request context; "transfer" marker on a campaign for leader transfer. */
  readonly context: Uint8Array;
}

export const enum RaftRole {
  Follower = 0,
  Candidate = 1,
  Leader = 2,
  PreCandidate = 3,
}

export interface SoftState {
  readonly lead: NodeId;
  readonly role: RaftRole;
}

/** A linearizable read may be served once the applied index reaches `index`. */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

/**
 * Everything the state machine wants done, in the order the node loop must do it:
 * 1. persist `snapshot`, `entries` and `hardState` (fsync when `mustSync`);
 * 2. then send `messages` (a leader may send its own MsgApp before persisting, as etcd does; the
 *    core marks nothing else safe to send early);
 * 3. apply `committedEntries` in order (and the snapshot, if any, first);
 * 4. call `advance(ready)`.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly readStates: readonly ReadState[];
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly mustSync: boolean;
}

/**
 * The log as the node loop has persisted it, read synchronously by the state machine (etcd's
 * raft.Storage). Indices before firstIndex() are compacted into the latest snapshot.
 */
export interface RaftStorage {
  initialState(): { readonly hardState: HardState; readonly confState: ConfState };
  /** Entries [lo, hi), stopping early once their data exceeds maxBytes (at least one is returned). */
  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] | StorageUnavailable;
  /** Term of the entry at index; valid for firstIndex()-1 .. lastIndex(). */
  term(index: number): number | StorageUnavailable;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot | StorageUnavailable;
}

/** Storage cannot answer: the range was compacted, or a snapshot is still being made. */
export type StorageUnavailable = { readonly unavailable: 'compacted' | 'snapshotTemporarilyUnavailable' };

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks a follower waits without hearing a leader before it campaigns (randomised in [n, 2n)). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly storage: RaftStorage;
  /** Last index the application has applied (restart): committed entries up to it are not returned. */
  readonly applied: number;
  readonly maxSizePerMsg: number;
  /** In-flight MsgApp per follower in the replicate state. */
  readonly maxInflightMsgs: number;
  /** Proposals are refused once this many bytes of uncommitted entries are in the leader's log. */
  readonly maxUncommittedEntriesSize: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  /** Seeded source of election jitter, uniform in [0, 1). The core has no other randomness. */
  readonly random: () => number;
}

/** Why a proposal, conf change, read or transfer was not taken; the node loop maps these to etcd errors. */
export type ProposalRefusal =
  | 'noLeader'
  | 'leaderTransferring'
  | 'tooManyUncommitted'
  /** A conf change while an earlier one is not yet applied (etcd applies one at a time). */
  | 'confChangePending';

export type ProposalResult = { readonly ok: true } | { readonly ok: false; readonly refusal: ProposalRefusal };

export const enum SnapshotStatus {
  Finish = 0,
  Failure = 1,
}

export const enum ProgressState {
  Probe = 0,
  Replicate = 1,
  Snapshot = 2,
}

export interface PeerProgress {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: number;
  readonly leadTransferee: NodeId;
  /** Only on the leader. */
  readonly progress?: ReadonlyMap<NodeId, PeerProgress>;
}

/**
 * The pure state machine (etcd's RawNode). No I/O, timers, clock or randomness of its own: every
 * change comes from a call below, and everything it wants done comes out of ready().
 */
export interface RaftCore {
  tick(): void;
  campaign(): void;
  propose(data: Uint8Array): ProposalResult;
  proposeConfChange(change: ConfChange): ProposalResult;
  /** Applies a committed ConfChange entry; the node loop calls it when it applies that entry. */
  applyConfChange(change: ConfChange): ConfState;
  step(message: Message): void;
  /** Ask for a linearizable read point; the answer is a ReadState with the same ctx in a Ready. */
  readIndex(requestCtx: Uint8Array): ProposalResult;
  transferLeader(transferee: NodeId): void;
  reportUnreachable(id: NodeId): void;
  reportSnapshot(id: NodeId, status: SnapshotStatus): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(ready: Ready): void;
  status(): RaftStatus;
}
