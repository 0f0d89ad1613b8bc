// Waiting for a response stream's backlog to drain, for core loops that pause on a slow reader
// (lease keepalive, election observe). It also ends when the call does, so no loop waits forever on
// a client that went away.
import type { ResponseStream } from './service-module.js';

export function drained(out: ResponseStream<unknown>, signal: AbortSignal): Promise<void> {
  if (out.backlogBytes === 0 || signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      unsubscribe();
      resolve();
    };
    // its own listener, removed when done: a handler's onDrained stays as it was
    const unsubscribe = out.onDrained(done);
    signal.addEventListener('abort', done);
  });
}
