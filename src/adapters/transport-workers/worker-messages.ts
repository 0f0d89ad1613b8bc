// The control messages between the server and its transport workers (the data goes as relay batches).
import type { H2ServingLimits } from '../grpc/h2-serving.js';

export interface WorkerLimits extends H2ServingLimits {
  /** A connection that has not shown its protocol by then is dropped. */
  readonly sniffTimeoutMs: number;
}

/** Server → worker. A `socket` message carries the connection's handle. */
export type ServerMessage =
  | { readonly type: 'init'; readonly limits: WorkerLimits }
  | { readonly type: 'socket'; readonly id: number }
  | { readonly type: 'drain' }
  | { readonly type: 'destroy' };

/** Worker → server. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'log'; readonly message: string; readonly error?: string }
  /** The worker has connection `id`: the next one may be handed over. */
  | { readonly type: 'taken'; readonly id: number };
