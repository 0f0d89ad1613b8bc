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

export async function serveSnapshot(api: ServerApi, call: CallContext, out: ResponseStream<SnapshotResponse>): Promise<void> {
  if (api.snapshot === undefined) {
    // A server without snapshots answers as one without the method (grpc-go's text).
    out.end(unknownMethodStatus(MaintenanceService.snapshot.path));
    return;
  }
  const image = await api.snapshot();
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
