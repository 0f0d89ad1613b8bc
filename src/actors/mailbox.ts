// A bounded FIFO of asks with their reply callbacks, shared by both placements.

export interface Letter<Req, Res> {
  readonly msg: Req;
  readonly resolve: (r: Res) => void;
  readonly reject: (e: unknown) => void;
}

export class Mailbox<Req, Res> {
  private letters: (Letter<Req, Res> | undefined)[] = [];
  private head = 0;
  private readonly waitingForSpace: (() => void)[] = [];

  constructor(private readonly capacity: number) {}

  get length(): number {
    return this.letters.length - this.head;
  }

  async put(letter: Letter<Req, Res>): Promise<void> {
    while (this.length >= this.capacity) await new Promise<void>((r) => this.waitingForSpace.push(r));
    this.letters.push(letter);
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
    this.waitingForSpace.shift()?.();
    return letter;
  }

  drain(reason: unknown): void {
    for (let l = this.take(); l !== undefined; l = this.take()) l.reject(reason);
  }
}
