// The thin shell around the pure Raft core: the one place Raft meets time, disk and network.
// Each Ready is handled in the order Raft's safety needs: persist (fsync when the core says so),
// mirror into the in-memory storage the core reads, then send the messages that depend on it (a
// leader sends first: see drain), then hand committed entries to the applier in index order, then advance. While one Ready is on
// its way to disk the core keeps stepping messages and taking proposals; they come out together
// in the next Ready, so a busy member writes many entries per fsync (group commit for free).
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  ProposalResult,
  RaftCore,
  RaftStatus,
  ReadState,
  Snapshot,
  SnapshotMetadata,
  SoftState,
} from './types.js';
import { MessageType, RaftRole, SnapshotStatus } from './types.js';
import { startFixedRateTicker } from './fixed-rate-ticker.js';

/** The member's durable Raft log (RaftWal). */
export interface NodeDisk {
  /**
   * waitHere: the loop has nothing to overlap with this save (no messages left before it), so the
   * disk may make a small write on this thread and wait for it there (raft-wal.ts).
   */
  save(hardState: HardState | undefined, entries: readonly Entry[], sync: boolean, waitHere: boolean): Promise<void>;
  saveSnapshot(meta: SnapshotMetadata): Promise<void>;
}

/** The in-memory copy of the persisted log that the core reads (MemoryRaftStorage). */
export interface NodeStorage {
  append(entries: readonly Entry[]): void;
  setHardState(hardState: HardState): void;
  applySnapshot(snapshot: Snapshot): void;
}

export interface NodeNetwork {
  send(messages: readonly Message[]): void;
  /** A MsgSnap: the network streams the application state beside it. */
  sendSnapshot(message: Message): void;
}

/** What the node loop hands upward; each call in Ready order. */
export interface NodeApplier {
  /**
   * Committed entries, in index order, exactly once each (across restarts: only past `applied`).
   * A promise returned is awaited before the loop advances (a membership change being applied).
   */
  committed(entries: readonly Entry[]): Promise<void> | undefined;
  /** A snapshot from the leader replaces the application state; resolves once installed and durable. */
  installSnapshot(snapshot: Snapshot): Promise<void>;
  readStates(states: readonly ReadState[]): void;
  softState(state: SoftState): void;
}

export interface NodeLoopOptions {
  readonly tickIntervalMs: number;
  /** Ticks missed during a stall that are delivered late, at most (fixed-rate-ticker.ts). */
  readonly maxCatchUpTicks: number;
  /** Told once when persisting failed; the loop stops (fail-stop: the disk can no longer be trusted). */
  readonly onFailure: (failure: Error) => void;
}

export class NodeLoop {
  private draining = false;
  private stopped = false;
  private stopTicker: (() => void) | undefined;
  /** Who waits for the running drain to end (stop); made only then, not on every kick. */
  private idleWaiters: (() => void)[] = [];
  /** drain, bound once: kicked for every proposal. */
  private readonly drainSoon = (): void => void this.drain();
  /** The last hard state persisted (etcd's server term and commit): read per call, so kept at hand. */
  private persistedHardState: HardState | undefined;
  /** The role of the last soft state handled is leader. */
  private leading = false;

  constructor(
    private readonly core: RaftCore,
    private readonly storage: NodeStorage,
    private readonly disk: NodeDisk,
    private readonly network: NodeNetwork,
    private readonly applier: NodeApplier,
    private readonly options: NodeLoopOptions,
  ) {}

  start(): void {
    this.stopTicker = startFixedRateTicker(
      this.options.tickIntervalMs,
      // The late ticks are for the followers' election clocks; a leader catching up would only
      // send a heartbeat per tick, all at once, to a cluster it was too busy to serve.
      (late) => {
        if (!(late && this.leading)) this.tick();
      },
      this.options.maxCatchUpTicks,
    );
    this.kick();
  }

  tick(): void {
    if (this.stopped) return;
    this.core.tick();
    this.kick();
  }

  step(message: Message): void {
    if (this.stopped) return;
    this.core.step(message);
    this.kick();
  }

  steps(messages: readonly Message[]): void {
    if (this.stopped) return;
    for (const m of messages) this.core.step(m);
    this.kick();
  }

  propose(data: Uint8Array): ProposalResult {
    const result = this.core.propose(data);
    this.kick();
    return result;
  }

  proposeConfChange(change: ConfChange): ProposalResult {
    const result = this.core.proposeConfChange(change);
    this.kick();
    return result;
  }

  readIndex(requestCtx: Uint8Array): ProposalResult {
    const result = this.core.readIndex(requestCtx);
    this.kick();
    return result;
  }

  applyConfChange(change: ConfChange): ConfState {
    const confState = this.core.applyConfChange(change);
    this.kick();
    return confState;
  }

  transferLeader(transferee: bigint): void {
    this.core.transferLeader(transferee);
    this.kick();
  }

  campaign(): void {
    this.core.campaign();
    this.kick();
  }

  reportUnreachable(id: bigint): void {
    this.core.reportUnreachable(id);
    this.kick();
  }

  reportSnapshot(id: bigint, ok: boolean): void {
    this.core.reportSnapshot(id, ok ? SnapshotStatus.Finish : SnapshotStatus.Failure);
    this.kick();
  }

  status(): RaftStatus {
    return this.core.status();
  }

  /** The last hard state this loop persisted (the core's before the first Ready); cheaper than status(). */
  get hardState(): HardState {
    return (this.persistedHardState ??= this.core.status().hardState);
  }

  /** Stops ticking and waits for the Ready being handled to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopTicker?.();
    if (this.draining) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private kick(): void {
    if (this.draining || this.stopped) return;
    this.draining = true;
    // After the current turn, so that every message and proposal of this turn joins one Ready.
    setImmediate(this.drainSoon);
  }

  private async drain(): Promise<void> {
    try {
      while (!this.stopped && this.core.hasReady()) {
        const rd = this.core.ready();
        if (rd.softState !== undefined) {
          this.leading = rd.softState.role === RaftRole.Leader;
          this.applier.softState(rd.softState);
        }
        // A leader sends before it persists, as etcd's does (Raft thesis 10.2.1): its appends reach
        // the followers' disks while its own fsync runs, and nothing it sends acknowledges its own
        // persistence. An entry still commits only once durable on a quorum, and is applied (and
        // answered) only after this Ready's save. Anyone else sends after: votes and append
        // responses promise what is on disk.
        // Except when this Ready commits entries it is itself saving (a single voter commits alone):
        // its messages would carry that commit to learners before the entries are on its disk.
        const commitsOwnUnsaved = rd.entries.length > 0 && rd.hardState !== undefined && rd.hardState.commit >= rd.entries[0]!.index;
        const sentEarly = this.leading && rd.messages.length > 0 && !commitsOwnUnsaved;
        if (sentEarly) this.sendAll(rd.messages);
        if (rd.readStates.length > 0) this.applier.readStates(rd.readStates);
        if (rd.snapshot !== undefined) {
          await this.disk.saveSnapshot(rd.snapshot.metadata);
        }
        if (rd.hardState !== undefined || rd.entries.length > 0) {
          // A leader's appends leave only once this turn ends (node:http2 writes its frames from an
          // immediate): its save must not hold the thread, or the followers' disks wait for its own.
          await this.disk.save(rd.hardState, rd.entries, rd.mustSync, !sentEarly);
        }
        if (rd.snapshot !== undefined) {
          await this.applier.installSnapshot(rd.snapshot);
          this.storage.applySnapshot(rd.snapshot);
        }
        if (rd.hardState !== undefined) {
          this.storage.setHardState(rd.hardState);
          this.persistedHardState = rd.hardState;
        }
        if (rd.entries.length > 0) this.storage.append(rd.entries);
        if (!sentEarly) this.sendAll(rd.messages);
        if (rd.committedEntries.length > 0) await this.applier.committed(rd.committedEntries);
        this.core.advance(rd);
      }
    } catch (e) {
      this.stopped = true;
      this.stopTicker?.();
      this.options.onFailure(e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.draining = false;
      if (this.idleWaiters.length > 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  private sendAll(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    const plain: Message[] = [];
    for (const m of messages) {
      if (m.type === MessageType.Snap) this.network.sendSnapshot(m);
      else plain.push(m);
    }
    if (plain.length > 0) this.network.send(plain);
  }
}
