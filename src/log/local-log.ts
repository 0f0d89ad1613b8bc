// Single-member revision log: proposals made in the same turn of the event loop are written as one
// batch with one fsync (group commit); while a batch is on its way to disk the next one gathers.
import { Subject } from 'rxjs';
import type { Engine } from '../engines/engine.js';
import { EtcdError } from '../core/errors.js';
import { LOG_END, LOG_PREFIX, logIndexOf, logKey } from '../store/storage-keys.js';
import { decodeEntry, encodeEntry, type Command, type LogEntry } from './command.js';
import type { RevisionLog } from './revision-log.js';

interface Pending {
  readonly requestId: number;
  readonly command: Command;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export interface LocalLogOptions {
  readonly fsync: boolean;
  /** Entries per disk write; more wait for the next one. */
  readonly maxBatchEntries: number;
  /** Proposals waiting for disk before new ones are refused (etcd: too many requests). */
  readonly maxPendingProposals: number;
  /** Entries kept behind the persisted applied index before the log is trimmed. */
  readonly retainEntries: number;
}

export const defaultLocalLogOptions: LocalLogOptions = {
  fsync: true,
  maxBatchEntries: 4096,
  maxPendingProposals: 100_000,
  retainEntries: 5_000,
};

export class LocalLog implements RevisionLog {
  readonly term = 1;
  private readonly subject = new Subject<readonly LogEntry[]>();
  readonly committed$ = this.subject.asObservable();
  private pending: Pending[] = [];
  private writing = false;
  private closed = false;
  private trimmedBelow = 0;
  private drained: (() => void) | null = null;

  private constructor(
    private readonly engine: Engine,
    private readonly options: LocalLogOptions,
    private last: number,
    private readonly first: number,
  ) {
    this.trimmedBelow = first;
  }

  static async open(engine: Engine, options: LocalLogOptions = defaultLocalLogOptions): Promise<LocalLog> {
    let last = 0;
    for await (const [key] of engine.iterate({ gte: LOG_PREFIX, lt: LOG_END, reverse: true, limit: 1 })) last = logIndexOf(key);
    let first = last + 1;
    for await (const [key] of engine.iterate({ gte: LOG_PREFIX, lt: LOG_END, limit: 1 })) first = logIndexOf(key);
    return new LocalLog(engine, options, last, first);
  }

  get lastIndex(): number {
    return this.last;
  }

  propose(requestId: number, command: Command): Promise<void> {
    if (this.closed) return Promise.reject(new EtcdError('stopped'));
    if (this.pending.length >= this.options.maxPendingProposals) return Promise.reject(new EtcdError('timeout'));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ requestId, command, resolve, reject });
      if (!this.writing) {
        this.writing = true;
        setImmediate(() => void this.writeBatches());
      }
    });
  }

  async *committedAfter(index: number): AsyncIterable<LogEntry> {
    for await (const [key, value] of this.engine.iterate({ gte: logKey(index + 1), lt: LOG_END })) {
      yield decodeEntry(logIndexOf(key), value);
    }
  }

  persistedUpTo(index: number): void {
    const below = index - this.options.retainEntries;
    // Trim in large steps: a range delete per write would cost more than it frees.
    if (below - this.trimmedBelow < this.options.retainEntries) return;
    const from = this.trimmedBelow;
    this.trimmedBelow = below;
    void this.engine.write([{ type: 'delRange', gte: logKey(from), lt: logKey(below) }], { sync: false }).catch(() => {
      this.trimmedBelow = from;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.writing) await new Promise<void>((resolve) => (this.drained = resolve));
    this.subject.complete();
  }

  private async writeBatches(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.options.maxBatchEntries);
      const entries: LogEntry[] = batch.map((p, i) => ({
        index: this.last + 1 + i,
        term: this.term,
        requestId: p.requestId,
        command: p.command,
      }));
      try {
        await this.engine.write(
          entries.map((e) => ({ type: 'put', key: logKey(e.index), value: encodeEntry(e) })),
          { sync: this.options.fsync },
        );
      } catch (e) {
        for (const p of batch) p.reject(e);
        continue;
      }
      this.last += entries.length;
      for (const p of batch) p.resolve();
      this.subject.next(entries);
    }
    this.writing = false;
    this.drained?.();
  }
}
