// Maintenance.Snapshot's stream, as etcd sends it (etcdserver/api/v3rpc/maintenance.go): the bbolt
// file in chunks, each with the bytes still to come after it (remaining_bytes), then one message
// holding the file's SHA-256 with remaining_bytes 0 (etcd's 32 KiB messages). A slow client pauses
// the reading of the file.
import { snapshotChunkBytes } from '../../bbolt/index.js';
import type { ServerApi } from '../../core/kv-api.js';
import { MaintenanceService, type SnapshotResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { CallContext } from './server-call.js';
import { unknownMethodStatus, type ResponseStream } from './service-module.js';
import { drained } from './stream-drained.js';
import { SnapshotExportError } from '../../snapshot/snapshot-errors.js';
import { GrpcStatusError, type GrpcStatus } from './error-status.js';
import { Status } from './grpc-codes.js';
import { SnapshotChunkMessage } from './snapshot-message.js';

/** Busy and a full disk are a resource running out; a lagging engine is worth a retry; a gone client cancelled. */
function snapshotRefusal(err: SnapshotExportError): GrpcStatus {
  const code = err.kind === 'not-persisted' ? Status.UNAVAILABLE : err.kind === 'aborted' ? Status.CANCELLED : Status.RESOURCE_EXHAUSTED;
  return { code, details: err.message };
}

export async function serveSnapshot(api: ServerApi, call: CallContext, out: ResponseStream<SnapshotResponse>): Promise<void> {
  if (api.snapshot === undefined) {
    // A server without snapshots answers as one without the method (grpc-go's text).
    out.end(unknownMethodStatus(MaintenanceService.snapshot.path));
    return;
  }
  let image;
  try {
    image = await api.snapshot(call.signal);
  } catch (err) {
    if (err instanceof SnapshotExportError) throw new GrpcStatusError(snapshotRefusal(err));
    throw err;
  }
  let sent = 0;
  const chunks = image.chunks()[Symbol.asyncIterator]();
  try {
    // The next read of the image (and its hashing) runs while the client takes the current one.
    const readNext = (): Promise<IteratorResult<Uint8Array>> => {
      const read = chunks.next();
      read.catch(() => undefined); // awaited below; not an unhandled rejection if the call ends first
      return read;
    };
    let next = readNext();
    for (let read = await next; read.done !== true; read = await next) {
      next = readNext();
      const chunk = read.value;
      for (let at = 0; at < chunk.length; at += snapshotChunkBytes) {
        if (call.signal.aborted) return;
        const blob = chunk.subarray(at, Math.min(at + snapshotChunkBytes, chunk.length));
        sent += blob.length;
        const more = out.write(new SnapshotChunkMessage(Math.max(0, image.dbBytes - sent), blob));
        if (!more) await drained(out, call.signal);
      }
    }
  } finally {
    await chunks.return?.(undefined);
    await image.discard();
  }
}
