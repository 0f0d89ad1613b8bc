// An AbortSignal that fires when a grpc-js call is cancelled by its client (or its deadline passes),
// for core operations that wait: Lock, Campaign, Observe.
import type { EventEmitter } from 'node:events';

export function callSignal(call: EventEmitter): AbortSignal {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  call.once('cancelled', abort);
  call.once('close', abort);
  return controller.signal;
}
