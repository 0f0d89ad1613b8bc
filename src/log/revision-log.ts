// The seam between agreeing on the order of writes and applying them. The server's RaftLog implements
// it, and so does the single-member LocalLog the store's tests use. docs/design.md ("The revision
// log") states what an implementation must guarantee.
import type { Command, LogEntry } from './command.js';

export interface RevisionLog {
  /**
   * Hands a command to the log under the caller's request id. Settles with what the log knows of the
   * entry's fate: resolves once it is committed (it then comes out of follow()); rejects with an
   * EtcdError when the log refuses it (`tooManyRequests`, `stopped`, `noLeader`) or knows it will
   * never commit (`leaderChanged`: leadership moved before it did), or with the log's storage failure.
   * When the log cannot tell, it may stay pending: the store gives every caller a deadline.
   */
  propose(requestId: bigint, command: Command): Promise<void>;
  /**
   * Every committed entry after `fromIndex`, in index order, each exactly once: first those committed
   * already (read back from storage), then new ones as they commit, with no gap and no duplicate in
   * between. Pull-based: entries are read or buffered (bounded) only as fast as the consumer asks.
   * Ends once the log is closed and every committed entry has been handed out; throws if entries after
   * `fromIndex` are gone (trimmed).
   */
  follow(fromIndex: number): AsyncIterable<readonly LogEntry[]>;
  /**
   * A linearizable read point: an index such that once the store has applied up to it, a read reflects
   * every write acknowledged (by any member) before this call. LocalLog: its last committed index; a
   * Raft log: Raft's ReadIndex (the leader's commit index, confirmed by a quorum). Rejects as propose
   * does when there is no leader or the log stopped.
   */
  readIndex(): Promise<number>;
  /** The applied state is persisted up to `index`: earlier entries may be discarded. */
  persistedUpTo(index: number): void;
  /**
   * Settles once everything the log has written so far is on stable storage. The store writes the
   * applied state behind it, so that the engine is never ahead of the log after a power loss.
   */
  written(): Promise<void>;
  readonly term: number;
  /** Index of the last committed entry. */
  readonly committedIndex: number;
  /** Set once a write or sync of the log failed: the log takes no more proposals (fail-stop). */
  readonly failure: Error | undefined;
  /** Calls listener once when the log stops on a failure (at once if it already has). */
  onFailure(listener: (failure: Error) => void): void;
  /** Takes no more proposals; what is in flight commits or is refused, then follow() ends. */
  close(): Promise<void>;
}
