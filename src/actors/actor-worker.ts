// Entry point of a worker thread hosting one actor.
import { parentPort, workerData } from 'node:worker_threads';
import { isEtcdError } from '../core/errors.js';
import { createActor, type ActorKind } from './actor-kinds.js';
import { packMessage, unpackMessage, type WireReply, type WireRequest } from './wire.js';

const { kind, init } = workerData as { kind: ActorKind; init: unknown };
const actor = createActor(kind, init);
const port = parentPort;
if (port === null) throw new Error('actor-worker must run in a worker thread');

// Handled strictly in arrival order, one at a time, like the main-thread mailbox.
let chain: Promise<void> = Promise.resolve();
port.on('message', (request: WireRequest) => {
  chain = chain.then(async () => {
    let reply: WireReply;
    try {
      const body = packMessage(await actor.receive(unpackMessage(request.body)));
      reply = { id: request.id, ok: true, body };
      port.postMessage(reply, [body.buffer as ArrayBuffer]);
    } catch (e) {
      reply = { id: request.id, ok: false, message: e instanceof Error ? e.message : String(e), ...(isEtcdError(e) ? { kind: e.kind } : {}) };
      port.postMessage(reply);
    }
  });
});
