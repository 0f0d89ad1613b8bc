// A token bucket on an injected clock: `ratePerSecond` tokens a second, at most one second's worth
// banked (the burst). Used for a tenant's requests/s and bytes/s on one member.

export type Clock = () => number;

export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly now: Clock,
  ) {
    this.tokens = ratePerSecond;
    this.lastMs = now();
  }

  /**
   * Takes `cost` tokens when the bucket holds them all. A cost above the burst is allowed once the
   * bucket is full (it then runs into debt), so one large request is slowed, never refused forever.
   */
  take(cost: number): boolean {
    // a rate of 0 admits nothing (a tenant switched off)
    if (this.ratePerSecond <= 0) return false;
    this.refill();
    const needed = Math.min(cost, this.ratePerSecond);
    if (this.tokens < needed) return false;
    this.tokens -= cost;
    return true;
  }

  /** True when `take(cost)` would refuse now; takes nothing. */
  wouldRefuse(cost: number): boolean {
    if (this.ratePerSecond <= 0) return true;
    this.refill();
    return this.tokens < Math.min(cost, this.ratePerSecond);
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((now - this.lastMs) / 1000) * this.ratePerSecond);
    this.lastMs = now;
  }
}
