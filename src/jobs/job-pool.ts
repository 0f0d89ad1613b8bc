// CPU-bound jobs that are not actors run on one piscina pool: stateless work with no affinity to a
// thread (see docs/design.md). The pool is created at the first job, so a server that never hashes
// starts no threads, and closed with the server.
import { BoundedWorkerPool } from './bounded-worker-pool.js';
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
  private readonly pool = new BoundedWorkerPool({ filename: hashKvTaskFile, maxThreads: maxJobThreads, maxPending: maxPendingJobs, idleTimeoutMs: jobThreadIdleMs });

  async crc32c(bytes: ArrayBuffer): Promise<number> {
    const task: HashKvTask = { bytes };
    // Transferred, not copied: the buffer is allocated at its exact size for this job.
    const result = await this.pool.run(task, [bytes]);
    if (typeof result !== 'number') throw new Error('hash-kv task returned no number');
    return result;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
