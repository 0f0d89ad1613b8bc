// The watch hub's answers as etcdserverpb.WatchResponse bytes. An event batch goes to every watcher
// of one key range and options, so its events are encoded once (cached per batch) and each watcher's
// message only adds its header and watch_id around those bytes. Large event answers of watchers that
// asked for `fragment` are split exactly as etcd's sendFragments does (v3rpc/watch.go).
import type { ResponseHeader } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { EventBatch, WatchControlResponse, WatchCreateError, WatchTarget } from '../../core/watch-api.js';
import type { RecordChange } from '../../mvcc/key-history-index.js';
import { toKeyValue, type KvRecord } from '../../mvcc/kv-record.js';
import { ExactWriter, putVarint, bytesFieldSize, intFieldSize, keyValueSize, lengthSize, writeKeyValue, type KeyValueFields } from '../../core/proto-writer.js';
import { EncodedMessage, messagePrefixBytes, type FramedMessages, type OutgoingMessage } from './grpc-wire.js';
import { headerFieldsSize, writeHeaderFields } from './range-response-encoder.js';
import { largeSlabs } from '../slab-pool.js';

/** etcd's mvcc errors, as cancel_reason carries them (mvcc/watcher.go). */
export const cancelReasons: Readonly<Record<WatchCreateError, string>> = {
  emptyRange: 'mvcc: watcher range is empty',
  duplicateId: 'mvcc: duplicate watch ID provided on the WatchStream',
  tooManyRequests: 'etcdserver: too many requests',
};

interface EncodedEvents {
  /** Every event as a complete `events` field (tag, length, Event), back to back. */
  readonly bytes: Buffer;
  /** Where each event's field ends in bytes. */
  readonly ends: readonly number[];
}

function writeKv(w: ExactWriter, field: number, kv: KeyValueFields, size: number): void {
  w.tag(field, 2);
  w.length(size);
  writeKeyValue(w, kv);
}

/** prev_kv as etcd's sendLoop adds it: asked for, not on a create event, and the key existed. */
function prevOf(c: RecordChange, prevKv: boolean): KvRecord | undefined {
  if (!prevKv || c.prev === undefined) return undefined;
  const r = c.record;
  const isCreate = !r.tombstone && r.createRevision === r.modRevision;
  return isCreate ? undefined : c.prev;
}

function encodeEvents(batch: EventBatch): EncodedEvents {
  // Once per batch, not per watcher: the store's KeyValue form and sizes serve as they are. A delete
  // event's kv is etcd's tombstone, which that form already is (the key and the deleting revision).
  const sizes = batch.changes.map((c) => {
    const kv = toKeyValue(c.record);
    const kvBytes = keyValueSize(kv);
    const prevRecord = prevOf(c, batch.prevKv);
    const prev = prevRecord === undefined ? undefined : toKeyValue(prevRecord);
    const prevSize = prev === undefined ? 0 : keyValueSize(prev);
    const body = (c.record.tombstone ? 2 : 0) + 1 + lengthSize(kvBytes) + kvBytes + (prev === undefined ? 0 : 1 + lengthSize(prevSize) + prevSize);
    return { kv, kvBytes, prevSize, prev, body };
  });
  const total = sizes.reduce((n, s) => n + 1 + lengthSize(s.body) + s.body, 0);
  const w = new ExactWriter(Buffer.allocUnsafe(total));
  const ends: number[] = [];
  batch.changes.forEach((c, i) => {
    const s = sizes[i]!;
    w.tag(11, 2);
    w.length(s.body);
    if (c.record.tombstone) {
      w.tag(1, 0);
      w.byte(1); // mvccpb.Event.DELETE
    }
    writeKv(w, 2, s.kv, s.kvBytes);
    if (s.prev !== undefined) writeKv(w, 3, s.prev, s.prevSize);
    ends.push(w.offset);
  });
  return { bytes: w.buf as Buffer, ends };
}

interface ResponseFields {
  readonly header: Buffer;
  readonly watchId: bigint;
  readonly created?: boolean;
  readonly canceled?: boolean;
  readonly compactRevision?: number;
  readonly cancelReason?: string;
  readonly fragment?: boolean;
  /** A run of encoded `events` fields. */
  readonly events?: Buffer;
}

function responseSize(f: ResponseFields): number {
  return (
    f.header.length +
    intFieldSize(f.watchId) +
    (f.created === true ? 2 : 0) +
    (f.canceled === true ? 2 : 0) +
    // int64, and -1 is possible: etcd reports a never-compacted store's -1 to a negative start revision.
    intFieldSize(BigInt(f.compactRevision ?? 0)) +
    bytesFieldSize(Buffer.byteLength(f.cancelReason ?? '')) +
    (f.fragment === true ? 2 : 0) +
    (f.events?.length ?? 0)
  );
}

function encodeResponse(f: ResponseFields): Buffer {
  const buf = Buffer.allocUnsafe(responseSize(f));
  writeResponse(f, buf, 0, buf.length);
  return buf;
}

function writeResponse(f: ResponseFields, buf: Buffer, at: number, total: number): void {
  const w = new ExactWriter(buf, at);
  w.bytes(f.header);
  w.intField(2, f.watchId);
  if (f.created === true) w.intField(3, 1n);
  if (f.canceled === true) w.intField(4, 1n);
  w.intField(5, BigInt(f.compactRevision ?? 0));
  if (f.cancelReason !== undefined) w.bytesField(6, Buffer.from(f.cancelReason));
  if (f.fragment === true) w.intField(7, 1n);
  if (f.events !== undefined) w.bytes(f.events);
  if (w.offset !== at + total) throw new Error(`WatchResponse encoder wrote ${w.offset - at} of ${total} bytes`);
}

/**
 * Events answers of one revision to watchers of one stream, framed straight into the stream's batch
 * in one loop: the header and the encoded events are the same for every watcher; only the watch id is
 * each watcher's own. One object serves every run in turn (a call frames a run while it is written),
 * so a revision reaching 10,000 watchers makes no object per watcher.
 */
const noBytes = Buffer.alloc(0);
const noTargets: readonly WatchTarget[] = [];
/**
 * A run is handed to the call once it reaches this many bytes: the batch writes a run in one piece,
 * and a run past a slab (64 KiB) would take a buffer of its own instead of pooled slabs.
 */
const runFlushBytes = largeSlabs.slabBytes / 2;

class EventsRun implements FramedMessages {
  count = 0;
  framedSize = 0;
  private header: Buffer = noBytes;
  private events: Buffer = noBytes;
  private fragment = false;
  private targets: readonly WatchTarget[] = noTargets;
  private from = 0;

  /** An empty run whose messages carry `header` and `events`, for targets[from], targets[from + 1], ... */
  start(header: Buffer, events: Buffer, fragment: boolean, targets: readonly WatchTarget[], from: number): this {
    this.header = header;
    this.events = events;
    this.fragment = fragment;
    this.targets = targets;
    this.from = from;
    this.count = 0;
    this.framedSize = 0;
    return this;
  }

  /** Drops the references of the last run. */
  clear(): void {
    this.start(noBytes, noBytes, false, noTargets, 0);
  }

  /** Size of a message of this run for a watcher with `watchId`, without its prefix. */
  messageSize(watchId: bigint): number {
    return this.header.length + intFieldSize(watchId) + (this.fragment ? 2 : 0) + this.events.length;
  }

  /** Takes in the next target, whose message is `size` bytes. */
  add(size: number): void {
    this.count++;
    this.framedSize += messagePrefixBytes + size;
  }

  writeFramed(buf: Buffer, at: number): void {
    const end = at + this.framedSize;
    const header = this.header;
    const events = this.events;
    for (let k = this.from; k < this.from + this.count; k++) {
      const watchId = this.targets[k]!.id;
      const size = this.messageSize(watchId);
      buf[at] = 0;
      buf.writeUInt32BE(size, at + 1);
      at += messagePrefixBytes;
      // field order as responseSize and writeResponse have it: header, watch_id, fragment, events
      buf.set(header, at);
      at += header.length;
      if (watchId !== 0n) {
        buf[at++] = (2 << 3) | 0; // watch_id, varint
        at = putVarint(buf, at, watchId);
      }
      if (this.fragment) {
        buf[at++] = (7 << 3) | 0; // fragment, varint
        buf[at++] = 1;
      }
      buf.set(events, at);
      at += events.length;
    }
    if (at !== end) throw new Error(`WatchResponse encoder wrote ${at - end + this.framedSize} of ${this.framedSize} bytes`);
  }
}

/** Where answers go: a call that encodes each message as it is written (ResponseStream). */
export interface MessageWriter {
  write(message: OutgoingMessage): unknown;
  writeAll(run: FramedMessages): unknown;
}

export class WatchResponseEncoder {
  private readonly events = new WeakMap<EventBatch, EncodedEvents>();
  private readonly run = new EventsRun();
  private headerRevision = -1;
  private headerBytes: Buffer = Buffer.alloc(0);

  /**
   * @param header this member's response header at a revision (cluster, member, raft term)
   * @param fragmentBytes etcd's limit for fragmenting: --max-request-bytes plus gRPC overhead
   */
  constructor(
    private readonly header: (revision: number) => ResponseHeader,
    private readonly fragmentBytes: number,
  ) {}

  /** A control answer (created, canceled, progress, ...), encoded. */
  encode(res: WatchControlResponse): OutgoingMessage {
    return new EncodedMessage(this.encodeControl(res));
  }

  /**
   * One revision's events answers to watchers of one stream, in order, while the bytes written stay
   * within `room` (checked before each watcher, as the hub checks the backlog); returns how many
   * watchers were answered. A watcher that asked for `fragment` gets an answer over the limit as
   * several, split exactly as etcd's sendFragments does (v3rpc/watch.go).
   */
  writeEvents(out: MessageWriter, targets: readonly WatchTarget[], revision: number, batch: EventBatch, room: number): number {
    const header = this.headerField(revision);
    const encoded = this.encoded(batch);
    const run = this.run.start(header, encoded.bytes, false, targets, 0);
    try {
      return this.writeRuns(out, run, targets, header, encoded, room);
    } finally {
      // the run keeps nothing alive between calls (a closed stream's watchers, the batch's bytes)
      run.clear();
    }
  }

  /** writeEvents' loop: returns how many targets were answered. */
  private writeRuns(out: MessageWriter, run: EventsRun, targets: readonly WatchTarget[], header: Buffer, encoded: EncodedEvents, room: number): number {
    let used = 0;
    let i = 0;
    for (; i < targets.length && used <= room; i++) {
      const target = targets[i]!;
      const size = run.messageSize(target.id);
      if (target.fragment && encoded.ends.length >= 2 && size >= this.fragmentBytes) {
        if (run.count > 0) out.writeAll(run);
        used += this.writeFragments(out, header, targets, i, encoded);
        run.start(header, encoded.bytes, false, targets, i + 1);
        continue;
      }
      run.add(size);
      used += messagePrefixBytes + size;
      if (run.framedSize >= runFlushBytes) {
        out.writeAll(run);
        run.start(header, encoded.bytes, false, targets, i + 1);
      }
    }
    if (run.count > 0) out.writeAll(run);
    return i;
  }

  /**
   * etcd's fragments of one watcher's answer: events are added while the response stays under the
   * limit (at least one per fragment); every fragment but the last has fragment=true, and sizes are
   * measured with the flag set. Returns the bytes written, prefixes included.
   */
  private writeFragments(out: MessageWriter, header: Buffer, targets: readonly WatchTarget[], at: number, encoded: EncodedEvents): number {
    const watchId = targets[at]!.id;
    const base = responseSize({ header, watchId, fragment: true });
    let written = 0;
    let idx = 0;
    const count = encoded.ends.length;
    while (idx < count) {
      const from = idx === 0 ? 0 : encoded.ends[idx - 1]!;
      let end = from;
      let n = 0;
      while (idx < count) {
        const next = encoded.ends[idx]!;
        if (n >= 1 && base + (next - from) >= this.fragmentBytes) break;
        end = next;
        n++;
        idx++;
      }
      const piece = this.run.start(header, encoded.bytes.subarray(from, end), idx < count, targets, at);
      piece.add(piece.messageSize(watchId));
      written += piece.framedSize;
      out.writeAll(piece);
    }
    return written;
  }

  /** The batch's events, encoded once for every watcher it reaches, on every stream. */
  private encoded(batch: EventBatch): EncodedEvents {
    let encoded = this.events.get(batch);
    if (encoded === undefined) {
      encoded = encodeEvents(batch);
      this.events.set(batch, encoded);
    }
    return encoded;
  }

  private encodeControl(res: WatchControlResponse): Buffer {
    switch (res.type) {
      case 'created':
        return encodeResponse({ header: this.headerField(res.revision), watchId: res.watchId, created: true });
      case 'createFailed':
        return encodeResponse({
          header: this.headerField(res.revision),
          watchId: -1n,
          created: true,
          canceled: true,
          cancelReason: cancelReasons[res.error],
        });
      case 'canceled':
        return encodeResponse({ header: this.headerField(res.revision), watchId: res.watchId, canceled: true });
      case 'compacted':
        return encodeResponse({ header: this.headerField(0), watchId: res.watchId, canceled: true, compactRevision: res.compactRevision });
      case 'progress':
        return encodeResponse({ header: this.headerField(res.revision), watchId: res.watchId });
    }
  }

  /** The header field, reused while the revision does not change (a revision fans out to many). */
  private headerField(revision: number): Buffer {
    if (revision === this.headerRevision) return this.headerBytes;
    const h = this.header(revision);
    const size = headerFieldsSize(h);
    const w = new ExactWriter(Buffer.allocUnsafe(1 + lengthSize(size) + size));
    w.tag(1, 2);
    w.length(size);
    writeHeaderFields(w, h);
    this.headerRevision = revision;
    this.headerBytes = w.buf as Buffer;
    return this.headerBytes;
  }
}
