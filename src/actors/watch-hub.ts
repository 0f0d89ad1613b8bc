// The watch hub: the actor behind etcd's Watch service. It consumes the store's applied revision
// stream and fans each revision out to the watchers whose range it touches, as etcd's watchable store
// does. A watcher is either synced (it gets live events as revisions are applied) or unsynced (it
// reads history from the store until it reaches the live revision, then joins the synced ones).
//
// A slow stream never holds the others up: the hub never waits on a stream. When a stream's unsent
// backlog passes backlogLimitBytes, its watchers stop taking live events and are marked unsynced at
// the first revision they missed; once the stream has drained they catch up from history like a new
// watcher (etcd parks such watchers as "victims" with their pending events in memory; here memory per
// slow stream stays bounded by the limit). A watcher whose missed history is compacted meanwhile gets
// etcd's compacted answer, as it would in etcd.
//
// It runs on the main thread: it hands answers straight to the gRPC streams, which live there.
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import type { Observable, Subscription } from 'rxjs';
import { isEtcdError } from '../core/errors.js';
import type { KeyRange } from '../core/keys.js';
import {
  streamWatchId,
  type EventBatch,
  type WatchApi,
  type WatchCreate,
  type WatchHubMessage,
  type WatchStreamId,
  type WatchStreamSink,
} from '../core/watch-api.js';
import type { ChangeScan, RecordChange } from '../mvcc/key-history-index.js';
import type { AppliedBatch } from '../store/applied-batch.js';
import { WatchGroup, WatchGroupIndex } from './watch-groups.js';
import type { Actor } from './actor.js';

/** etcd's watchBatchMaxRevs: a catch-up answer holds the events of at most this many revisions. */
const maxRevisionsPerCatchUp = 1000;
/** After a failed history read, catching up is tried again this much later. */
const syncRetryMs = 100;

export interface WatchSource {
  readonly applied$: Observable<AppliedBatch>;
  readonly revision: number;
  readonly compactRevision: number;
  /** History of a key range; rejects with EtcdError 'compacted' once fromRev is compacted away. */
  changes(range: KeyRange, fromRev: number, toRev: number, maxRevisions: number): Promise<ChangeScan>;
}

export interface WatchHubOptions {
  /** etcd --experimental-watch-progress-notify-interval (default 10 minutes). */
  readonly progressIntervalMs: number;
  /** A stream with more unsent bytes than this stops taking live events until it drains. */
  readonly backlogLimitBytes: number;
  readonly onError: (message: string, e: unknown) => void;
}

export const defaultProgressIntervalMs = 10 * 60 * 1000;
export const defaultBacklogLimitBytes = 4 * 1024 * 1024;

type WatcherState = 'synced' | 'unsynced' | 'compacted' | 'canceled';

interface Watcher {
  readonly id: bigint;
  readonly stream: StreamState;
  readonly group: WatchGroup<Watcher>;
  readonly progressNotify: boolean;
  readonly fragment: boolean;
  state: WatcherState;
  /** The first revision this watcher has not been sent (etcd's minRev). */
  nextRev: number;
  /** No events went out since the last progress tick (etcd's sws.progress[id]). */
  progressDue: boolean;
}

interface StreamState {
  readonly id: WatchStreamId;
  readonly sink: WatchStreamSink;
  /** Every watch id in use, compacted ones included: etcd keeps their ids taken until cancelled. */
  readonly watchers: Map<bigint, Watcher>;
  nextAutoId: bigint;
  unsynced: number;
  /** A progress request waits for the stream's unsynced watchers (etcd issue 15220). */
  progressRequested: boolean;
  /** Watchers of this stream the revision being dispatched goes to (empty between dispatches). */
  readonly due: Watcher[];
}

export class WatchHub implements WatchApi, Actor<WatchHubMessage, void> {
  private rev: number;
  private readonly streams = new Map<WatchStreamId, StreamState>();
  private nextStreamId = 1;
  private readonly groups = new WatchGroupIndex<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  /** Streams with watchers due in the dispatch under way (empty between dispatches). */
  private readonly dueStreams: StreamState[] = [];
  private syncing = false;
  private readonly subscription: Subscription;
  private readonly progressTimer: NodeJS.Timeout;

  constructor(
    private readonly source: WatchSource,
    private readonly options: WatchHubOptions,
  ) {
    this.rev = source.revision;
    this.subscription = source.applied$.subscribe((batch) => {
      try {
        this.onApplied(batch);
      } catch (e) {
        // A bug here must not take the store's applied stream (and the process) down with it.
        options.onError('watch delivery failed', e);
        this.rev = batch.revision;
      }
    });
    this.progressTimer = setInterval(() => this.tickProgress(), options.progressIntervalMs);
    this.progressTimer.unref();
  }

  close(): void {
    this.subscription.unsubscribe();
    clearInterval(this.progressTimer);
  }

  /** Open watch streams and watchers, for metrics (read when scraped). */
  get counts(): { readonly streams: number; readonly watchers: number } {
    let watchers = 0;
    for (const s of this.streams.values()) watchers += s.watchers.size;
    return { streams: this.streams.size, watchers };
  }

  openStream(sink: WatchStreamSink): WatchStreamId {
    const id = this.nextStreamId++;
    this.streams.set(id, { id, sink, watchers: new Map(), nextAutoId: 0n, unsynced: 0, progressRequested: false, due: [] });
    return id;
  }

  receive(msg: WatchHubMessage): void {
    const stream = this.streams.get(msg.stream);
    if (stream === undefined) return;
    switch (msg.type) {
      case 'create':
        this.create(stream, msg.create);
        return;
      case 'cancel':
        this.cancel(stream, msg.watchId);
        return;
      case 'progress':
        stream.progressRequested = true;
        this.answerProgressRequest(stream);
        return;
      case 'drained':
        if (stream.unsynced > 0) this.scheduleSync();
        return;
      case 'close':
        for (const w of stream.watchers.values()) this.retire(w, 'canceled');
        this.streams.delete(stream.id);
        return;
    }
  }

  private create(stream: StreamState, c: WatchCreate): void {
    const revision = this.rev;
    if (c.range.kind === 'range' && c.range.end !== null && c.range.start >= c.range.end) {
      stream.sink.send({ type: 'createFailed', error: 'emptyRange', revision });
      return;
    }
    let id = c.watchId;
    if (id === 0n) {
      while (stream.watchers.has(stream.nextAutoId)) stream.nextAutoId++;
      id = stream.nextAutoId++;
    } else if (stream.watchers.has(id)) {
      stream.sink.send({ type: 'createFailed', error: 'duplicateId', revision });
      return;
    }
    // Revisions from clients are int64; anything past 2^53 is "never" for this store.
    const start = c.startRevision === 0n ? revision + 1 : Number(c.startRevision > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : c.startRevision);
    const synced = start > revision;
    const w: Watcher = {
      id,
      stream,
      group: this.groups.join(c.range, { prevKv: c.prevKv, noPut: c.noPut, noDelete: c.noDelete }),
      progressNotify: c.progressNotify,
      fragment: c.fragment,
      state: synced ? 'synced' : 'unsynced',
      nextRev: start,
      progressDue: true,
    };
    stream.watchers.set(id, w);
    stream.sink.send({ type: 'created', watchId: id, revision });
    if (synced) {
      w.group.synced.add(w);
    } else {
      this.unsynced.add(w);
      stream.unsynced++;
      this.scheduleSync();
    }
  }

  private cancel(stream: StreamState, id: bigint): void {
    const w = stream.watchers.get(id);
    if (w === undefined) return;
    stream.watchers.delete(id);
    this.retire(w, 'canceled');
    stream.sink.send({ type: 'canceled', watchId: id, revision: this.rev });
    this.answerProgressRequest(stream);
  }

  /** Takes a watcher out of delivery for good (cancelled, its stream closed, or compacted). */
  private retire(w: Watcher, state: 'canceled' | 'compacted'): void {
    if (w.state === 'synced') w.group.synced.delete(w);
    if (w.state === 'unsynced') {
      this.unsynced.delete(w);
      w.stream.unsynced--;
    }
    if (w.state === 'synced' || w.state === 'unsynced') this.groups.leave(w.group);
    w.state = state;
  }

  private answerProgressRequest(stream: StreamState): void {
    if (!stream.progressRequested || stream.unsynced > 0) return;
    stream.progressRequested = false;
    stream.sink.send({ type: 'progress', watchId: streamWatchId, revision: this.rev });
  }

  /** The periodic progress of watchers created with progress_notify, as etcd's sendLoop ticker. */
  private tickProgress(): void {
    for (const stream of this.streams.values()) {
      for (const w of stream.watchers.values()) {
        if (!w.progressNotify) continue;
        if (w.progressDue && w.state === 'synced') stream.sink.send({ type: 'progress', watchId: w.id, revision: this.rev });
        w.progressDue = true;
      }
    }
  }

  private onApplied(batch: AppliedBatch): void {
    const changes = batch.changes;
    let i = this.groups.isEmpty ? changes.length : 0;
    while (i < changes.length) {
      const rev = changes[i]!.record.modRevision;
      let j = i + 1;
      while (j < changes.length && changes[j]!.record.modRevision === rev) j++;
      this.dispatch(rev, changes, i, j);
      i = j;
    }
    this.rev = batch.revision;
  }

  /** Sends one revision's changes (changes[from, to)) to every synced watcher they concern. */
  private dispatch(rev: number, changes: readonly RecordChange[], from: number, to: number): void {
    const touched = new Map<WatchGroup<Watcher>, RecordChange[]>();
    for (let k = from; k < to; k++) {
      const change = changes[k]!;
      this.groups.forEachMatching(change.record.key, (g) => {
        if (g.synced.size === 0 || !g.keeps(change)) return;
        const list = touched.get(g);
        if (list === undefined) touched.set(g, [change]);
        else list.push(change);
      });
    }
    for (const [group, kept] of touched) {
      const batch: EventBatch = { changes: kept, prevKv: group.options.prevKv };
      // one call per stream: the group's watchers gathered by stream, each stream's answers framed in one run
      const dueStreams = this.dueStreams;
      try {
        for (const w of group.synced) {
          if (rev < w.nextRev) continue;
          const due = w.stream.due;
          if (due.length === 0) dueStreams.push(w.stream);
          due.push(w);
        }
        for (const stream of dueStreams) this.deliver(stream, rev, batch);
      } finally {
        for (const stream of dueStreams) stream.due.length = 0;
        dueStreams.length = 0;
      }
    }
  }

  /** Sends the revision to the stream's due watchers; those past its backlog limit are held back. */
  private deliver(stream: StreamState, rev: number, batch: EventBatch): void {
    const due = stream.due;
    const written = stream.sink.events(due, rev, batch, this.options.backlogLimitBytes);
    for (let k = 0; k < due.length; k++) {
      const w = due[k]!;
      // a sink that closed its stream while writing has had its watchers retired: leave them so
      if (w.state !== 'synced') continue;
      if (k < written) {
        w.nextRev = rev + 1;
        w.progressDue = false;
      } else this.holdBack(w, rev);
    }
  }

  /** The watcher's stream is too far behind: it misses `rev` now and reads it from history later. */
  private holdBack(w: Watcher, rev: number): void {
    w.group.synced.delete(w);
    w.state = 'unsynced';
    w.nextRev = rev;
    this.unsynced.add(w);
    w.stream.unsynced++;
  }

  private markSynced(w: Watcher): void {
    w.state = 'synced';
    this.unsynced.delete(w);
    w.stream.unsynced--;
    w.group.synced.add(w);
    this.answerProgressRequest(w.stream);
  }

  private compact(w: Watcher, compactRevision: number): void {
    this.retire(w, 'compacted');
    w.stream.sink.send({ type: 'compacted', watchId: w.id, compactRevision });
    this.answerProgressRequest(w.stream);
  }

  private ready(w: Watcher): boolean {
    return w.state === 'unsynced' && w.stream.sink.backlogBytes <= this.options.backlogLimitBytes;
  }

  private scheduleSync(): void {
    if (this.syncing) return;
    this.syncing = true;
    void this.syncLoop().finally(() => {
      this.syncing = false;
    });
  }

  /** Catches unsynced watchers up, one read per key range per round, until none is ready. */
  private async syncLoop(): Promise<void> {
    for (;;) {
      // A macrotask between rounds, so that I/O and live revisions interleave with catching up.
      await nextMacrotask();
      const byRange = new Map<string, Watcher[]>();
      for (const w of this.unsynced) {
        if (!this.ready(w)) continue;
        const list = byRange.get(w.group.rangeId);
        if (list === undefined) byRange.set(w.group.rangeId, [w]);
        else list.push(w);
      }
      if (byRange.size === 0) return;
      let failed = false;
      for (const watchers of byRange.values()) {
        try {
          await this.catchUp(watchers);
        } catch (e) {
          this.options.onError('a watch could not read history', e);
          failed = true;
        }
      }
      if (failed) {
        // Try again later rather than spin on a failing read; the watchers stay unsynced meanwhile.
        setTimeout(() => this.scheduleSync(), syncRetryMs).unref();
        return;
      }
    }
  }

  private async catchUp(watchers: readonly Watcher[]): Promise<void> {
    const curRev = this.rev;
    const compactRev = this.source.compactRevision;
    const reading: Watcher[] = [];
    let from = Infinity;
    for (const w of watchers) {
      // Earlier reads of this round awaited: a watcher may have been cancelled or its stream filled.
      if (!this.ready(w)) continue;
      if (w.nextRev < compactRev) this.compact(w, compactRev);
      else if (w.nextRev > curRev) this.markSynced(w);
      else {
        reading.push(w);
        if (w.nextRev < from) from = w.nextRev;
      }
    }
    if (reading.length === 0) return;
    let scan: ChangeScan;
    try {
      scan = await this.source.changes(reading[0]!.group.range, from, curRev, maxRevisionsPerCatchUp);
    } catch (e) {
      if (!isEtcdError(e) || e.kind !== 'compacted') throw e;
      // Only watchers whose start is now compacted away are cancelled (etcd's chooseAll); the
      // others read again in the next round.
      const now = this.source.compactRevision;
      for (const w of reading) if (w.state === 'unsynced' && w.nextRev < now) this.compact(w, now);
      return;
    }
    // Watchers of one group starting at the same revision get the same batch (encoded once).
    const batches = new Map<string, EventBatch | null>();
    for (const w of reading) {
      if (!this.ready(w)) continue; // cancelled, closed or filled up meanwhile: it reads again later
      // A watcher already past the end of this read (the read started further back for another
      // watcher and was cut) has nothing in it.
      if (w.nextRev > scan.throughRevision) continue;
      const key = `${w.group.id}@${w.nextRev}`;
      let batch = batches.get(key);
      if (batch === undefined) {
        const kept = scan.changes.filter((c) => c.record.modRevision >= w.nextRev && w.group.keeps(c));
        batch = kept.length === 0 ? null : { changes: kept, prevKv: w.group.options.prevKv };
        batches.set(key, batch);
      }
      w.nextRev = scan.throughRevision + 1;
      if (batch !== null) {
        // ready() above checked the backlog: the watcher's answer goes whatever its size
        w.stream.sink.events([w], curRev, batch, Infinity);
        w.progressDue = false;
        // a sink that closed its stream while writing has had the watcher retired: leave it so
        if (w.state !== 'unsynced') continue;
      }
      // Revisions applied during the read were not sent to it: it stays unsynced for another round.
      if (w.nextRev > this.rev) this.markSynced(w);
    }
  }
}
