// CPU-bound jobs that are not actors run on one piscina pool: stateless work with no affinity to a
// thread (see docs/design.md). The pool is created at the first job, so a server that never hashes
// starts no threads, and closed with the server.
import { Piscina } from 'piscina';
import { EtcdError } from '../core/errors.js';
import type { HashKvTask } from './hash-kv-task.js';

/** Threads the pool may start: jobs are rare, and the main thread and gRPC need the other cores. */
export const maxJobThreads = 2;
/** Jobs submitted and not yet finished before new ones get etcd's "too many requests". */
export const maxPendingJobs = 16;
/** A job thread idle this long is ended (piscina's idleTimeout). */
const jobThreadIdleMs = 30_000;

const hashKvTaskFile = new URL('./hash-kv-task.js', import.meta.url).href;

export interface HashJobs {
  /** CRC-32C of the bytes, computed off the main thread. `bytes` is transferred: the caller loses it. */
  crc32c(bytes: ArrayBuffer): Promise<number>;
}

export class JobPool implements HashJobs {
  private pool: Piscina | null = null;
  private pending = 0;
  private closed = false;

  async crc32c(bytes: ArrayBuffer): Promise<number> {
    if (this.closed) throw new EtcdError('stopped');
    if (this.pending >= maxPendingJobs) throw new EtcdError('tooManyRequests');
    this.pending++;
    try {
      const task: HashKvTask = { bytes };
      // Transferred, not copied: the buffer is allocated at its exact size for this job.
      const result: unknown = await this.piscina().run(task, { transferList: [bytes] });
      if (typeof result !== 'number') throw new Error('hash-kv task returned no number');
      return result;
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

  private piscina(): Piscina {
    this.pool ??= new Piscina({ filename: hashKvTaskFile, minThreads: 0, maxThreads: maxJobThreads, idleTimeout: jobThreadIdleMs });
    return this.pool;
  }
}
