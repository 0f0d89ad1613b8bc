// A counting semaphore that serves waiters strictly in arrival order: a freed slot goes to the oldest
// waiter, never to a newcomer, so no asker can starve under sustained load.
export class FifoSlots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly capacity: number) {}

  /** Takes a slot now if one is free and nobody waits; false otherwise (nothing taken). */
  tryAcquire(): boolean {
    if (this.used < this.capacity && this.waiting.length === 0) {
      this.used++;
      return true;
    }
    return false;
  }

  async acquire(): Promise<void> {
    if (this.tryAcquire()) return;
    // The releaser hands its slot over: `used` stays as it is.
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.used--;
  }

  /** Wakes every waiter (the owner failed; they re-check its state and give up). */
  wakeAll(): void {
    for (const w of this.waiting.splice(0)) w();
  }
}
