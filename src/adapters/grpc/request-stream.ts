// A streaming call's requests as an async iterable, for core loops written as `for await` (the lease
// keepalive loop). It ends when the client half-closes (queued requests are still served) or when the
// call ends (they are not). At most maxQueuedRequests wait here; past that the call stops reading
// (after the message that filled the queue, server-call.ts), so a fast client is held back by HTTP/2
// flow control instead of by memory.
import type { CallContext } from './server-call.js';
import type { RequestListener } from './service-module.js';

/** Requests read ahead of the handler before the call stops reading. */
export const maxQueuedRequests = 64;

let peakQueuedRequests = 0;
/** The most requests any queue of this process has held at once (for tests of the bound). */
export function queuedRequestsPeak(): number {
  return peakQueuedRequests;
}

export interface RequestQueue<T> extends RequestListener<T> {
  readonly requests: AsyncIterable<T>;
}

export function requestQueue<T>(call: CallContext): RequestQueue<T> {
  const queue: T[] = [];
  let ended = false;
  let paused = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  call.signal.addEventListener('abort', () => {
    queue.length = 0;
    ended = true;
    notify();
  });
  return {
    message(req) {
      if (ended) return;
      queue.push(req);
      if (queue.length > peakQueuedRequests) peakQueuedRequests = queue.length;
      if (queue.length >= maxQueuedRequests && !paused) {
        paused = true;
        call.pauseReading();
      }
      notify();
    },
    end() {
      ended = true;
      notify();
    },
    requests: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const req = queue.shift();
          if (req !== undefined) {
            if (paused && queue.length < maxQueuedRequests / 2) {
              paused = false;
              call.resumeReading();
            }
            yield req;
            continue;
          }
          if (ended) return;
          await new Promise<void>((resolve) => (wake = resolve));
        }
      },
    },
  };
}
