// Over-rate refusals answered after a delay. A client in a closed loop (the usual way to hammer) sends
// its next call as soon as the refusal comes back, so an immediate refusal invites the next one: at
// 200 loops that was about 5,000 refused calls a second, each an HTTP/2 stream and a status the
// server's event loop writes while its neighbours wait. Held for `delayMs`, the same loops send a
// fraction of that. A client that does not wait for answers fills the bound (`maxHeld`), past which
// refusals go at once, as before. The answer is the same refusal; a call whose deadline falls inside
// the delay is answered at once, so no caller sees a deadline where it would have seen the refusal.

/** The part of a call a held refusal needs. */
export interface RefusableCall {
  /** The call's deadline (epoch ms), if it has one. */
  readonly deadline: number | undefined;
}

export interface RefusalScheduler {
  /** A monotonic clock (ms): a step of the wall clock must not hold refusals longer. */
  now(): number;
  /** The wall clock (ms since the epoch), which calls' deadlines are given in. */
  wallNow(): number;
  /** One timer at a time; it must not keep the process alive. */
  setTimer(run: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}

export const unrefTimers: RefusalScheduler = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer: (run, ms) => setTimeout(run, ms).unref(),
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** How long an over-rate refusal is held. Well below clientv3's request timeouts. */
export const refusalDelayMs = 500;
/**
 * Refusals held at once, server-wide; past it they are answered at once (as before the delay). Each
 * holds its call's stream (its request drained, not buffered): a few KiB apiece.
 */
export const maxHeldRefusals = 5_000;
/** A call whose deadline falls within this of the answer is answered at once: the client's own deadline fires earlier by the network's latency and timer lag. */
export const deadlineMarginMs = 100;

export class DelayedRefusals<C extends RefusableCall> {
  /** Held calls in the order they are due (every one waits the same delay). */
  private held: { call: C; dueMs: number }[] = [];
  private head = 0;
  private timer: unknown;

  constructor(
    private readonly answer: (call: C) => void,
    private readonly delayMs = refusalDelayMs,
    private readonly maxHeld = maxHeldRefusals,
    private readonly scheduler: RefusalScheduler = unrefTimers,
  ) {}

  get size(): number {
    return this.held.length - this.head;
  }

  refuse(call: C): void {
    const dueMs = this.scheduler.now() + this.delayMs;
    const tooSoon = call.deadline !== undefined && call.deadline - this.scheduler.wallNow() <= this.delayMs + deadlineMarginMs;
    if (this.delayMs <= 0 || this.size >= this.maxHeld || tooSoon) return this.answer(call);
    this.held.push({ call, dueMs });
    if (this.timer === undefined) this.timer = this.scheduler.setTimer(() => this.answerDue(), this.delayMs);
  }

  /** Answers every held refusal now (the server is stopping). */
  flush(): void {
    if (this.timer !== undefined) this.scheduler.clearTimer(this.timer);
    this.timer = undefined;
    const held = this.held.slice(this.head);
    this.held = [];
    this.head = 0;
    for (const { call } of held) this.answer(call);
  }

  private answerDue(): void {
    this.timer = undefined;
    const now = this.scheduler.now();
    while (this.head < this.held.length && this.held[this.head]!.dueMs <= now) this.answer(this.held[this.head++]!.call);
    // drop the answered prefix once it outweighs what is left
    if (this.head > 1024 && this.head * 2 > this.held.length) {
      this.held = this.held.slice(this.head);
      this.head = 0;
    }
    const next = this.held[this.head];
    if (next === undefined) {
      this.held = [];
      this.head = 0;
      return;
    }
    this.timer = this.scheduler.setTimer(() => this.answerDue(), Math.max(1, next.dueMs - now));
  }
}
