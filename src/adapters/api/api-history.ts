// A key's history: every revision the store still holds (from the compact revision on), with values,
// read as a watcher catching up from there would, so it needs nothing new from the store.
import type { ServerApi } from '../../core/kv-api.js';
import { ApiError } from './api-errors.js';
import { statusByKind } from '../grpc/error-status.js';
import { HubWatch, type WatchOutput } from './api-hub-watch.js';
import { putBytes } from './api-bytes.js';
import { compactRevisionOf } from './api-compact-revision.js';

/** Events returned when the request sets no ?limit, and the most it may ask for. */
export const defaultHistoryEvents = 1000;
export const maxHistoryEvents = 10_000;
/** A history read that has not finished by then fails with 503 (the hub is overloaded). */
export const historyTimeoutMs = 10_000;

export interface KeyHistory {
  readonly revision: number;
  readonly compact_revision: number;
  /** Oldest first; cut after `limit` events (then `truncated` is true). */
  readonly events: readonly Record<string, unknown>[];
  readonly truncated: boolean;
}

/**
 * The key's events from `startRevision` (0: the oldest still held) on, at most `limit`; a page that
 * was cut (`truncated`) continues with startRevision = its last event's mod_revision + 1. A start
 * below the compact revision is 410, as for a watch.
 */
export async function readKeyHistory(api: ServerApi, key: Buffer, limit = defaultHistoryEvents, startRevision = 0): Promise<Record<string, unknown>> {
  if (key.length === 0) throw new ApiError(400, 'emptyKey', statusByKind.emptyKey.details);
  const maxEvents = Math.min(Math.max(limit, 1), maxHistoryEvents);
  for (let attempt = 0; ; attempt++) {
    const compactRevision = await compactRevisionOf(api);
    if (startRevision > 0 && startRevision <= compactRevision) {
      throw new ApiError(410, 'compacted', statusByKind.compacted.details, { compact_revision: compactRevision });
    }
    const from = Math.max(compactRevision + 1, startRevision, 1);
    const r = await collect(api, key, from, maxEvents);
    // a compaction landed between status and the read: read again from the new start
    if (r === 'compacted' && attempt < 3) continue;
    if (r === 'compacted') throw new ApiError(410, 'compacted', statusByKind.compacted.details);
    const out: Record<string, unknown> = {};
    putBytes(out, 'key', key);
    return { ...out, revision: r.revision, compact_revision: Math.max(compactRevision, 0), events: r.events, truncated: r.truncated };
  }
}

function collect(api: ServerApi, key: Buffer, from: number, maxEvents: number): Promise<Omit<KeyHistory, 'compact_revision'> | 'compacted'> {
  return new Promise((resolve, reject) => {
    const events: Record<string, unknown>[] = [];
    let done = false;
    const finish = (v: Omit<KeyHistory, 'compact_revision'> | 'compacted' | ApiError): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // the hub may answer while the watch is still being created
      queueMicrotask(() => watch.close());
      if (v instanceof ApiError) reject(v);
      else resolve(v);
    };
    const onOutput = (o: WatchOutput): void => {
      switch (o.type) {
        case 'created':
          return;
        case 'change':
          for (const e of o.events) events.push(e);
          if (events.length >= maxEvents) finish({ revision: o.revision, events: events.slice(0, maxEvents), truncated: true });
          return;
        case 'progress':
          return finish({ revision: o.revision, events, truncated: false });
        case 'compacted':
          return finish('compacted');
        case 'failed':
          return finish(new ApiError(500, 'internal', o.message));
      }
    };
    const timer = setTimeout(() => finish(new ApiError(503, 'timeout', statusByKind.timeout.details)), historyTimeoutMs);
    const watch = new HubWatch(api.watch, { key, rangeEnd: Buffer.alloc(0), startRevision: from, prevKv: false }, onOutput, () => 0);
    watch.requestProgress();
  });
}
