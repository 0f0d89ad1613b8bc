// The pure Raft state machine (etcd's raft + RawNode): messages and ticks in, a Ready out. It does
// no I/O and keeps no clock; election jitter comes from config.random.
import { applyChange, restoreConfState } from './conf-change.js';
import { encodeConfChange } from './conf-change-codec.js';
import { payloadSizeBytes } from './entry-size.js';
import { isLocalMessage, isResponseMessage, sameBytes, voteResponseType } from './message-kinds.js';
import { ProgressTracker } from './progress-tracker.js';
import { noLimitBytes, RaftLog } from './raft-log.js';
import { ReadOnly, type ReadRequest } from './read-only.js';
import {
  EntryType,
  MessageType,
  ProgressState,
  RaftRole,
  SnapshotStatus,
  noNode,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type PeerProgress,
  type ProposalRefusal,
  type ProposalResult,
  type RaftConfig,
  type RaftCore,
  type RaftStatus,
  type ReadState,
  type Ready,
  type Snapshot,
  type SoftState,
} from './types.js';

/** The context a leader-transfer campaign carries, so voters skip their leader lease for it. */
export const campaignTransferContext: Uint8Array = new TextEncoder().encode('CampaignTransfer');

/**
 * Reads that arrive before the new leader committed an entry of its term wait for that commit;
 * beyond this many the newest are dropped (the client's deadline answers them, as in etcd 3.4).
 */
export const maxReadsAwaitingTermCommit = 4096;

const emptyBytes = new Uint8Array(0);
const accepted: ProposalResult = { ok: true };

type CampaignKind = 'preElection' | 'election' | 'transfer';

type MessageFields = Partial<Message> & Pick<Message, 'type' | 'to'>;

function refuse(refusal: ProposalRefusal): ProposalResult {
  return { ok: false, refusal };
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function validate(config: RaftConfig): void {
  if (config.id === noNode) throw new RangeError('raft id must not be 0');
  if (config.heartbeatTicks <= 0) throw new RangeError('heartbeatTicks must be greater than 0');
  if (config.electionTicks <= config.heartbeatTicks) throw new RangeError('electionTicks must be greater than heartbeatTicks');
  if (config.maxInflightMsgs <= 0) throw new RangeError('maxInflightMsgs must be greater than 0');
}

export function createRaftCore(config: RaftConfig): RaftCore {
  return new Raft(config);
}

const isNormal = (e: Entry): boolean => e.type === EntryType.Normal;

class Raft implements RaftCore {
  private readonly id: NodeId;
  private term = 0;
  private vote: NodeId = noNode;
  private lead: NodeId = noNode;
  private role: RaftRole = RaftRole.Follower;
  private readonly log: RaftLog;
  private readonly tracker: ProgressTracker;
  private readOnly = new ReadOnly();
  private readsAwaitingTermCommit: ReadRequest[] = [];
  private messages: Message[] = [];
  private readStates: ReadState[] = [];

  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private randomizedElectionTicks = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;

  private leadTransferee: NodeId = noNode;
  /** Index of the latest conf change appended by this leader; a newer one waits until it is applied. */
  private pendingConfIndex = 0;
  private uncommittedSizeBytes = 0;

  private readonly checkQuorum: boolean;
  private readonly preVote: boolean;
  private readonly maxSizePerMsg: number;
  private readonly maxUncommittedEntriesSize: number;
  private readonly random: () => number;

  private prevSoftState: SoftState;
  private prevHardState: HardState;

  constructor(config: RaftConfig) {
    validate(config);
    this.id = config.id;
    this.electionTicks = config.electionTicks;
    this.heartbeatTicks = config.heartbeatTicks;
    this.checkQuorum = config.checkQuorum;
    this.preVote = config.preVote;
    this.maxSizePerMsg = config.maxSizePerMsg;
    this.maxUncommittedEntriesSize = config.maxUncommittedEntriesSize;
    this.random = config.random;
    // etcd's MaxCommittedSizePerReady defaults to MaxSizePerMsg too.
    this.log = new RaftLog(config.storage, config.maxSizePerMsg);
    this.tracker = new ProgressTracker(config.maxInflightMsgs);

    const { hardState, confState } = config.storage.initialState();
    restoreConfState(this.tracker, confState, this.log.lastIndex());
    if (hardState.term !== 0 || hardState.vote !== noNode || hardState.commit !== 0) this.loadState(hardState);
    if (config.applied > 0) this.log.appliedTo(config.applied);
    this.becomeFollower(this.term, noNode);
    this.prevSoftState = this.softState();
    this.prevHardState = this.hardState();
  }

  // ---- RaftCore --------------------------------------------------------------------------------

  tick(): void {
    if (this.role === RaftRole.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  campaign(): void {
    this.stepInternal(this.localMessage(MessageType.Hup));
  }

  propose(data: Uint8Array): ProposalResult {
    return this.proposeEntry({ term: 0, index: 0, type: EntryType.Normal, data });
  }

  proposeConfChange(change: ConfChange): ProposalResult {
    return this.proposeEntry({ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(change) });
  }

  applyConfChange(change: ConfChange): ConfState {
    if (change.nodeId === noNode) return this.tracker.confState();
    const outcome = applyChange(this.tracker, change, this.log.lastIndex());
    if (outcome === 'applied') this.afterConfigChange();
    return this.tracker.confState();
  }

  step(message: Message): void {
    // Local kinds only come from this node's own calls; a response from a non-member is stale.
    if (isLocalMessage(message.type)) return;
    if (isResponseMessage(message.type) && !this.tracker.progress.has(message.from)) return;
    this.stepInternal(message);
  }

  readIndex(requestCtx: Uint8Array): ProposalResult {
    const refusal = this.stepInternal(this.localMessage(MessageType.ReadIndex, { context: requestCtx }));
    return refusal === undefined ? accepted : refuse(refusal);
  }

  transferLeader(transferee: NodeId): void {
    this.stepInternal(this.localMessage(MessageType.TransferLeader, { from: transferee }));
  }

  reportUnreachable(id: NodeId): void {
    this.stepInternal(this.localMessage(MessageType.Unreachable, { from: id }));
  }

  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    this.stepInternal(this.localMessage(MessageType.SnapStatus, { from: id, reject: status === SnapshotStatus.Failure }));
  }

  hasReady(): boolean {
    const soft = this.softState();
    if (soft.lead !== this.prevSoftState.lead || soft.role !== this.prevSoftState.role) return true;
    const hard = this.hardState();
    if (!sameHardState(hard, this.prevHardState)) return true;
    if (this.log.unstable.snapshot) return true;
    return (
      this.messages.length > 0 ||
      this.log.unstable.entries.length > 0 ||
      this.log.hasNextEntries() ||
      this.readStates.length > 0
    );
  }

  ready(): Ready {
    const soft = this.softState();
    const hard = this.hardState();
    const softChanged = soft.lead !== this.prevSoftState.lead || soft.role !== this.prevSoftState.role;
    const hardChanged = !sameHardState(hard, this.prevHardState);
    const entries = this.log.unstableEntries();
    const snapshot = this.log.unstable.snapshot;
    const ready: Ready = {
      ...(softChanged ? { softState: soft } : {}),
      ...(hardChanged ? { hardState: hard } : {}),
      ...(snapshot ? { snapshot } : {}),
      readStates: this.readStates,
      entries,
      committedEntries: this.log.nextEntries(),
      messages: this.messages,
      mustSync: entries.length > 0 || hard.term !== this.prevHardState.term || hard.vote !== this.prevHardState.vote,
    };
    // Messages and read states are handed out once; entries stay until advance() says they are stable.
    if (softChanged) this.prevSoftState = soft;
    this.messages = [];
    this.readStates = [];
    return ready;
  }

  advance(ready: Ready): void {
    if (ready.hardState) this.prevHardState = ready.hardState;
    const lastCommitted = ready.committedEntries.at(-1);
    if (lastCommitted) this.log.appliedTo(lastCommitted.index);
    else if (ready.snapshot) this.log.appliedTo(ready.snapshot.metadata.index);
    this.reduceUncommittedSize(ready.committedEntries);
    const lastEntry = ready.entries.at(-1);
    if (lastEntry) this.log.stableTo(lastEntry.index, lastEntry.term);
    if (ready.snapshot) this.log.stableSnapTo(ready.snapshot.metadata.index);
  }

  status(): RaftStatus {
    const base = {
      id: this.id,
      hardState: this.hardState(),
      softState: this.softState(),
      applied: this.log.applied,
      leadTransferee: this.leadTransferee,
    };
    if (this.role !== RaftRole.Leader) return base;
    const progress = new Map<NodeId, PeerProgress>();
    this.tracker.visit((id, pr) => progress.set(id, pr.view()));
    return { ...base, progress };
  }

  // ---- state ---------------------------------------------------------------------------------

  private softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private loadState(state: HardState): void {
    if (state.commit < this.log.committed || state.commit > this.log.lastIndex()) {
      throw new Error(`hard state commit ${state.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`);
    }
    this.log.committed = state.commit;
    this.term = state.term;
    this.vote = state.vote;
  }

  private promotable(): boolean {
    const pr = this.tracker.progress.get(this.id);
    return pr !== undefined && !pr.isLearner;
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = noNode;
    }
    this.lead = noNode;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTicks = this.electionTicks + Math.floor(this.random() * this.electionTicks);
    this.leadTransferee = noNode;
    this.tracker.resetVotes();
    const lastIndex = this.log.lastIndex();
    this.tracker.visit((id, pr) => {
      pr.becomeProbe();
      pr.match = id === this.id ? lastIndex : 0;
      pr.next = lastIndex + 1;
      pr.recentActive = false;
    });
    this.pendingConfIndex = 0;
    this.uncommittedSizeBytes = 0;
    this.readOnly = new ReadOnly();
    this.readsAwaitingTermCommit = [];
  }

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = RaftRole.Follower;
  }

  private becomeCandidate(): void {
    if (this.role === RaftRole.Leader) throw new Error('invalid transition leader -> candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = RaftRole.Candidate;
  }

  private becomePreCandidate(): void {
    if (this.role === RaftRole.Leader) throw new Error('invalid transition leader -> pre-candidate');
    // Pre-candidacy changes neither term nor vote, so a rejected pre-vote disturbs nobody.
    this.tracker.resetVotes();
    this.lead = noNode;
    this.role = RaftRole.PreCandidate;
  }

  private becomeLeader(): void {
    if (this.role === RaftRole.Follower) throw new Error('invalid transition follower -> leader');
    this.reset(this.term);
    this.lead = this.id;
    this.role = RaftRole.Leader;
    this.tracker.progress.get(this.id)?.becomeReplicate();
    // Conf changes in the log may be unapplied; be conservative until they are.
    this.pendingConfIndex = this.log.lastIndex();
    const noop: Entry = { term: 0, index: 0, type: EntryType.Normal, data: emptyBytes };
    this.appendEntries([noop]);
  }

  // ---- ticks -------------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.stepInternal(this.localMessage(MessageType.Hup));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.stepInternal(this.localMessage(MessageType.CheckQuorum));
      // A transfer not done within an election timeout is abandoned, and proposals flow again.
      if (this.role === RaftRole.Leader && this.leadTransferee !== noNode) this.leadTransferee = noNode;
    }
    if (this.role !== RaftRole.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.stepInternal(this.localMessage(MessageType.Beat));
    }
  }

  // ---- messages ------------------------------------------------------------------------------

  private localMessage(type: MessageType, fields: Partial<Message> = {}): Message {
    return {
      type,
      to: noNode,
      from: this.id,
      term: 0,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: emptyBytes,
      ...fields,
    };
  }

  /** Queues a message; the term is stamped here except where a message carries its own. */
  private send(fields: MessageFields): void {
    const carriesOwnTerm =
      fields.type === MessageType.Vote ||
      fields.type === MessageType.VoteResp ||
      fields.type === MessageType.PreVote ||
      fields.type === MessageType.PreVoteResp;
    // Forwarded proposals and reads are local requests to the leader: no term.
    const termless = fields.type === MessageType.Prop || fields.type === MessageType.ReadIndex;
    const term = carriesOwnTerm ? (fields.term ?? 0) : termless ? 0 : this.term;
    if (carriesOwnTerm && term === 0) throw new Error(`term must be set when sending message type ${fields.type}`);
    this.messages.push({
      from: this.id,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: emptyBytes,
      ...fields,
      term,
    });
  }

  private proposeEntry(entry: Entry): ProposalResult {
    // localMessage's fields written out: every proposal passes here, and the spread costs more than the message.
    const m: Message = {
      type: MessageType.Prop,
      to: noNode,
      from: this.id,
      term: 0,
      logTerm: 0,
      index: 0,
      entries: [entry],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: emptyBytes,
    };
    const refusal = this.stepInternal(m);
    return refusal === undefined ? accepted : refuse(refusal);
  }

  /** etcd's raft.Step; returns why a local request was refused, if it was. */
  private stepInternal(m: Message): ProposalRefusal | undefined {
    if (m.term === 0) {
      // Local message.
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = sameBytes(m.context, campaignTransferContext);
        // The leader lease: while we hear from a live leader, a disruptive candidate is ignored.
        const inLease = this.checkQuorum && this.lead !== noNode && this.electionElapsed < this.electionTicks;
        if (!force && inLease) return undefined;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // Granted pre-votes are for a term we have not started yet; the tally below counts them.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, noNode);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader cut off by a partition learns of the new term, instead of nobody answering it.
        this.send({ type: MessageType.AppResp, to: m.from });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true });
      }
      return undefined;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup();
        return undefined;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return undefined;
    }
    switch (this.role) {
      case RaftRole.Leader:
        return this.stepLeader(m);
      case RaftRole.Candidate:
      case RaftRole.PreCandidate:
        return this.stepCandidate(m);
      case RaftRole.Follower:
        return this.stepFollower(m);
    }
  }

  private hup(): void {
    if (this.role === RaftRole.Leader || !this.promotable()) return;
    // A committed but unapplied conf change could change who may vote: wait for it to apply.
    const unapplied = this.log.slice(this.log.applied + 1, this.log.committed + 1, noLimitBytes);
    // 'compacted': a received snapshot is not applied yet, and its membership may differ (etcd panics).
    if (unapplied === 'compacted' || unapplied.some((entry) => entry.type === EntryType.ConfChange)) return;
    this.startCampaign(this.preVote ? 'preElection' : 'election');
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === noNode && this.lead === noNode) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      this.send({ type: voteResponseType(m.type), to: m.from, term: m.term });
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: voteResponseType(m.type), to: m.from, term: this.term, reject: true });
    }
  }

  private startCampaign(kind: CampaignKind): void {
    if (!this.promotable()) return;
    let voteType: MessageType;
    let term: number;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      // A single voter wins at once.
      if (kind === 'preElection') this.startCampaign('election');
      else this.becomeLeader();
      return;
    }
    for (const id of [...this.tracker.voters].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (id === this.id) continue;
      this.send({
        type: voteType,
        to: id,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: kind === 'transfer' ? campaignTransferContext : emptyBytes,
      });
    }
  }

  private poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    this.tracker.recordVote(id, granted);
    return this.tracker.tallyVotes().result;
  }

  // ---- leader --------------------------------------------------------------------------------

  private stepLeader(m: Message): ProposalRefusal | undefined {
    switch (m.type) {
      case MessageType.Beat:
        this.broadcastHeartbeat();
        return undefined;
      case MessageType.CheckQuorum: {
        const self = this.tracker.progress.get(this.id);
        if (self) self.recentActive = true;
        if (!this.tracker.quorumActive()) {
          this.becomeFollower(this.term, noNode);
          return undefined;
        }
        this.tracker.visit((id, pr) => {
          if (id !== this.id) pr.recentActive = false;
        });
        return undefined;
      }
      case MessageType.Prop:
        return this.leaderPropose(m);
      case MessageType.ReadIndex:
        this.leaderReadIndex({ from: m.from, ctx: m.context });
        return undefined;
    }

    const pr = this.tracker.progress.get(m.from);
    if (!pr) return undefined;
    switch (m.type) {
      case MessageType.AppResp:
        pr.recentActive = true;
        if (m.reject) {
          if (pr.maybeDecrTo(m.index, m.rejectHint)) {
            if (pr.state === ProgressState.Replicate) pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return undefined;
        }
        {
          const wasPaused = pr.isPaused();
          if (!pr.maybeUpdate(m.index)) return undefined;
          if (pr.state === ProgressState.Probe) {
            pr.becomeReplicate();
          } else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
            pr.becomeProbe();
            pr.becomeReplicate();
          } else if (pr.state === ProgressState.Replicate) {
            pr.inflights.freeLE(m.index);
          }
          if (this.maybeCommit()) {
            this.releaseReadsAwaitingTermCommit();
            this.broadcastAppend();
          } else if (wasPaused) {
            // The follower may be missing the latest commit index.
            this.sendAppend(m.from);
          }
          // Freed window: send as much as fits, without empty messages.
          while (this.maybeSendAppend(m.from, false)) {
            // keep sending
          }
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
            this.send({ type: MessageType.TimeoutNow, to: m.from });
          }
        }
        return undefined;
      case MessageType.HeartbeatResp: {
        pr.recentActive = true;
        pr.probeSent = false;
        // A full window may be full of lost messages: free one so replication can continue.
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (m.context.byteLength === 0) return undefined;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (!acks || this.tracker.voteResultOf(acks) !== 'won') return undefined;
        for (const status of this.readOnly.advance(m.context)) this.answerRead(status.request, status.index);
        return undefined;
      }
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return undefined;
        // On failure, forget the snapshot so that probing starts from what the follower has.
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the follower's MsgAppResp (or a heartbeat interval after a failure) before probing.
        pr.probeSent = true;
        return undefined;
      case MessageType.Unreachable:
        // MsgApps sent optimistically were probably lost.
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return undefined;
      case MessageType.TransferLeader: {
        if (pr.isLearner) return undefined;
        const transferee = m.from;
        if (this.leadTransferee !== noNode) {
          if (this.leadTransferee === transferee) return undefined;
          this.leadTransferee = noNode;
        }
        if (transferee === this.id) return undefined;
        // The transfer must finish within an election timeout, counted from now.
        this.electionElapsed = 0;
        this.leadTransferee = transferee;
        if (pr.match === this.log.lastIndex()) this.send({ type: MessageType.TimeoutNow, to: transferee });
        else this.sendAppend(transferee);
        return undefined;
      }
    }
    return undefined;
  }

  private leaderPropose(m: Message): ProposalRefusal | undefined {
    if (m.entries.length === 0) return undefined;
    // A leader that removed itself takes no new proposals.
    if (!this.tracker.progress.has(this.id)) return 'noLeader';
    if (this.leadTransferee !== noNode) return 'leaderTransferring';
    // Normal entries only (nearly every proposal): appended as they are.
    if (m.entries.every(isNormal)) {
      if (!this.appendEntries(m.entries)) return 'tooManyUncommitted';
      this.broadcastAppend();
      return undefined;
    }
    const local = m.from === this.id;
    const entries: Entry[] = [];
    for (const [i, entry] of m.entries.entries()) {
      if (entry.type === EntryType.ConfChange) {
        if (this.pendingConfIndex > this.log.applied) {
          if (local) return 'confChangePending';
          // A forwarded one cannot be told: it becomes a no-op, as in etcd.
          entries.push({ ...entry, type: EntryType.Normal, data: emptyBytes });
          continue;
        }
        this.pendingConfIndex = this.log.lastIndex() + i + 1;
      }
      entries.push(entry);
    }
    if (!this.appendEntries(entries)) return 'tooManyUncommitted';
    this.broadcastAppend();
    return undefined;
  }

  private leaderReadIndex(request: ReadRequest): void {
    if (this.tracker.isSingleton()) {
      this.answerRead(request, this.log.committed);
      return;
    }
    // Until the leader committed an entry of its term, its commit index may lag the true one.
    if (!this.committedEntryInCurrentTerm()) {
      if (this.readsAwaitingTermCommit.length < maxReadsAwaitingTermCommit) this.readsAwaitingTermCommit.push(request);
      return;
    }
    this.startReadRound(request);
  }

  private startReadRound(request: ReadRequest): void {
    this.readOnly.addRequest(this.log.committed, request);
    this.readOnly.recvAck(this.id, request.ctx);
    this.broadcastHeartbeat(request.ctx);
  }

  private releaseReadsAwaitingTermCommit(): void {
    if (this.readsAwaitingTermCommit.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const waiting = this.readsAwaitingTermCommit;
    this.readsAwaitingTermCommit = [];
    for (const request of waiting) this.startReadRound(request);
  }

  private answerRead(request: ReadRequest, index: number): void {
    if (request.from === noNode || request.from === this.id) {
      this.readStates.push({ index, requestCtx: request.ctx });
    } else {
      this.send({ type: MessageType.ReadIndexResp, to: request.from, index, context: request.ctx });
    }
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  private appendEntries(proposed: readonly Entry[]): boolean {
    const lastIndex = this.log.lastIndex();
    const entries = proposed.map((entry, i): Entry => ({ term: this.term, index: lastIndex + 1 + i, type: entry.type, data: entry.data }));
    const size = payloadSizeBytes(entries);
    if (this.uncommittedSizeBytes > 0 && this.uncommittedSizeBytes + size > this.maxUncommittedEntriesSize) return false;
    this.uncommittedSizeBytes += size;
    const newLast = this.log.append(entries);
    this.tracker.progress.get(this.id)?.maybeUpdate(newLast);
    this.maybeCommit();
    return true;
  }

  private reduceUncommittedSize(committed: readonly Entry[]): void {
    if (this.uncommittedSizeBytes === 0) return;
    this.uncommittedSizeBytes = Math.max(0, this.uncommittedSizeBytes - payloadSizeBytes(committed));
  }

  private maybeCommit(): boolean {
    return this.log.maybeCommit(this.tracker.committed(), this.term);
  }

  private broadcastAppend(): void {
    this.tracker.visit((id) => {
      if (id !== this.id) this.sendAppend(id);
    });
  }

  private broadcastHeartbeat(ctx?: Uint8Array): void {
    const context = ctx ?? this.readOnly.lastPendingRequestCtx() ?? emptyBytes;
    this.tracker.visit((id, pr) => {
      if (id === this.id) return;
      // Never tell a follower to commit past what it is known to hold.
      this.send({ type: MessageType.Heartbeat, to: id, commit: Math.min(pr.match, this.log.committed), context });
    });
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /** Sends entries (or a snapshot) to one follower if its flow control allows; true if it sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevTerm = this.log.term(pr.next - 1);
    const entries = this.log.entries(pr.next, this.maxSizePerMsg);
    if (entries !== 'compacted' && entries.length === 0 && !sendIfEmpty) return false;

    if (prevTerm === undefined || entries === 'compacted') {
      // Only a follower known to be alive gets a snapshot: it is expensive.
      if (!pr.recentActive) return false;
      const snapshot = this.log.snapshot();
      if ('unavailable' in snapshot) return false;
      if (snapshot.metadata.index === 0) throw new Error('need a non-empty snapshot to send');
      pr.becomeSnapshot(snapshot.metadata.index);
      this.send({ type: MessageType.Snap, to, snapshot });
      return true;
    }

    const prevIndex = pr.next - 1;
    const last = entries.at(-1);
    if (last) {
      if (pr.state === ProgressState.Replicate) {
        pr.optimisticUpdate(last.index);
        pr.inflights.add(last.index);
      } else if (pr.state === ProgressState.Probe) {
        pr.probeSent = true;
      }
    }
    this.send({
      type: MessageType.App,
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.log.committed,
    });
    return true;
  }

  private afterConfigChange(): void {
    if (this.role !== RaftRole.Leader) return;
    // A leader that removed or demoted itself keeps going until the node loop stops it.
    if (!this.promotable()) return;
    if (this.tracker.voters.size === 0) return;
    if (this.maybeCommit()) {
      this.broadcastAppend();
    } else {
      this.tracker.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false);
      });
    }
    if (this.leadTransferee !== noNode && !this.tracker.progress.has(this.leadTransferee)) this.leadTransferee = noNode;
  }

  // ---- candidate and follower --------------------------------------------------------------

  private stepCandidate(m: Message): ProposalRefusal | undefined {
    const myResponse = this.role === RaftRole.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        return 'noLeader';
      case MessageType.ReadIndex:
        return 'noLeader';
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return undefined;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return undefined;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return undefined;
      case myResponse: {
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === RaftRole.PreCandidate) {
            this.startCampaign('election');
          } else {
            this.becomeLeader();
            this.broadcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, noNode);
        }
        return undefined;
      }
    }
    return undefined;
  }

  private stepFollower(m: Message): ProposalRefusal | undefined {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === noNode) return 'noLeader';
        this.send({ ...m, to: this.lead });
        return undefined;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return undefined;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return undefined;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return undefined;
      case MessageType.TransferLeader:
        if (this.lead === noNode) return undefined;
        // Forwarded with the transferee kept as the sender (etcd would put this node there and so
        // transfer to the forwarder), and no term, like a forwarded proposal.
        this.messages.push({ ...m, to: this.lead, term: 0 });
        return undefined;
      case MessageType.TimeoutNow:
        if (this.promotable()) this.startCampaign('transfer');
        return undefined;
      case MessageType.ReadIndex:
        if (this.lead === noNode) return 'noLeader';
        this.send({ ...m, to: this.lead });
        return undefined;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, requestCtx: m.context });
        return undefined;
    }
    return undefined;
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: MessageType.AppResp, to: m.from, index: lastNew });
    } else {
      this.send({ type: MessageType.AppResp, to: m.from, index: m.index, reject: true, rejectHint: this.log.lastIndex() });
    }
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.send({ type: MessageType.HeartbeatResp, to: m.from, context: m.context });
  }

  private handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    if (!snapshot) return;
    if (this.restore(snapshot)) {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.lastIndex() });
    } else {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed });
    }
  }

  private restore(snapshot: Snapshot): boolean {
    const { index, term, confState } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    if (this.role !== RaftRole.Follower) {
      // Defensive, as in etcd: only a follower installs a snapshot.
      this.becomeFollower(this.term + 1, noNode);
      return false;
    }
    // etcd refuses a snapshot whose membership lacks this node; a member added after the leader's
    // latest snapshot then never catches up once the log before its addition is compacted. Taking it
    // is safe: without a Progress of its own the node cannot campaign, and the entry that adds it
    // follows the snapshot in the log.
    if (this.log.matchTerm(index, term)) {
      // We have the entry already: fast-forward the commit index instead of dropping our log.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    restoreConfState(this.tracker, confState, this.log.lastIndex());
    const self = this.tracker.progress.get(this.id);
    self?.maybeUpdate(self.next - 1);
    return true;
  }
}
