// bcrypt off the event loop, on a small piscina pool of its own (created at the first use: a server
// without auth starts no threads). Bounded like the job pool: past maxPendingBcryptJobs callers get
// etcd's "too many requests" rather than a queue that grows with every client that logs in.
import { BoundedWorkerPool } from './bounded-worker-pool.js';
import type { BcryptTask } from './bcrypt-task.js';

export const maxBcryptThreads = 2;
export const maxPendingBcryptJobs = 256;
const bcryptThreadIdleMs = 30_000;
const taskFile = new URL('./bcrypt-task.js', import.meta.url).href;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  matches(password: string, hash: string): Promise<boolean>;
}

export class BcryptJobs implements PasswordHasher {
  private readonly pool = new BoundedWorkerPool({ filename: taskFile, maxThreads: maxBcryptThreads, maxPending: maxPendingBcryptJobs, idleTimeoutMs: bcryptThreadIdleMs });

  constructor(private readonly cost: number) {}

  async hash(password: string): Promise<string> {
    const out = await this.run({ op: 'hash', password, cost: this.cost });
    if (typeof out !== 'string') throw new Error('bcrypt task returned no hash');
    return out;
  }

  async matches(password: string, hash: string): Promise<boolean> {
    // An empty or foreign hash (a no-password user) never matches; bcryptjs would throw on it.
    if (!hash.startsWith('$2')) return false;
    const out = await this.run({ op: 'compare', password, hash });
    return out === true;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private run(task: BcryptTask): Promise<unknown> {
    return this.pool.run(task);
  }
}
