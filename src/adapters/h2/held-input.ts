// Request input that arrives while its reader is paused: body chunks in order and the end behind
// them, handed on when the reader resumes. Shared by a stream on our own HTTP/2 (h2-stream.ts) and a
// call relayed from a transport worker (transport-workers/relay-call-stream.ts).

export class HeldInput {
  /** Chunks held, handed on from `next`. */
  private chunks: Buffer[] | undefined;
  private next = 0;
  private ended = false;

  /** A copy: the chunk is a view of a larger buffer (a socket read, an IPC batch) it would keep alive. */
  hold(chunk: Buffer): void {
    (this.chunks ??= []).push(Buffer.from(chunk));
  }

  holdEnd(): void {
    this.ended = true;
  }

  /**
   * Hands on what is held while `canTake()`: from the list itself, one chunk at a time, so that a
   * reader that pauses inside `data` keeps the rest in order, and one that pauses and resumes there
   * (a nested release) carries on from the same place rather than taking the end before the rest.
   */
  release(canTake: () => boolean, data: (chunk: Buffer) => void, end: () => void): void {
    const chunks = this.chunks;
    if (chunks !== undefined) {
      while (this.chunks === chunks && this.next < chunks.length && canTake()) data(chunks[this.next++]!);
      if (this.chunks === chunks && this.next === chunks.length) {
        this.chunks = undefined;
        this.next = 0;
      }
    }
    if (this.ended && this.chunks === undefined && canTake()) {
      this.ended = false;
      end();
    }
  }

  /** Drops what is held; returns the bytes of the chunks dropped. */
  clear(): number {
    let bytes = 0;
    if (this.chunks !== undefined) for (let i = this.next; i < this.chunks.length; i++) bytes += this.chunks[i]!.length;
    this.chunks = undefined;
    this.next = 0;
    this.ended = false;
    return bytes;
  }
}
