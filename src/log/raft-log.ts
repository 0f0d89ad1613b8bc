// The revision log of a Raft member: the store proposes and follows it exactly as it does the
// single-member log, while the node loop underneath agrees on the order with the other members.
// Committed entries are read back from the in-memory mirror of the Raft WAL (MemoryRaftStorage),
// which keeps every entry after the last snapshot the engine has made durable.
import { EtcdError } from '../core/errors.js';
import type { Command, LogEntry } from './command.js';
import { followCommitted, defaultFollowLimits, type CommitListener, type CommittedSource } from './log-follower.js';
import { logEntryOf, proposalData } from './raft-entries.js';
import type { RevisionLog } from './revision-log.js';
import { decodeConfChange, isConfChangeDecodeError } from '../raft/conf-change-codec.js';
import type { MemoryRaftStorage } from '../raft/memory-storage.js';
import { NodeLoop, type NodeApplier, type NodeDisk, type NodeNetwork } from '../raft/node-loop.js';
import {
  EntryType,
  RaftRole,
  noNode,
  type ConfChange,
  type ConfState,
  type Entry,
  type NodeId,
  type ProposalRefusal,
  type RaftCore,
  type RaftStatus,
  type ReadState,
  type Snapshot,
  type SoftState,
} from '../raft/types.js';

/** How long a ReadIndex request may go unanswered before it is asked again (a message may be lost). */
export const readIndexRetryMs = 500;
/** How often proposals held for want of a leader are offered again (besides at every leader change). */
export const heldProposalRetryMs = 100;
/** Proposals held while there is no leader (or a transfer runs) before new ones get `too many requests`. */
export const maxHeldProposals = 10_000;
/** Bytes of proposals held at once, the same bound in bytes (a held put may be 1.5 MiB). */
export const maxHeldProposalBytes = 64 * 1024 * 1024;
/** etcd's request timeout with its default election timeout: 5 s + 2 × 1 s. */
export const defaultLeaderWaitMs = 7000;

export interface RaftLogOptions {
  readonly core: RaftCore;
  readonly storage: MemoryRaftStorage;
  readonly disk: NodeDisk & {
    releaseTo(index: number): Promise<void>;
    readonly failure: Error | undefined;
    onFailure(listener: (failure: Error) => void): void;
    close(): Promise<void>;
    /** Every save so far on stable storage (durability-mode.ts). */
    synced(): Promise<void>;
  };
  readonly network: NodeNetwork;
  readonly tickIntervalMs: number;
  /** Ticks missed during a stall that are delivered late, at most (fixed-rate-ticker.ts). */
  readonly maxCatchUpTicks: number;
  /** Highest index known committed at start (the WAL's hard state, or the engine's applied mark). */
  readonly committedAtStart: number;
  /** Entries kept behind a snapshot for followers that are slightly behind (etcd: 5,000). */
  readonly catchUpEntries: number;
  /**
   * Applies a committed membership change to the membership file and the peers, in log order, also
   * again for changes after the last snapshot when a member restarts (it must be idempotent).
   * Resolves once durable, with whether the core is to apply it too: false for a change the
   * membership refused (the core then applies an empty change, as etcd's applyConfChange does).
   */
  readonly applyConfChange: (change: ConfChange, index: number) => Promise<boolean>;
  /** A member's published name and client URLs, in log order (again on replay: idempotent). */
  readonly applyAttributes: (
    id: NodeId,
    attributes: { name: string; clientUrls: readonly string[] },
    index: number,
    requestId: bigint,
  ) => Promise<void>;
  /**
   * Replaces the application state with the one received with `snapshot`; resolves once durable.
   * Rejecting with MemberRestart stops the node loop without a failure: the member restarts and
   * loads the state at start-up instead.
   */
  readonly installSnapshot: (snapshot: Snapshot) => Promise<void>;
  /** The small payload a snapshot carries (the membership), taken when a snapshot is made. */
  readonly snapshotData: () => Uint8Array;
  readonly onLeaderChange?: (lead: NodeId, role: RaftRole) => void;
  /** Told when this member starts an election (pre-candidate, then candidate), for the log. */
  readonly onCampaign?: (role: RaftRole.PreCandidate | RaftRole.Candidate) => void;
  /**
   * How long a proposal or read may wait for a leader (during an election or a leader transfer)
   * before it is given up with `etcdserver: request timed out`: etcd's request timeout, 5 s + 2
   * election timeouts. Default defaultLeaderWaitMs.
   */
  readonly leaderWaitMs?: number;
}

const refusalError = (refusal: ProposalRefusal): EtcdError => {
  switch (refusal) {
    case 'noLeader':
      return new EtcdError('noLeader');
    case 'leaderTransferring':
      return new EtcdError('timeout');
    case 'tooManyUncommitted':
      return new EtcdError('tooManyRequests');
    case 'confChangePending':
      return new EtcdError('timeout');
  }
};

/** See RaftLogOptions.installSnapshot. */
export class MemberRestart extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'MemberRestart';
  }
}

interface PendingRead {
  readonly ctx: Uint8Array;
  readonly resolve: (index: number) => void;
  readonly reject: (e: Error) => void;
  askedAt: number;
  readonly deadlineMs: number;
}

/** A proposal the core could not take yet (no leader, or a transfer running), in arrival order. */
interface HeldProposal {
  readonly data: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  readonly deadlineMs: number;
}

/** Refusals that end once a leader is known again: the request waits for it, as etcd's do. */
const waitsForLeader = (refusal: ProposalRefusal): boolean => refusal === 'noLeader' || refusal === 'leaderTransferring';

/** The answer to every accepted proposal: one settled promise, not one per write. */
const accepted: Promise<void> = Promise.resolve();

export class RaftLog implements RevisionLog, CommittedSource, NodeApplier {
  private readonly loop: NodeLoop;
  private readonly listeners = new Set<CommitListener>();
  private committedTo: number;
  private lead: NodeId = noNode;
  private role: RaftRole = RaftRole.Follower;
  private readonly reads = new Map<string, PendingRead>();
  private readCounter = 0n;
  private retryTimer: NodeJS.Timeout | undefined;
  private heldTimer: NodeJS.Timeout | undefined;
  private held: HeldProposal[] = [];
  private heldBytes = 0;
  private readonly leaderWaitMs: number;
  private closed = false;
  private ended = false;
  private stopFailure: Error | undefined;
  private readonly failureListeners: Array<(e: Error) => void> = [];
  /** Membership changes apply one after another, in log order. */
  private confChain: Promise<void> = Promise.resolve();
  /** Conf states after each applied membership change, to snapshot at an index below the newest. */
  private readonly confHistory: { index: number; confState: ConfState }[];
  /** The snapshot being taken (persistedUpTo), awaited by close(). */
  private snapshotting: Promise<void> | undefined;
  /** The node loop stopped for a restart (MemberRestart): nothing more is taken. */
  private restarting = false;
  /**
   * This member's own proposals by their data (the core hands the same bytes back when they
   * commit), so applying them skips decoding the request again. Weak: a proposal lost with its
   * leader or overwritten in the log leaves nothing behind.
   */
  private readonly ownProposals = new WeakMap<Uint8Array, { readonly requestId: bigint; readonly command: Command }>();

  constructor(private readonly options: RaftLogOptions) {
    this.committedTo = options.committedAtStart;
    this.leaderWaitMs = options.leaderWaitMs ?? defaultLeaderWaitMs;
    this.confHistory = [{ index: options.storage.snapshot().metadata.index, confState: options.storage.initialState().confState }];
    this.loop = new NodeLoop(options.core, options.storage, options.disk, options.network, this, {
      tickIntervalMs: options.tickIntervalMs,
      maxCatchUpTicks: options.maxCatchUpTicks,
      onFailure: (e) => {
        if (e instanceof MemberRestart) this.restarting = true;
        else this.fail(e);
      },
    });
    options.disk.onFailure((e) => this.fail(e));
  }

  /** Starts ticking and handling Ready; messages from peers go to step(). */
  start(): void {
    this.loop.start();
    this.retryTimer = setInterval(() => this.retryReads(), readIndexRetryMs);
    this.heldTimer = setInterval(() => this.offerHeld(), heldProposalRetryMs);
  }

  get node(): NodeLoop {
    return this.loop;
  }

  get term(): number {
    return this.loop.hardState.term;
  }

  get committedIndex(): number {
    return this.committedTo;
  }

  get leader(): NodeId {
    return this.lead;
  }

  get isLeader(): boolean {
    return this.role === RaftRole.Leader;
  }

  status(): RaftStatus {
    return this.loop.status();
  }

  get failure(): Error | undefined {
    return this.stopFailure;
  }

  onFailure(listener: (failure: Error) => void): void {
    if (this.stopFailure !== undefined) listener(this.stopFailure);
    else this.failureListeners.push(listener);
  }

  propose(requestId: bigint, command: Command): Promise<void> {
    if (this.stopFailure !== undefined) return Promise.reject(this.stopFailure);
    if (this.closed || this.restarting) return Promise.reject(new EtcdError('stopped'));
    const data = proposalData(requestId, command);
    this.ownProposals.set(data, { requestId, command });
    // Behind proposals already waiting, so that one caller's writes keep their order.
    if (this.held.length > 0) return this.hold(data);
    const result = this.loop.propose(data);
    // Accepted: the store answers its caller when the entry is applied, or at its deadline.
    if (result.ok) return accepted;
    // etcd blocks a proposal while there is no leader until one is elected or the request times out.
    return this.isLeaderlessRefusal(result.refusal) ? this.hold(data) : Promise.reject(refusalError(result.refusal));
  }

  proposeConfChange(change: ConfChange): void {
    if (this.stopFailure !== undefined) throw this.stopFailure;
    if (this.closed || this.restarting) throw new EtcdError('stopped');
    const result = this.loop.proposeConfChange(change);
    if (!result.ok) throw refusalError(result.refusal);
  }

  readIndex(): Promise<number> {
    if (this.stopFailure !== undefined) return Promise.reject(this.stopFailure);
    if (this.closed || this.restarting) return Promise.reject(new EtcdError('stopped'));
    const ctx = new Uint8Array(8);
    new DataView(ctx.buffer).setBigUint64(0, ++this.readCounter);
    const result = this.loop.readIndex(ctx);
    // Without a leader the read waits (asked again by retryReads) until one is elected or its deadline.
    if (!result.ok && !this.isLeaderlessRefusal(result.refusal)) return Promise.reject(refusalError(result.refusal));
    const now = Date.now();
    return new Promise<number>((resolve, reject) => {
      this.reads.set(ctxKey(ctx), { ctx, resolve, reject, askedAt: result.ok ? now : 0, deadlineMs: now + this.leaderWaitMs });
    });
  }

  /**
   * Resolves once this member's membership reflects every change committed before the call (a
   * ReadIndex, then the changes up to it applied), so a membership read or check is not stale.
   */
  async membershipBarrier(): Promise<void> {
    const index = await this.readIndex();
    if (this.committedTo < index) {
      await new Promise<void>((resolve) => {
        const unsubscribe = this.subscribe({
          committed: () => {
            if (this.committedTo < index) return;
            unsubscribe();
            resolve();
          },
          ended: () => resolve(),
        });
      });
    }
    await this.confChain;
  }

  follow(fromIndex: number): AsyncIterable<readonly LogEntry[]> {
    return followCommitted(this, fromIndex, defaultFollowLimits);
  }

  async *readCommitted(from: number, to: number): AsyncGenerator<LogEntry> {
    const first = this.options.storage.firstIndex();
    if (from < first && from <= to) {
      throw new Error(`raft log starts at index ${first}, but the applied state ends at ${from - 1}: entries ${from}..${first - 1} are gone`);
    }
    const chunk = 1000;
    for (let lo = from; lo <= to; lo += chunk) {
      const hi = Math.min(to + 1, lo + chunk);
      const got = this.options.storage.entries(lo, hi, Number.POSITIVE_INFINITY);
      if ('unavailable' in got) throw new Error(`raft log: entries ${lo}..${hi - 1} are ${got.unavailable}`);
      for (const e of got) yield logEntryOf(e);
    }
  }

  subscribe(listener: CommitListener): () => void {
    if (this.ended) {
      listener.ended();
      return () => undefined;
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  written(): Promise<void> {
    return this.options.disk.synced();
  }

  /**
   * The engine's state is durable up to `index`: take a Raft snapshot there and let the WAL and the
   * in-memory log drop what lies far enough behind it.
   */
  persistedUpTo(index: number): void {
    if (this.closed || this.snapshotting !== undefined || this.stopFailure !== undefined) return;
    const storage = this.options.storage;
    if (index <= storage.snapshot().metadata.index || index > storage.lastIndex()) return;
    this.snapshotting = (async () => {
      // The conf state at `index` is known only once every change up to it has been applied.
      await this.confChain;
      if (this.closed || this.stopFailure !== undefined) return;
      const snap = storage.createSnapshot(index, this.confStateAt(index), this.options.snapshotData());
      if ('refused' in snap) return;
      await this.options.disk.saveSnapshot(snap.metadata);
      const keepFrom = index - this.options.catchUpEntries;
      if (keepFrom > storage.firstIndex()) storage.compact(keepFrom);
      await this.options.disk.releaseTo(index);
      // Keep the newest conf state at or below the snapshot and everything after it.
      let keep = 0;
      while (keep + 1 < this.confHistory.length && this.confHistory[keep + 1]!.index <= index) keep++;
      this.confHistory.splice(0, keep);
    })()
      .catch((e: unknown) => this.fail(e instanceof Error ? e : new Error(String(e))))
      .finally(() => (this.snapshotting = undefined));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== undefined) clearInterval(this.retryTimer);
    if (this.heldTimer !== undefined) clearInterval(this.heldTimer);
    this.rejectHeld(new EtcdError('stopped'));
    await this.loop.stop();
    await this.confChain.catch(() => undefined);
    await this.snapshotting;
    this.rejectReads(new EtcdError('stopped'));
    this.end();
    await this.options.disk.close();
  }

  // ---- NodeApplier: called by the node loop in Ready order ----

  /**
   * Hands committed entries to the store. A batch with a membership change returns the promise of
   * its application: the node loop waits for it before it advances, so the core never counts
   * votes or commits under a configuration the change has already replaced (etcd's waitApply).
   */
  committed(entries: readonly Entry[]): Promise<void> | undefined {
    const fresh: LogEntry[] = [];
    let confChanged = false;
    for (const entry of entries) {
      // Membership follows every committed change, also those the store has applied before a restart.
      if (entry.type === EntryType.ConfChange) {
        this.queueConfChange(entry);
        confChanged = true;
      }
      let decoded: LogEntry;
      try {
        const own = entry.type === EntryType.Normal ? this.ownProposals.get(entry.data) : undefined;
        // taken once: the entry's bytes stay in the Raft log until it is trimmed, and the decoded
        // request (with the client's message buffer) need not stay with them
        if (own !== undefined) this.ownProposals.delete(entry.data);
        decoded = own === undefined ? logEntryOf(entry) : { index: entry.index, term: entry.term, requestId: own.requestId, command: own.command };
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
        return undefined;
      }
      const command = decoded.command;
      if (command.type === 'memberAttributes') {
        this.queueMembership(() => this.options.applyAttributes(command.id, command, entry.index, decoded.requestId));
      }
      if (entry.index > this.committedTo) fresh.push(decoded);
    }
    if (fresh.length > 0) {
      this.committedTo = fresh[fresh.length - 1]!.index;
      for (const l of [...this.listeners]) l.committed(fresh);
    }
    return confChanged ? this.confChain : undefined;
  }

  async installSnapshot(snapshot: Snapshot): Promise<void> {
    await this.confChain;
    await this.options.installSnapshot(snapshot);
    this.confHistory.length = 0;
    this.confHistory.push({ index: snapshot.metadata.index, confState: snapshot.metadata.confState });
    if (snapshot.metadata.index > this.committedTo) this.committedTo = snapshot.metadata.index;
  }

  readStates(states: readonly ReadState[]): void {
    for (const s of states) {
      const key = ctxKey(s.requestCtx);
      const read = this.reads.get(key);
      if (read === undefined) continue;
      this.reads.delete(key);
      read.resolve(s.index);
    }
  }

  softState(state: SoftState): void {
    const changed = state.lead !== this.lead;
    if (state.role !== this.role && (state.role === RaftRole.PreCandidate || state.role === RaftRole.Candidate)) this.options.onCampaign?.(state.role);
    this.lead = state.lead;
    this.role = state.role;
    // etcd answers a linearizable read with "leader changed" when a new leader is elected under it;
    // losing the leader alone leaves reads waiting for the next one (or their deadline).
    if (changed && state.lead !== noNode) this.rejectReads(new EtcdError('leaderChanged'));
    if (changed) this.options.onLeaderChange?.(state.lead, state.role);
    if (changed && state.lead !== noNode && this.held.length > 0) setImmediate(() => this.offerHeld());
  }

  private queueConfChange(entry: Entry): void {
    const change = decodeConfChange(entry.data);
    if (isConfChangeDecodeError(change)) {
      this.fail(new Error(`raft log entry ${entry.index}: malformed membership change: ${change.malformed}`));
      return;
    }
    this.queueMembership(async () => {
      const accepted = await this.options.applyConfChange(change, entry.index);
      // The core learns of a change when it is applied, as etcd's ApplyConfChange, also on replay; a
      // refused one still ends the pending change, as an empty change.
      const confState = this.loop.applyConfChange(accepted ? change : { ...change, nodeId: noNode });
      this.confHistory.push({ index: entry.index, confState });
    });
  }

  private queueMembership(apply: () => Promise<void>): void {
    this.confChain = this.confChain.then(apply).catch((e: unknown) => this.fail(e instanceof Error ? e : new Error(String(e))));
  }

  private confStateAt(index: number): ConfState {
    let found = this.confHistory[0]!.confState;
    for (const h of this.confHistory) if (h.index <= index) found = h.confState;
    return found;
  }

  private retryReads(): void {
    const now = Date.now();
    for (const read of this.reads.values()) {
      if (now >= read.deadlineMs) {
        this.reads.delete(ctxKey(read.ctx));
        read.reject(new EtcdError('timeout'));
        continue;
      }
      if (now - read.askedAt < readIndexRetryMs) continue;
      const result = this.loop.readIndex(read.ctx);
      if (result.ok) read.askedAt = now;
      else if (!this.isLeaderlessRefusal(result.refusal)) {
        this.reads.delete(ctxKey(read.ctx));
        read.reject(refusalError(result.refusal));
      }
    }
  }

  /** A refusal that ends once a leader is known (not one from a leader that removed itself). */
  private isLeaderlessRefusal(refusal: ProposalRefusal): boolean {
    return waitsForLeader(refusal) && (refusal === 'leaderTransferring' || this.lead === noNode);
  }

  private hold(data: Uint8Array): Promise<void> {
    if (this.held.length >= maxHeldProposals || this.heldBytes + data.byteLength > maxHeldProposalBytes) {
      return Promise.reject(new EtcdError('tooManyRequests'));
    }
    this.heldBytes += data.byteLength;
    return new Promise<void>((resolve, reject) => this.held.push({ data, resolve, reject, deadlineMs: Date.now() + this.leaderWaitMs }));
  }

  /** Offers held proposals to the core again, oldest first; stops at the first it still cannot take. */
  private offerHeld(): void {
    if (this.closed || this.held.length === 0) return;
    const now = Date.now();
    let i = 0;
    for (; i < this.held.length; i++) {
      const p = this.held[i]!;
      // Its caller has been told "request timed out" by now: proposing it later would surprise them.
      if (now >= p.deadlineMs) {
        p.reject(new EtcdError('timeout'));
        continue;
      }
      const result = this.loop.propose(p.data);
      if (result.ok) p.resolve();
      else if (this.isLeaderlessRefusal(result.refusal)) break;
      else p.reject(refusalError(result.refusal));
    }
    // Past the one that broke, the rest wait with it (their deadlines are checked next time).
    for (const p of this.held.slice(0, i)) this.heldBytes -= p.data.byteLength;
    this.held = this.held.slice(i);
  }

  private rejectHeld(e: Error): void {
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const p of held) p.reject(e);
  }

  private rejectReads(e: Error): void {
    const pending = [...this.reads.values()];
    this.reads.clear();
    for (const r of pending) r.reject(e);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const l of [...this.listeners]) l.ended();
    this.listeners.clear();
  }

  private fail(e: Error): void {
    if (this.stopFailure !== undefined) return;
    this.stopFailure = e;
    // Fail-stop: a member that cannot apply or persist must not go on voting or leading.
    void this.loop.stop();
    this.rejectReads(e);
    this.rejectHeld(e);
    for (const l of this.failureListeners.splice(0)) l(e);
  }
}

const ctxKey = (ctx: Uint8Array): string => Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('hex');
