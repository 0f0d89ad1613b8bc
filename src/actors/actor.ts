// The actor runtime's contract: an actor owns its state and handles one message at a time; callers
// only hold a reference and ask. Where the actor runs (this thread or a worker) is configuration.

export type Placement = 'main' | 'worker';

export interface Actor<Req, Res> {
  receive(msg: Req): Promise<Res> | Res;
}

export interface ActorRef<Req, Res> {
  /** Sends a message and resolves with the reply. Waits while the mailbox is full. */
  ask(msg: Req): Promise<Res>;
  stop(): Promise<void>;
}

/** Messages queued per actor before askers wait (backpressure, never unbounded memory). */
export const maxMailboxMessages = 4096;
