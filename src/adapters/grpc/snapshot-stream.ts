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
  try {
    for await (const chunk of image.chunks()) {
      for (let at = 0; at < chunk.length; at += snapshotChunkBytes) {
        if (call.signal.aborted) return;
        const blob = Buffer.from(chunk.buffer, chunk.byteOffset + at, Math.min(snapshotChunkBytes, chunk.length - at));
        sent += blob.length;
        const more = out.send({ header: undefined, remainingBytes: BigInt(Math.max(0, image.dbBytes - sent)), blob });
        if (!more) await drained(out, call.signal);
      }
    }
  } finally {
    await image.discard();
  }
}
