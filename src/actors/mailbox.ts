// A bounded FIFO of asks with their reply callbacks.
import { FifoSlots } from './fifo-slots.js';

export interface Letter<Req, Res> {
  readonly msg: Req;
  readonly resolve: (r: Res) => void;
  readonly reject: (e: unknown) => void;
}

export class Mailbox<Req, Res> {
  private letters: (Letter<Req, Res> | undefined)[] = [];
  private head = 0;
  private readonly slots: FifoSlots;
  /** Puts waiting for a slot, or given one and not yet queued: a tryPut must not overtake them. */
  private pendingPuts = 0;

  constructor(capacity: number) {
    this.slots = new FifoSlots(capacity);
  }

  /** Puts the letter now if a slot is free and no earlier put is still on its way; false: use put. */
  tryPut(letter: Letter<Req, Res>): boolean {
    if (this.pendingPuts > 0 || !this.slots.tryAcquire()) return false;
    this.letters.push(letter);
    return true;
  }

  async put(letter: Letter<Req, Res>): Promise<void> {
    this.pendingPuts++;
    try {
      await this.slots.acquire();
      this.letters.push(letter);
    } finally {
      this.pendingPuts--;
    }
  }

  take(): Letter<Req, Res> | undefined {
    if (this.head >= this.letters.length) return undefined;
    const letter = this.letters[this.head];
    // A handled letter must not stay reachable: it holds the whole message and its reply.
    this.letters[this.head++] = undefined;
    if (this.head === this.letters.length) {
      this.letters = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.letters.length) {
      this.letters = this.letters.slice(this.head);
      this.head = 0;
    }
    this.slots.release();
    return letter;
  }

  drain(reason: unknown): void {
    for (let l = this.take(); l !== undefined; l = this.take()) l.reject(reason);
  }
}
