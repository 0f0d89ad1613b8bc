// A piscina pool started at its first job (a server that never needs it starts no threads) and
// bounded: past maxPending jobs in flight, callers get etcd's "too many requests" rather than a queue
// that grows with every client. The job pool and the bcrypt pool are each one of these.
import { Piscina } from 'piscina';
import { EtcdError } from '../core/errors.js';

export interface BoundedWorkerPoolOptions {
  /** The task module's URL. */
  readonly filename: string;
  readonly maxThreads: number;
  /** Jobs submitted and not yet finished before new ones are refused. */
  readonly maxPending: number;
  /** A thread idle this long is ended (piscina's idleTimeout). */
  readonly idleTimeoutMs: number;
}

export class BoundedWorkerPool {
  private pool: Piscina | null = null;
  private pending = 0;
  private closed = false;

  constructor(private readonly options: BoundedWorkerPoolOptions) {}

  /** Runs `task` on a pool thread; `transferList` moves buffers instead of copying them. */
  async run(task: unknown, transferList?: ArrayBuffer[]): Promise<unknown> {
    if (this.closed) throw new EtcdError('stopped');
    if (this.pending >= this.options.maxPending) throw new EtcdError('tooManyRequests');
    this.pending++;
    try {
      const { filename, maxThreads, idleTimeoutMs } = this.options;
      this.pool ??= new Piscina({ filename, minThreads: 0, maxThreads, idleTimeout: idleTimeoutMs });
      return await this.pool.run(task, transferList === undefined ? {} : { transferList });
    } finally {
      this.pending--;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = null;
    if (pool !== null) await pool.destroy();
  }
}
