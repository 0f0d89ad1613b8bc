// etcd 3.4's auto-compaction (etcdserver/api/v3compactor). Periodic: every retention/10 (at most 6
// min) the current revision is sampled; once a retention (at most an hour between runs) has passed
// since the last success, it compacts at the oldest sample, the revision of one retention ago.
// Revision: every check interval (5 min in etcd) it compacts at current - retention. Only the
// leader compacts (etcd pauses the compactor on followers); the log carries it to the others.
import { isEtcdError } from '../core/errors.js';
import type { Timers } from '../core/timers.js';

export type AutoCompactionMode = 'periodic' | 'revision';

/** etcd's revision compactor checks this often. */
export const defaultRevisionCheckIntervalMs = 5 * 60 * 1000;
const hourMs = 60 * 60 * 1000;
const retryDivisor = 10;

export interface AutoCompactorOptions {
  readonly mode: AutoCompactionMode;
  /** Periodic: milliseconds; revision: a revision count. 0 disables. */
  readonly retention: number;
  readonly revisionCheckIntervalMs?: number;
  readonly timers: Timers;
  readonly currentRevision: () => number;
  readonly isLeader: () => boolean;
  /** Compacts through the log; a `compacted` rejection counts as done, as in etcd. */
  readonly compact: (revision: number) => Promise<unknown>;
  readonly log: (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void;
}

/** Go's time.Duration text for whole milliseconds (1h0m0s, 30m0s, 500ms), as etcd logs it. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / hourMs);
  const m = Math.floor((ms % hourMs) / 60000);
  const s = (ms % 60000) / 1000;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

export class AutoCompactor {
  private cancel: (() => void) | undefined;
  private stopped = false;
  /** Periodic: samples of the revision, [0] the one a retention ago. */
  private readonly revs: number[] = [];
  private lastSuccess: number;
  private baseInterval: number;
  private prevRevision = 0;

  constructor(private readonly o: AutoCompactorOptions) {
    this.lastSuccess = o.timers.now();
    this.baseInterval = o.retention;
  }

  start(): void {
    if (this.o.retention <= 0) return;
    if (this.o.mode === 'periodic') this.periodicStep();
    else this.revisionWait();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  private get periodicRetryMs(): number {
    return Math.min(this.o.retention, hourMs) / retryDivisor;
  }

  private periodicStep(): void {
    const retentions = Math.floor(this.o.retention / this.periodicRetryMs) + 1;
    this.revs.push(this.o.currentRevision());
    if (this.revs.length > retentions) this.revs.shift();
    this.cancel = this.o.timers.after(this.periodicRetryMs, () => void this.periodicTick());
  }

  private async periodicTick(): Promise<void> {
    if (this.stopped) return;
    if (this.o.isLeader() && this.o.timers.now() - this.lastSuccess >= this.baseInterval) {
      if (this.baseInterval === this.o.retention) this.baseInterval = Math.min(this.o.retention, hourMs);
      const rev = this.revs[0]!;
      const fields = { revision: rev, 'compact-period': goDuration(this.o.retention) };
      this.o.log('info', 'starting auto periodic compaction', fields);
      const started = this.o.timers.now();
      if (await this.tryCompact(rev, { ...fields, 'retry-interval': goDuration(this.periodicRetryMs) }, 'failed auto periodic compaction')) {
        this.o.log('info', 'completed auto periodic compaction', { ...fields, took: goDuration(Math.round(this.o.timers.now() - started)) });
        this.lastSuccess = this.o.timers.now();
      }
    }
    if (!this.stopped) this.periodicStep();
  }

  private revisionWait(): void {
    this.cancel = this.o.timers.after(this.o.revisionCheckIntervalMs ?? defaultRevisionCheckIntervalMs, () => void this.revisionTick());
  }

  private async revisionTick(): Promise<void> {
    if (this.stopped) return;
    const rev = this.o.currentRevision() - this.o.retention;
    if (this.o.isLeader() && rev > 0 && rev !== this.prevRevision) {
      const fields = { revision: rev, 'revision-compaction-retention': this.o.retention };
      this.o.log('info', 'starting auto revision compaction', fields);
      const started = this.o.timers.now();
      const interval = goDuration(this.o.revisionCheckIntervalMs ?? defaultRevisionCheckIntervalMs);
      if (await this.tryCompact(rev, { ...fields, 'retry-interval': interval }, 'failed auto revision compaction')) {
        this.prevRevision = rev;
        this.o.log('info', 'completed auto revision compaction', { ...fields, took: goDuration(Math.round(this.o.timers.now() - started)) });
      }
    }
    if (!this.stopped) this.revisionWait();
  }

  private async tryCompact(rev: number, failFields: Record<string, unknown>, failMessage: string): Promise<boolean> {
    try {
      await this.o.compact(rev);
      return true;
    } catch (e) {
      if (isEtcdError(e) && e.kind === 'compacted') return true;
      this.o.log('warn', failMessage, { ...failFields, error: e instanceof Error ? e.message : String(e) });
      return false;
    }
  }
}
