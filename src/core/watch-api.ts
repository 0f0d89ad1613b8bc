// What a protocol adapter says to the watch hub, and what the hub answers on each stream. Requests
// arrive checked and normalised by the adapter (etcd's v3rpc rules); answers are transport-neutral
// values the adapter encodes (gRPC messages, JSON gateway lines), in the order the stream must send them.
import type { KeyRange } from './keys.js';
import type { RecordChange } from '../mvcc/key-history-index.js';

export interface WatchCreate {
  /** The watched keys, after etcd's normalisation (empty key = "\0", range_end "\0" = open end). */
  readonly range: KeyRange;
  /** 0: from the next revision on. */
  readonly startRevision: bigint;
  /** 0: the stream picks the next free id. */
  readonly watchId: bigint;
  readonly progressNotify: boolean;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
}

/**
 * The events one revision (or one catch-up read) produced for one kind of watcher. The same object
 * goes to every watcher of the same key range and options, so an adapter can encode it once.
 */
export interface EventBatch {
  readonly changes: readonly RecordChange[];
  /** Watchers asked for prev_kv (etcd leaves it out of create events anyway). */
  readonly prevKv: boolean;
}

/** Why a create was refused, as etcd's mvcc.WatchStream.Watch reports it. */
/** `tooManyRequests`: a tenant's watcher or request limit (src/tenants/). */
export type WatchCreateError = 'emptyRange' | 'duplicateId' | 'tooManyRequests';

/** The stream-wide progress answer carries this id (etcd's clientv3.InvalidWatchID). */
export const streamWatchId = -1n;

export type WatchResponse =
  | { readonly type: 'created'; readonly watchId: bigint; readonly revision: number }
  | { readonly type: 'createFailed'; readonly error: WatchCreateError; readonly revision: number }
  | { readonly type: 'canceled'; readonly watchId: bigint; readonly revision: number }
  /** `fragment`: the watcher allows splitting a response larger than the request limit. */
  | { readonly type: 'events'; readonly watchId: bigint; readonly revision: number; readonly batch: EventBatch; readonly fragment: boolean }
  /** The watcher's start is compacted away; it is cancelled (etcd sends header revision 0 here). */
  | { readonly type: 'compacted'; readonly watchId: bigint; readonly compactRevision: number }
  /** Every event at or below `revision` has been sent (to this watcher, or to the whole stream). */
  | { readonly type: 'progress'; readonly watchId: bigint; readonly revision: number };

/** Every answer but events: the hub's control answers, one object each. */
export type WatchControlResponse = Exclude<WatchResponse, { readonly type: 'events' }>;

/** A watcher as its stream's sink sees it. */
export interface WatchTarget {
  readonly id: bigint;
  /** The watcher allows splitting a response larger than the request limit. */
  readonly fragment: boolean;
}

/** Where a watch stream's answers go. The hub never waits on it; it reads the backlog instead. */
export interface WatchStreamSink {
  send(response: WatchControlResponse): void;
  /**
   * The events of one revision (or one catch-up read) for watchers of this stream, in order, each
   * written while the backlog is within `backlogLimitBytes`; returns how many were written (the hub
   * holds the others back). One call per stream: a revision reaching 10,000 watchers on 100 streams
   * is 100 calls, and the answer comes as arguments rather than as an object per watcher. `targets`
   * is the hub's and valid only during the call; the call must not make the hub apply a revision.
   */
  events(targets: readonly WatchTarget[], revision: number, batch: EventBatch, backlogLimitBytes: number): number;
  /** Bytes the transport has accepted but not written out yet. */
  readonly backlogBytes: number;
}

/** WatchStreamSink.events for a sink that takes its watchers one at a time. */
export function eachWatchTarget(sink: WatchStreamSink, targets: readonly WatchTarget[], backlogLimitBytes: number, deliver: (target: WatchTarget) => void): number {
  let written = 0;
  while (written < targets.length && sink.backlogBytes <= backlogLimitBytes) deliver(targets[written++]!);
  return written;
}

export type WatchStreamId = number;

export type WatchHubMessage =
  | { readonly type: 'create'; readonly stream: WatchStreamId; readonly create: WatchCreate }
  | { readonly type: 'cancel'; readonly stream: WatchStreamId; readonly watchId: bigint }
  | { readonly type: 'progress'; readonly stream: WatchStreamId }
  /** The sink's backlog fell: watchers held back for it may catch up now. */
  | { readonly type: 'drained'; readonly stream: WatchStreamId }
  | { readonly type: 'close'; readonly stream: WatchStreamId };

export interface WatchApi {
  openStream(sink: WatchStreamSink): WatchStreamId;
  receive(msg: WatchHubMessage): void;
}
