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
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class ReadBarrier {
  /** The round whose read index is being fetched or waited for. */
  private current: Round | undefined;
  /** Reads that arrived since `current` started; they form the next round. */
  private gathering: Round | undefined;
  /** A round is running or about to start. */
  private running = false;
  private waitingReads = 0;
  /**
   * One timer for every round's deadline, armed for the oldest and never cancelled by a round ending
   * early (the common case): it fires at most once per timeout while reads keep coming.
   */
  private cancelTimer: (() => void) | undefined;
  private readonly start = (): void => this.runNext();

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
      queueMicrotask(this.start);
    }
    return round.cleared;
  }

  /** Stops the deadline timer; reads still waiting are left to the store's shutdown. */
  close(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private newRound(): Round {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const cleared = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const round: Round = { readers: 0, done: false, deadlineMs: this.options.timers.now() + this.options.timeoutMs, cleared, resolve, reject };
    this.arm(this.options.timeoutMs);
    return round;
  }

  private runNext(): void {
    const round = this.gathering;
    this.gathering = undefined;
    this.current = round;
    if (round === undefined) {
      this.running = false;
      return;
    }
    if (round.done) return this.runNext();
    this.options.readIndex().then(
      (index) => this.indexKnown(round, index),
      (e: unknown) => this.ended(round, e),
    );
  }

  private indexKnown(round: Round, index: number): void {
    if (round !== this.current) return; // given up at its deadline
    if (index <= this.options.applied.current) return this.ended(round);
    const leftMs = round.deadlineMs - this.options.timers.now();
    this.options.applied.reached(index, leftMs).then(
      () => this.ended(round),
      (e: unknown) => this.ended(round, e),
    );
  }

  private ended(round: Round, error?: unknown): void {
    if (round !== this.current) return;
    this.current = undefined;
    this.finish(round, error);
    this.runNext();
  }

  private finish(round: Round, error?: unknown): void {
    if (round.done) return;
    round.done = true;
    this.waitingReads -= round.readers;
    if (error === undefined) round.resolve();
    else round.reject(error);
  }

  private arm(delayMs: number): void {
    if (this.cancelTimer !== undefined) return;
    this.cancelTimer = this.options.timers.after(Math.max(0, delayMs), () => {
      this.cancelTimer = undefined;
      this.expire();
    });
  }

  /** Fails the rounds past their deadline; a running one is given up, so the next can start. */
  private expire(): void {
    const now = this.options.timers.now();
    const gathering = this.gathering;
    if (gathering !== undefined && gathering.deadlineMs <= now) {
      this.finish(gathering, new EtcdError('timeout'));
      this.gathering = undefined; // later reads start a round of their own
    }
    const current = this.current;
    if (current !== undefined && current.deadlineMs <= now) this.ended(current, new EtcdError('timeout'));
    const next = [this.current, this.gathering].filter((r): r is Round => r !== undefined && !r.done);
    if (next.length > 0) this.arm(Math.min(...next.map((r) => r.deadlineMs)) - now);
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
