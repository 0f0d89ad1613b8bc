// One watcher on the watch hub for /api: key history, SSE and WebSocket watches all read through it.
// It turns the hub's answers into one output per revision (the unit a client resumes from).
import { keyRange } from '../../core/keys.js';
import { eachWatchTarget, streamWatchId, type EventBatch, type WatchApi, type WatchControlResponse, type WatchResponse, type WatchStreamId, type WatchStreamSink, type WatchTarget } from '../../core/watch-api.js';
import { eventJson } from './api-kv-json.js';

export interface WatchSpec {
  readonly key: Buffer;
  /** Empty: the single key; "\0": every key from `key` on; else [key, rangeEnd). */
  readonly rangeEnd: Buffer;
  /** 0: from the next revision on. */
  readonly startRevision: number;
  readonly prevKv: boolean;
}

export type WatchOutput =
  | { readonly type: 'created'; readonly revision: number }
  | { readonly type: 'change'; readonly revision: number; readonly events: readonly Record<string, unknown>[] }
  /** The start is compacted away; the watch is over. */
  | { readonly type: 'compacted'; readonly compactRevision: number }
  /** Every event up to `revision` has been delivered (answer to requestProgress). */
  | { readonly type: 'progress'; readonly revision: number }
  | { readonly type: 'failed'; readonly message: string };

const onlyWatchId = 1n;

/**
 * The hub's side of one watch. A class, not an object literal with a getter: such a literal gets a
 * hidden class of its own, and the hub reads `backlogBytes` of every stream per revision.
 */
class HubWatchSink implements WatchStreamSink {
  constructor(
    private readonly emit: (r: WatchResponse) => void,
    private readonly backlog: () => number,
  ) {}

  send(response: WatchControlResponse): void {
    this.emit(response);
  }

  events(targets: readonly WatchTarget[], revision: number, batch: EventBatch, backlogLimitBytes: number): number {
    return eachWatchTarget(this, targets, backlogLimitBytes, (t) => this.emit({ type: 'events', watchId: t.id, revision, batch, fragment: t.fragment }));
  }

  get backlogBytes(): number {
    return this.backlog();
  }
}

export class HubWatch {
  private readonly stream: WatchStreamId;
  private closed = false;

  constructor(
    private readonly hub: WatchApi,
    spec: WatchSpec,
    private readonly output: (o: WatchOutput) => void,
    backlogBytes: () => number,
  ) {
    const emit = (r: WatchResponse): void => {
      if (!this.closed) this.deliver(r);
    };
    this.stream = hub.openStream(new HubWatchSink(emit, backlogBytes));
    // etcd's normalisation: an empty key means "\0"
    const key = spec.key.length === 0 ? Buffer.from([0]) : spec.key;
    hub.receive({
      type: 'create',
      stream: this.stream,
      create: {
        range: keyRange(key, spec.rangeEnd),
        startRevision: BigInt(spec.startRevision),
        watchId: onlyWatchId,
        progressNotify: false,
        prevKv: spec.prevKv,
        fragment: false,
        noPut: false,
        noDelete: false,
      },
    });
  }

  /** Asks for a `progress` output once every event so far has been delivered. */
  requestProgress(): void {
    if (!this.closed) this.hub.receive({ type: 'progress', stream: this.stream });
  }

  /** The transport's backlog fell: held-back events may flow again. */
  drained(): void {
    if (!this.closed) this.hub.receive({ type: 'drained', stream: this.stream });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.receive({ type: 'close', stream: this.stream });
  }

  private deliver(r: WatchResponse): void {
    switch (r.type) {
      case 'created':
        this.output({ type: 'created', revision: r.revision });
        return;
      case 'createFailed':
        this.output({ type: 'failed', message: r.error === 'emptyRange' ? 'empty key range' : r.error === 'duplicateId' ? 'duplicate watch id' : 'etcdserver: too many requests' });
        return;
      case 'canceled':
        this.output({ type: 'failed', message: 'watch canceled by the server' });
        return;
      case 'compacted':
        this.output({ type: 'compacted', compactRevision: r.compactRevision });
        return;
      case 'progress':
        if (r.watchId === streamWatchId || r.watchId === onlyWatchId) this.output({ type: 'progress', revision: r.revision });
        return;
      case 'events': {
        // one output per revision: a client that resumes after revision R misses nothing of R
        let revision = -1;
        let events: Record<string, unknown>[] = [];
        for (const c of r.batch.changes) {
          if (c.record.modRevision !== revision && events.length > 0) {
            this.output({ type: 'change', revision, events });
            events = [];
          }
          revision = c.record.modRevision;
          events.push(eventJson(c, r.batch.prevKv));
        }
        if (events.length > 0) this.output({ type: 'change', revision, events });
        return;
      }
    }
  }
}
