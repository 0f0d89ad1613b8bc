// /readyz's question: is this member caught up with its leader? Ready while it has a leader and has
// applied up to the commit index the leader confirms for a read (Raft ReadIndex) — at start-up this
// is the leader's commit index then; later it also catches a member that fell behind after a
// partition or a slow apply (etcd 3.5's readyz does the same with its linearizable_read check).

export interface ReadinessSources {
  /** The leader's commit index (Raft ReadIndex); rejects while there is no leader. */
  readonly leaderCommitIndex: () => Promise<number>;
  /** The Raft index this member's store has applied (read often while a probe waits: keep it cheap). */
  readonly appliedIndex: () => number;
  readonly hasLeader: () => boolean;
  /** Why this member must not be ready whatever its log says (its configured tenants disagree with the cluster's); undefined: no such reason. */
  readonly notReadyBecause?: () => string | undefined;
}

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/** What one probe may take, as etcd's health checks allow (an orchestrator's probe times out soon after). */
export const readinessTimeoutMs = 1000;
/** How often a probe looks again whether the store has applied up to the read index. */
const appliedPollMs = 10;

export class ReadinessCheck {
  /** Concurrent probes share one answer. */
  private running: Promise<Readiness> | undefined;

  constructor(
    private readonly sources: ReadinessSources,
    private readonly timeoutMs = readinessTimeoutMs,
  ) {}

  check(): Promise<Readiness> {
    this.running ??= this.probe().finally(() => (this.running = undefined));
    return this.running;
  }

  private async probe(): Promise<Readiness> {
    const refused = this.sources.notReadyBecause?.();
    if (refused !== undefined) return { ready: false, reason: refused };
    if (!this.sources.hasLeader()) return { ready: false, reason: 'no leader' };
    const deadline = Date.now() + this.timeoutMs;
    const target = await this.beforeDeadline(this.sources.leaderCommitIndex(), deadline);
    if (target === undefined) return { ready: false, reason: `the leader did not confirm its commit index within ${this.timeoutMs} ms` };
    for (;;) {
      const applied = this.sources.appliedIndex();
      if (applied >= target) return this.sources.hasLeader() ? { ready: true } : { ready: false, reason: 'no leader' };
      if (Date.now() >= deadline) return { ready: false, reason: `applied index ${applied} is behind the leader's commit index ${target}` };
      await new Promise((r) => setTimeout(r, appliedPollMs));
    }
  }

  /** The promise's value, or undefined if it rejects or has not settled by the deadline. */
  private async beforeDeadline<T>(p: Promise<T>, deadline: number): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()))));
    try {
      return await Promise.race([p.catch(() => undefined), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
