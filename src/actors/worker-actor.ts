// An actor on its own worker thread (plain worker_threads, not a pool: an actor is long-lived and
// keeps its state between messages). Messages are packed, transferred and handled in order.
import { Worker } from 'node:worker_threads';
import { EtcdError } from '../core/errors.js';
import { maxMailboxMessages, type ActorRef } from './actor.js';
import { FifoSlots } from './fifo-slots.js';
import type { ActorKind } from './actor-kinds.js';
import { packMessage, unpackMessage, type WireReply, type WireRequest } from './wire.js';

interface InFlight<Res> {
  readonly resolve: (r: Res) => void;
  readonly reject: (e: unknown) => void;
}

export class WorkerActor<Req, Res> implements ActorRef<Req, Res> {
  private readonly worker: Worker;
  private readonly inFlight = new Map<number, InFlight<Res>>();
  private readonly slots = new FifoSlots(maxMailboxMessages);
  private nextId = 1;
  private failure: Error | null = null;

  constructor(kind: ActorKind, init: unknown) {
    this.worker = new Worker(new URL('./actor-worker.js', import.meta.url), { workerData: { kind, init } });
    this.worker.on('message', (reply: WireReply) => this.onReply(reply));
    const fail = (e: Error): void => {
      this.failure = e;
      for (const f of this.inFlight.values()) f.reject(e);
      this.inFlight.clear();
      this.slots.wakeAll();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new EtcdError('stopped', `actor worker exited with code ${code}`)));
  }

  async ask(msg: Req): Promise<Res> {
    if (this.failure === null) await this.slots.acquire();
    if (this.failure !== null) throw this.failure;
    const id = this.nextId++;
    const body = packMessage(msg);
    return new Promise<Res>((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject });
      const request: WireRequest = { id, body };
      this.worker.postMessage(request, [body.buffer as ArrayBuffer]);
    });
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }

  private onReply(reply: WireReply): void {
    const pending = this.inFlight.get(reply.id);
    if (pending === undefined) return;
    this.inFlight.delete(reply.id);
    this.slots.release();
    if (reply.ok) pending.resolve(unpackMessage(reply.body) as Res);
    else pending.reject(reply.kind === undefined ? new Error(reply.message) : new EtcdError(reply.kind, reply.message));
  }
}
