// Group commit with fail-stop, the one queue every durable writer uses (the log WAL, the revision
// log, both engines). Writers submitted while a flush runs gather into the next group; a group is
// written with one sync; every waiter is told the outcome. The first failed flush stops the
// committer for good: after a failed write or fsync the page cache can no longer be trusted (a
// retried fsync may "succeed" with the data gone), so every later submit rejects with that failure
// and recovery is a restart that re-reads the disk.

/**
 * When the first flush of a burst starts: after the current microtasks (writes issued in the same
 * tick share it) or after the current turn of the event loop (also writes issued by I/O callbacks).
 */
export type FlushStart = 'microtask' | 'immediate';

export interface GroupCommitOptions<T> {
  /** Writes a group durably, in submit order. Throwing fails the group and stops the committer. */
  readonly flush: (group: readonly T[]) => Promise<void>;
  /**
   * Runs after a group's waiters were resolved (say, a WAL rotation); throwing stops the committer.
   * Never runs once the committer was stopped, also not by a fail() made while the flush ran.
   */
  readonly afterFlush?: () => Promise<void>;
  /** Weight of one item (bytes, ops, entries) for the group bound. */
  readonly weight: (item: T) => number;
  /** Largest combined weight of a group; the first item always goes, however heavy. */
  readonly maxGroupWeight: number;
  /** Items queued (not yet in a flush) before submit refuses with `full`. */
  readonly maxQueuedItems?: number;
  readonly start?: FlushStart;
  /** Told once, on the failure that stopped the committer. */
  readonly onFailure?: (failure: Error) => void;
}

interface Waiting<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class GroupCommitFullError extends Error {
  constructor() {
    super('group commit queue is full');
    this.name = 'GroupCommitFullError';
  }
}

export class GroupCommit<T> {
  private readonly queue: Waiting<T>[] = [];
  private running: Promise<void> | undefined;
  private stopped: Error | undefined;
  private readonly stopListeners: Array<(failure: Error) => void> = [];

  constructor(private readonly options: GroupCommitOptions<T>) {}

  /** The failure that stopped the committer, if any. */
  get failure(): Error | undefined {
    return this.stopped;
  }

  /** Calls listener once when the committer stops (at once if it already has). */
  onStop(listener: (failure: Error) => void): void {
    if (this.stopped !== undefined) tell(listener, this.stopped);
    else this.stopListeners.push(listener);
  }

  /** Items waiting for a flush to start. */
  get queued(): number {
    return this.queue.length;
  }

  /** Resolves once the item's group is durable; rejects with the committer's failure otherwise. */
  submit(item: T): Promise<void> {
    if (this.stopped !== undefined) return Promise.reject(this.stopped);
    if (this.queue.length >= (this.options.maxQueuedItems ?? Number.POSITIVE_INFINITY)) return Promise.reject(new GroupCommitFullError());
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.running ??= this.run();
    });
  }

  /** Stops the committer from outside (a failure found elsewhere in the same files). */
  fail(err: unknown): Error {
    const failure = asError(err);
    if (this.stopped === undefined) {
      this.stopped = failure;
      const listeners = this.options.onFailure === undefined ? this.stopListeners.splice(0) : [this.options.onFailure, ...this.stopListeners.splice(0)];
      for (const listener of listeners) tell(listener, failure);
    }
    for (const w of this.queue.splice(0)) w.reject(this.stopped);
    return this.stopped;
  }

  /** Resolves when nothing is queued or being flushed (whatever the outcome). */
  async drain(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  private async run(): Promise<void> {
    try {
      await startDelay(this.options.start ?? 'microtask');
      while (this.queue.length > 0 && this.stopped === undefined) {
        const group = this.takeGroup();
        try {
          await this.options.flush(group.map((w) => w.item));
        } catch (err) {
          const failure = this.fail(err);
          for (const w of group) w.reject(failure);
          return;
        }
        for (const w of group) w.resolve();
        // Stopped from outside while the flush ran: the files may be in any state the failure left
        // (a half-made snapshot, say), so nothing more may act on them.
        if (this.stopped !== undefined) return;
        if (this.options.afterFlush !== undefined) {
          try {
            await this.options.afterFlush();
          } catch (err) {
            this.fail(err);
            return;
          }
        }
      }
    } finally {
      this.running = undefined;
    }
  }

  private takeGroup(): Waiting<T>[] {
    let total = 0;
    let count = 0;
    for (const w of this.queue) {
      const weight = this.options.weight(w.item);
      if (count > 0 && total + weight > this.options.maxGroupWeight) break;
      total += weight;
      count++;
    }
    return this.queue.splice(0, count);
  }
}

function startDelay(start: FlushStart): Promise<void> {
  switch (start) {
    case 'microtask':
      return Promise.resolve().then(() => undefined);
    case 'immediate':
      return new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Calls a failure listener; one that throws must not leave the committer half stopped (waiters
 * never answered), so its error is rethrown on its own, where it is not lost either.
 */
function tell(listener: (failure: Error) => void, failure: Error): void {
  try {
    listener(failure);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
