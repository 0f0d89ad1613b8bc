// One peer's messages waiting to be written, bounded by count and by encoded bytes. Full means the
// new message is dropped (as etcd drops when a peer's stream buffer is full): Raft retries what
// matters, and an unbounded queue to a slow peer is how a leader runs out of memory.
import type { Message } from '../raft/types.js';

export interface OutboundQueueLimits {
  /** etcd's streamBufSize. */
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  /** A frame is cut once its messages reach this many bytes (a larger single message goes alone). */
  readonly maxBatchBytes: number;
}

interface Queued {
  readonly message: Message;
  readonly bytes: number;
}

export class OutboundQueue {
  private items: Queued[] = [];
  private head = 0;
  private queuedBytes = 0;

  constructor(private readonly limits: OutboundQueueLimits) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  /** False when the queue is full and the message was not taken. */
  push(message: Message, bytes: number): boolean {
    if (this.length >= this.limits.maxQueuedMessages || this.queuedBytes + bytes > this.limits.maxQueuedBytes) return false;
    this.items.push({ message, bytes });
    this.queuedBytes += bytes;
    return true;
  }

  /** Takes the next batch in order: at least one message, then more while under maxBatchBytes. */
  takeBatch(): { messages: Message[]; bytes: number } {
    const messages: Message[] = [];
    let bytes = 0;
    while (this.head < this.items.length) {
      const next = this.items[this.head] as Queued;
      if (messages.length > 0 && bytes + next.bytes > this.limits.maxBatchBytes) break;
      messages.push(next.message);
      bytes += next.bytes;
      this.head++;
    }
    this.queuedBytes -= bytes;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return { messages, bytes };
  }

  /** Empties the queue; returns how many messages were dropped. */
  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    this.queuedBytes = 0;
    return n;
  }
}
