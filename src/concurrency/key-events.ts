// One watcher on the watch hub, read as an async sequence of changes: what clientv3's Watch gives
// the concurrency recipes. The hub never waits on a sink, so changes queue here; a recipe watches a
// single key or a prefix until one event it waits for, so the queue stays small.
import { EtcdError } from '../core/errors.js';
import type { KeyRange } from '../core/keys.js';
import type { WatchApi } from '../core/watch-api.js';
import type { RecordChange } from '../mvcc/key-history-index.js';

export interface KeyEvents extends AsyncIterable<RecordChange> {
  close(): void;
}

/** Changes in `range` from `startRevision` on; ends with `compacted` if that history is gone. */
export function watchRange(watch: WatchApi, range: KeyRange, startRevision: number, signal: AbortSignal): KeyEvents {
  const queue: RecordChange[] = [];
  let failure: EtcdError | undefined;
  let closed = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const stream = watch.openStream({
    send(res) {
      if (res.type === 'events') queue.push(...res.batch.changes);
      else if (res.type === 'compacted') failure = new EtcdError('compacted');
      else if (res.type === 'createFailed') failure = new EtcdError('compacted', 'the watch could not be created');
      notify();
    },
    backlogBytes: 0,
  });
  const close = (): void => {
    if (closed) return;
    closed = true;
    watch.receive({ type: 'close', stream });
    notify();
  };
  signal.addEventListener('abort', close, { once: true });
  watch.receive({
    type: 'create',
    stream,
    create: { range, startRevision: BigInt(startRevision), watchId: 0n, progressNotify: false, prevKv: false, fragment: false, noPut: false, noDelete: false },
  });
  return {
    close,
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          const change = queue.shift();
          if (change !== undefined) {
            yield change;
            continue;
          }
          if (failure !== undefined) throw failure;
          if (closed) throw new EtcdError('canceled', 'the request was cancelled');
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        close();
        signal.removeEventListener('abort', close);
      }
    },
  };
}
