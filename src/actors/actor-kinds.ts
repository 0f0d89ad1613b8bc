// The actor kinds a worker thread can host, by name (a worker receives its kind as data).
import type { Actor } from './actor.js';
import { ShardActor } from './shard-actor.js';

export type ActorKind = 'shard';

export function createActor(kind: ActorKind, _init: unknown): Actor<unknown, unknown> {
  switch (kind) {
    case 'shard':
      return new ShardActor() as Actor<unknown, unknown>;
  }
}
