// Linearizable reads by ReadIndex in etcd's safe mode: a read records the commit index when it
// arrives and is answered once a quorum acknowledged a heartbeat carrying its context, which proves
// the leader was still the leader at that moment (etcd's readOnly).
import type { NodeId } from './types.js';

export interface ReadRequest {
  /** Who asked: the leader itself, or the follower that forwarded it. */
  readonly from: NodeId;
  readonly ctx: Uint8Array;
}

export interface ReadIndexStatus {
  readonly request: ReadRequest;
  readonly index: number;
  readonly acks: Set<NodeId>;
}

/** A context as a map key; contexts are compared byte for byte. */
export function contextKey(ctx: Uint8Array): string {
  let key = '';
  for (const byte of ctx) key += String.fromCharCode(byte);
  return key;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  /** Keys in arrival order: acknowledging one read acknowledges every earlier one too. */
  private queue: string[] = [];

  addRequest(index: number, request: ReadRequest): void {
    const key = contextKey(request.ctx);
    if (this.pending.has(key)) return;
    this.pending.set(key, { request, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records that `from` acknowledged the heartbeat carrying ctx; the acks so far, if it is pending. */
  recvAck(from: NodeId, ctx: Uint8Array): ReadonlySet<NodeId> | undefined {
    const status = this.pending.get(contextKey(ctx));
    if (!status) return undefined;
    status.acks.add(from);
    return status.acks;
  }

  /** Takes the read with ctx and every read queued before it: all are confirmed. */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(ctx);
    const position = this.queue.indexOf(key);
    if (position < 0) return [];
    const done = this.queue.slice(0, position + 1);
    this.queue = this.queue.slice(position + 1);
    const statuses: ReadIndexStatus[] = [];
    for (const doneKey of done) {
      const status = this.pending.get(doneKey);
      if (!status) throw new Error('read index queue and pending map disagree');
      this.pending.delete(doneKey);
      statuses.push(status);
    }
    return statuses;
  }

  lastPendingRequestCtx(): Uint8Array | undefined {
    const key = this.queue.at(-1);
    return key === undefined ? undefined : this.pending.get(key)?.request.ctx;
  }

  pendingCount(): number {
    return this.queue.length;
  }
}
