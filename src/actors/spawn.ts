import type { ActorRef, Placement } from './actor.js';
import type { ActorKind } from './actor-kinds.js';
import { createActor } from './actor-kinds.js';
import { MainThreadActor } from './main-thread-actor.js';
import { WorkerActor } from './worker-actor.js';

export function spawnActor<Req, Res>(kind: ActorKind, placement: Placement, init: unknown = null): ActorRef<Req, Res> {
  if (placement === 'worker') return new WorkerActor<Req, Res>(kind, init);
  return new MainThreadActor<Req, Res>(createActor(kind, init) as never);
}
