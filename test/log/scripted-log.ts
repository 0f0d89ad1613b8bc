// A RevisionLog whose every step a test decides: proposals wait until the test commits or drops
// them, other members' entries can be committed at any time, reading back committed entries can be
// held mid-way, and the read index can be pinned. It follows with the same followCommitted as LocalLog.
import { EtcdError, type EtcdErrorKind } from '../../src/core/errors.js';
import type { Command, LogEntry } from '../../src/log/command.js';
import { followCommitted, type CommitListener, type CommittedSource, type FollowLimits } from '../../src/log/log-follower.js';
import type { RevisionLog } from '../../src/log/revision-log.js';

interface PendingProposal {
  readonly requestId: bigint;
  readonly command: Command;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export class ScriptedLog implements RevisionLog, CommittedSource {
  readonly term = 1;
  readonly failure: Error | undefined = undefined;
  readonly entries: LogEntry[] = [];
  readonly pending: PendingProposal[] = [];
  /** How many times committed entries were read back (a follower's catch-up passes). */
  readBacks = 0;
  /** How many times readIndex() was called. */
  readIndexCalls = 0;
  /** Commit every proposal on its own, a microtask after it is made. */
  autoCommit = false;
  /** What readIndex() answers; undefined: the last committed index. */
  pinnedReadIndex: number | undefined;
  /** While set, reading committed entries back stops after this many and waits for the promise. */
  readGate: { readonly after: number; readonly open: Promise<void>; reached: () => void } | undefined;
  private readonly listeners = new Set<CommitListener>();
  private ended = false;

  constructor(private readonly limits?: FollowLimits) {}

  get committedIndex(): number {
    return this.entries.length;
  }

  propose(requestId: bigint, command: Command): Promise<void> {
    if (this.ended) return Promise.reject(new EtcdError('stopped'));
    const accepted = new Promise<void>((resolve, reject) => this.pending.push({ requestId, command, resolve, reject }));
    if (this.autoCommit) queueMicrotask(() => this.commitPending());
    return accepted;
  }

  /** Commits every pending proposal, in order, as one batch. */
  commitPending(): void {
    const taken = this.pending.splice(0);
    this.commit(taken.map((p) => ({ requestId: p.requestId, command: p.command })));
    for (const p of taken) p.resolve();
  }

  /** The log learns that every pending proposal is lost. */
  dropPending(kind: EtcdErrorKind): void {
    for (const p of this.pending.splice(0)) p.reject(new EtcdError(kind));
  }

  /** Commits entries (another member's, a leader's no-op, ...) as one batch. */
  commit(items: readonly { readonly requestId: bigint; readonly command: Command }[]): void {
    if (items.length === 0) return;
    const batch = items.map((item, i) => ({ index: this.entries.length + 1 + i, term: this.term, ...item }));
    this.entries.push(...batch);
    for (const l of this.listeners) l.committed(batch);
  }

  follow(fromIndex: number): AsyncIterable<readonly LogEntry[]> {
    return followCommitted(this, fromIndex, this.limits);
  }

  async *readCommitted(from: number, to: number): AsyncGenerator<LogEntry> {
    this.readBacks++;
    for (let index = from, read = 0; index <= to; index++, read++) {
      const gate = this.readGate;
      if (gate !== undefined && read === gate.after) {
        gate.reached();
        await gate.open;
      }
      yield this.entries[index - 1]!;
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

  readIndex(): Promise<number> {
    this.readIndexCalls++;
    return Promise.resolve(this.pinnedReadIndex ?? this.committedIndex);
  }

  persistedUpTo(): void {}
  written(): Promise<void> {
    return Promise.resolve();
  }

  onFailure(): void {}

  async close(): Promise<void> {
    this.dropPending('stopped');
    this.ended = true;
    for (const l of this.listeners) l.ended();
    this.listeners.clear();
  }
}

/** A gate for ScriptedLog.readGate: `reached` resolves when reading stops at it, `open()` lets it go on. */
export function readGate(after: number): { gate: NonNullable<ScriptedLog['readGate']>; reached: Promise<void>; open: () => void } {
  let open!: () => void;
  let reached!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const reachedP = new Promise<void>((resolve) => (reached = resolve));
  return { gate: { after, open: opened, reached }, reached: reachedP, open };
}
