// One watcher on the watch hub, read as an async sequence of changes: what clientv3's Watch gives
// the concurrency recipes. The hub never waits on a sink, so changes queue here; their size is the
// sink's backlog, so past the hub's limit a slow reader (an Observe nobody reads) stops getting live
// events and catches up from history once it drains, as a slow watch stream does.
import { EtcdError } from '../core/errors.js';
import type { KeyRange } from '../core/keys.js';
import { eachWatchTarget, type WatchApi, type WatchStreamSink } from '../core/watch-api.js';
import type { RecordChange } from '../mvcc/key-history-index.js';

export interface KeyEvents extends AsyncIterable<RecordChange> {
  close(): void;
}

/** Changes in `range` from `startRevision` on; ends with `compacted` if that history is gone. */
export function watchRange(watch: WatchApi, range: KeyRange, startRevision: number, signal: AbortSignal): KeyEvents {
  const queue: RecordChange[] = [];
  /** Key and value bytes of the queued changes: reported to the hub, which stops sending past its limit. */
  let queuedBytes = 0;
  const sizeOf = (c: RecordChange): number => c.record.key.length + c.record.value.length;
  let failure: EtcdError | undefined;
  let closed = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const sink: WatchStreamSink = {
    events(targets, _revision, batch, backlogLimitBytes) {
      // the stream has its one watcher
      return eachWatchTarget(sink, targets, backlogLimitBytes, () => {
        queue.push(...batch.changes);
        for (const c of batch.changes) queuedBytes += sizeOf(c);
        notify();
      });
    },
    send(res) {
      if (res.type === 'compacted') failure = new EtcdError('compacted');
      else if (res.type === 'createFailed') failure = new EtcdError('compacted', 'the watch could not be created');
      notify();
    },
    get backlogBytes() {
      return queuedBytes;
    },
  };
  const stream = watch.openStream(sink);
  const close = (): void => {
    if (closed) return;
    closed = true;
    watch.receive({ type: 'close', stream });
    notify();
  };
  signal.addEventListener('abort', close, { once: true });
  // A call cancelled before this point never fires the listener: close now, or the watcher would wait
  // for events that may never come.
  if (signal.aborted) close();
  else {
    watch.receive({
      type: 'create',
      stream,
      create: { range, startRevision: BigInt(startRevision), watchId: 0n, progressNotify: false, prevKv: false, fragment: false, noPut: false, noDelete: false },
    });
  }
  return {
    close,
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          const change = queue.shift();
          if (change !== undefined) {
            queuedBytes -= sizeOf(change);
            // Held-back watchers catch up once their stream has drained (the hub's `drained` message).
            if (queue.length === 0 && !closed) watch.receive({ type: 'drained', stream });
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
