// The seam between agreeing on the order of writes and applying them. The single-node LocalLog
// implements it now; a Raft-backed log will implement the same interface.
import type { Observable } from 'rxjs';
import type { Command, LogEntry } from './command.js';

export interface RevisionLog {
  /** Appends a command. Resolves once it is durable and committed; it then appears on `committed$`. */
  propose(requestId: number, command: Command): Promise<void>;
  /** Committed entries in index order, in batches; each entry appears exactly once. */
  readonly committed$: Observable<readonly LogEntry[]>;
  /** Entries after `index` that are already committed (replayed at start-up before serving). */
  committedAfter(index: number): AsyncIterable<LogEntry>;
  /** The applied state is persisted up to `index`: earlier entries may be discarded. */
  persistedUpTo(index: number): void;
  readonly term: number;
  readonly lastIndex: number;
  /** Set once a write or sync of the log failed: the log takes no more proposals (fail-stop). */
  readonly failure: Error | undefined;
  /** Calls listener once when the log stops on a failure (at once if it already has). */
  onFailure(listener: (failure: Error) => void): void;
  close(): Promise<void>;
}
