// /readyz's question: has this member caught up since it started? Ready once it has applied up to
// the commit index its leader had when this member first asked (a ReadIndex at start-up returns
// exactly that), and while it has a leader. Asked again until a leader answers.

export interface ReadinessSources {
  /** The leader's commit index (Raft ReadIndex); rejects while there is no leader. */
  readonly leaderCommitIndex: () => Promise<number>;
  /** The Raft index this member's store has applied. */
  readonly appliedIndex: () => Promise<number>;
  readonly hasLeader: () => boolean;
}

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/** Pause between ReadIndex attempts while no leader answers. */
const retryMs = 200;

export class ReadinessCheck {
  private target: number | undefined;
  private caughtUp = false;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly sources: ReadinessSources) {}

  /** Starts asking for the leader's commit index (once it answers, the target is fixed). */
  start(): void {
    if (this.stopped || this.target !== undefined) return;
    this.sources.leaderCommitIndex().then(
      (index) => {
        this.target = index;
      },
      () => {
        if (this.stopped) return;
        this.retry = setTimeout(() => this.start(), retryMs);
        this.retry.unref();
      },
    );
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }

  async check(): Promise<Readiness> {
    if (!this.sources.hasLeader()) return { ready: false, reason: 'no leader' };
    if (this.caughtUp) return { ready: true };
    if (this.target === undefined) return { ready: false, reason: 'leader commit index not known yet' };
    const applied = await this.sources.appliedIndex();
    if (applied < this.target) return { ready: false, reason: `applied index ${applied} is behind the leader's commit index ${this.target} at start-up` };
    this.caughtUp = true;
    return { ready: true };
  }
}
