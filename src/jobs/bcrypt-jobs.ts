// bcrypt off the event loop, on a small piscina pool of its own (created at the first use: a server
// without auth starts no threads). Bounded like the job pool: past maxPendingBcryptJobs callers get
// etcd's "too many requests" rather than a queue that grows with every client that logs in.
import { Piscina } from 'piscina';
import { EtcdError } from '../core/errors.js';
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
  private pool: Piscina | null = null;
  private pending = 0;
  private closed = false;

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

  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = null;
    if (pool !== null) await pool.destroy();
  }

  private async run(task: BcryptTask): Promise<unknown> {
    if (this.closed) throw new EtcdError('stopped');
    if (this.pending >= maxPendingBcryptJobs) throw new EtcdError('tooManyRequests');
    this.pending++;
    try {
      this.pool ??= new Piscina({ filename: taskFile, minThreads: 0, maxThreads: maxBcryptThreads, idleTimeout: bcryptThreadIdleMs });
      return await this.pool.run(task);
    } finally {
      this.pending--;
    }
  }
}
