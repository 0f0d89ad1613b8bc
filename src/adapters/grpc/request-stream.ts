// A client stream's requests as an async iterable that also ends when the call is cancelled or
// closed (a plain `for await` over a grpc-js call can wait forever on a client that went away). At
// most maxQueuedRequests wait here; past that the call is paused, so a fast client is held back by
// HTTP/2 flow control instead of by memory.
import type { Readable } from 'node:stream';
import { OversizeRequest } from './request-size-limit.js';

/** Requests read ahead of the handler before the call is paused. */
export const maxQueuedRequests = 64;

export function requestStream<T>(call: Readable): AsyncIterable<T> {
  const queue: T[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const end = (): void => {
    ended = true;
    notify();
  };
  call.on('data', (req: T | OversizeRequest) => {
    if (ended) return;
    if (req instanceof OversizeRequest) {
      // grpc-go fails Recv with this status, which ends the handler with it.
      failure = req.toError();
      end();
      return;
    }
    queue.push(req);
    if (queue.length >= maxQueuedRequests) call.pause();
    notify();
  });
  // A half-close still gets its queued requests answered; a call that went away does not.
  const abort = (): void => {
    queue.length = 0;
    end();
  };
  call.on('end', end);
  call.on('error', abort);
  call.on('close', abort);
  call.on('cancelled', abort);
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const req = queue.shift();
        if (req !== undefined) {
          if (queue.length < maxQueuedRequests / 2 && call.isPaused()) call.resume();
          yield req;
          continue;
        }
        if (failure !== undefined) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}
