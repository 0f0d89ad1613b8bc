// The watch hub as a tenant sees it: watched ranges moved under its prefix, events answered with the
// prefix taken off, and the tenant's open watchers counted against maxWatchers. A create past the
// limit (or past the request rate) is answered as etcd answers a refused create: created and
// canceled at once, the reason `etcdserver: too many requests`; the stream's other watchers go on.
import type { RecordChange } from '../mvcc/key-history-index.js';
import type { KvRecord } from '../mvcc/kv-record.js';
import type { EventBatch, WatchApi, WatchControlResponse, WatchHubMessage, WatchStreamId, WatchStreamSink, WatchTarget } from '../core/watch-api.js';
import type { TenantState } from './tenant-state.js';

/** Watchers of one stream this wrapper counts: created ones, and creates not answered yet. */
interface StreamWatchers {
  readonly sink: WatchStreamSink;
  readonly live: Set<bigint>;
  pending: number;
}

export class TenantWatch implements WatchApi {
  private readonly streams = new Map<WatchStreamId, StreamWatchers>();
  /** One mapped batch per hub batch, so watchers sharing a batch still share its encoding. */
  private readonly mapped = new WeakMap<EventBatch, EventBatch>();

  constructor(
    private readonly base: WatchApi,
    private readonly tenant: TenantState,
    /** The store's revision now, for the header of a refused create. */
    private readonly revision: () => number,
  ) {}

  openStream(sink: WatchStreamSink): WatchStreamId {
    const watchers: StreamWatchers = { sink, live: new Set(), pending: 0 };
    const id = this.base.openStream(new TenantWatchSink(this, watchers));
    this.streams.set(id, watchers);
    return id;
  }

  receive(msg: WatchHubMessage): void {
    const watchers = this.streams.get(msg.stream);
    if (msg.type === 'create') {
      if (watchers === undefined) return;
      const r = msg.create.range;
      try {
        this.tenant.admit(r.kind === 'single' ? r.key.length : r.start.length + (r.end?.length ?? 0));
        this.tenant.openWatcher();
      } catch {
        // never a throw from here: the gRPC adapter may call receive outside the stream's handler
        watchers.sink.send({ type: 'createFailed', error: 'tooManyRequests', revision: this.revision() });
        return;
      }
      watchers.pending++;
      this.base.receive({ ...msg, create: { ...msg.create, range: this.tenant.keys.toStoredRange(msg.create.range) } });
      return;
    }
    if (msg.type === 'close' && watchers !== undefined) {
      for (let i = 0; i < watchers.live.size + watchers.pending; i++) this.tenant.closeWatcher();
      this.streams.delete(msg.stream);
    }
    this.base.receive(msg);
  }

  /** Counts a control answer against the tenant's watchers (the streams' sinks call it). */
  count(watchers: StreamWatchers, response: WatchControlResponse): void {
    switch (response.type) {
      case 'created':
        if (watchers.pending > 0) watchers.pending--;
        watchers.live.add(response.watchId);
        return;
      case 'createFailed':
        if (watchers.pending > 0) watchers.pending--;
        this.tenant.closeWatcher();
        return;
      case 'canceled':
      case 'compacted':
        if (watchers.live.delete(response.watchId)) this.tenant.closeWatcher();
        return;
      default:
        return;
    }
  }

  /** The batch with the tenant's prefix taken off its keys, made once per hub batch. */
  toClient(stored: EventBatch): EventBatch {
    let batch = this.mapped.get(stored);
    if (batch === undefined) {
      batch = { prevKv: stored.prevKv, changes: stored.changes.map((c) => this.change(c)) };
      this.mapped.set(stored, batch);
    }
    return batch;
  }

  private change(c: RecordChange): RecordChange {
    return { record: this.record(c.record), prev: c.prev === undefined ? undefined : this.record(c.prev) };
  }

  private record(r: KvRecord): KvRecord {
    return { ...r, key: this.tenant.keys.toClientKey(r.key), lease: this.tenant.leaseIds.toClient(r.lease) };
  }
}

/**
 * A tenant stream's sink in front of the adapter's. A class, not an object literal: a literal's getter
 * gives every stream a map of its own, and the hub reads each stream's backlog per revision.
 */
class TenantWatchSink implements WatchStreamSink {
  constructor(
    private readonly watch: TenantWatch,
    private readonly watchers: StreamWatchers,
  ) {}

  send(response: WatchControlResponse): void {
    this.watch.count(this.watchers, response);
    this.watchers.sink.send(response);
  }

  events(targets: readonly WatchTarget[], revision: number, batch: EventBatch, backlogLimitBytes: number): number {
    return this.watchers.sink.events(targets, revision, this.watch.toClient(batch), backlogLimitBytes);
  }

  get backlogBytes(): number {
    return this.watchers.sink.backlogBytes;
  }
}
