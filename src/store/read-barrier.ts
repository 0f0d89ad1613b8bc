// Linearizable reads wait here until the store has applied every write acknowledged before they
// arrived. Reads are batched, as etcd's linearizableReadLoop batches them: one RevisionLog.readIndex()
// call at a time serves every read that arrived before it started; reads arriving while it runs
// gather for the next call (the running one may have been answered before their writes were
// acknowledged). A read load thus costs one read index per round, not one per read.
import { EtcdError } from '../core/errors.js';
import type { Timers } from '../core/timers.js';
import type { ReadRequest } from '../mvcc/apply-command.js';
import type { TxnRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { AppliedIndex } from './applied-index.js';

export interface ReadBarrierOptions {
  readonly readIndex: () => Promise<number>;
  readonly applied: AppliedIndex;
  /** A read not cleared within this gets `etcdserver: request timed out`. */
  readonly timeoutMs: number;
  /** Reads waiting at once before new ones get `etcdserver: too many requests`. */
  readonly maxWaitingReads: number;
  readonly timers: Timers;
}

interface Round {
  readers: number;
  done: boolean;
  readonly deadlineMs: number;
  readonly cleared: Promise<void>;
  /** Rejects at the deadline, so that a round never waits longer than its readers do. */
  readonly expired: Promise<never>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly cancelTimer: () => void;
}

export class ReadBarrier {
  /** A round is running: new reads gather in `gathering` until it ends. */
  private running = false;
  private gathering: Round | undefined;
  private waitingReads = 0;

  constructor(private readonly options: ReadBarrierOptions) {}

  /** Resolves once a read of the applied state reflects every write acknowledged before this call. */
  wait(): Promise<void> {
    if (this.waitingReads >= this.options.maxWaitingReads) return Promise.reject(new EtcdError('tooManyRequests'));
    const round = (this.gathering ??= this.newRound());
    round.readers++;
    this.waitingReads++;
    if (!this.running) {
      this.running = true;
      // Reads that arrive in the same turn of the event loop share the round.
      queueMicrotask(() => this.runNext());
    }
    return round.cleared;
  }

  private newRound(): Round {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    let expire!: (error: unknown) => void;
    const cleared = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const expired = new Promise<never>((_, rej) => (expire = rej));
    expired.catch(() => undefined);
    const deadlineMs = this.options.timers.now() + this.options.timeoutMs;
    const round: Round = {
      readers: 0,
      done: false,
      deadlineMs,
      cleared,
      expired,
      resolve,
      reject,
      cancelTimer: this.options.timers.after(this.options.timeoutMs, () => {
        const timeout = new EtcdError('timeout');
        expire(timeout);
        this.finish(round, timeout);
      }),
    };
    return round;
  }

  private runNext(): void {
    const round = this.gathering;
    this.gathering = undefined;
    if (round === undefined) {
      this.running = false;
      return;
    }
    if (round.done) return this.runNext();
    void this.run(round).finally(() => this.runNext());
  }

  private async run(round: Round): Promise<void> {
    try {
      const index = await Promise.race([this.options.readIndex(), round.expired]);
      const leftMs = round.deadlineMs - this.options.timers.now();
      await Promise.race([this.options.applied.reached(index, leftMs), round.expired]);
      this.finish(round);
    } catch (e) {
      this.finish(round, e);
    }
  }

  private finish(round: Round, error?: unknown): void {
    if (round.done) return;
    round.done = true;
    round.cancelTimer();
    this.waitingReads -= round.readers;
    if (error === undefined) round.resolve();
    else round.reject(error);
  }
}

/**
 * etcd serves these at once from the local state (Range with serializable; a read-only Txn whose every
 * Range is serializable); every other read passes the barrier first.
 */
export function isSerializableRead(read: ReadRequest): boolean {
  return read.type === 'range' ? read.req.serializable : isTxnSerializable(read.req);
}

/** etcd's isTxnSerializable: every op of both branches is a serializable Range. */
function isTxnSerializable(req: TxnRequest): boolean {
  return [...req.success, ...req.failure].every((op) => op.requestRange?.serializable === true);
}
