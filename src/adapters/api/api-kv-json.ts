// The JSON shapes of keys, values and events in /api answers (see api-bytes.ts for non-UTF-8 bytes).
// Revisions are JSON numbers (they stay far below 2^53); lease IDs are decimal strings (int64).
import type { KeyValue } from '../../gen/etcd/mvcc/mvccpb/kv.js';
import type { KvRecord } from '../../mvcc/kv-record.js';
import type { RecordChange } from '../../mvcc/key-history-index.js';
import { keyBytes } from '../../core/keys.js';
import { putBytes } from './api-bytes.js';

export interface KvJsonOptions {
  readonly keysOnly?: boolean;
  /** Adds `value_json` when the value parses as JSON (for a console's formatted view). */
  readonly parseJson?: boolean;
}

function addJsonValue(out: Record<string, unknown>): void {
  if (typeof out.value !== 'string' || out.value_encoding !== undefined) return;
  try {
    out.value_json = JSON.parse(out.value) as unknown;
  } catch {
    // not JSON: the text value is all there is
  }
}

export function kvJson(kv: KeyValue, o: KvJsonOptions = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  putBytes(out, 'key', kv.key);
  if (o.keysOnly !== true) {
    putBytes(out, 'value', kv.value);
    if (o.parseJson === true) addJsonValue(out);
  }
  out.create_revision = Number(kv.createRevision);
  out.mod_revision = Number(kv.modRevision);
  out.version = Number(kv.version);
  out.lease = kv.lease.toString();
  return out;
}

function recordJson(r: KvRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  putBytes(out, 'key', keyBytes(r.key));
  if (r.tombstone) {
    out.mod_revision = r.modRevision;
    return out;
  }
  putBytes(out, 'value', r.value);
  out.create_revision = r.createRevision;
  out.mod_revision = r.modRevision;
  out.version = r.version;
  out.lease = r.lease.toString();
  return out;
}

/** One change as an event: `{type: "PUT"|"DELETE", kv, prev_kv?}`. */
export function eventJson(c: RecordChange, withPrev: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { type: c.record.tombstone ? 'DELETE' : 'PUT', kv: recordJson(c.record) };
  if (withPrev && c.prev !== undefined) out.prev_kv = recordJson(c.prev);
  return out;
}
