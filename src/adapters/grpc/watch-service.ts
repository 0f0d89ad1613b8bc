// etcdserverpb.Watch: one bidirectional stream carries many watches. Requests are normalised as
// etcd's recvLoop does (v3rpc/watch.go) and handed to the watch hub; the hub's answers are encoded
// here (events once per batch, see watch-response-encoder.ts) and written in the hub's order.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import {
  WatchCreateRequest_FilterType,
  WatchService,
  type WatchCreateRequest,
  type WatchRequest,
} from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { keyRange } from '../../core/keys.js';
import type { WatchApi, WatchCreate, WatchStreamSink } from '../../core/watch-api.js';
import { OversizeRequest, grpcOverheadBytes } from './request-size-limit.js';
import { toGrpcStatus, toServiceError } from './error-status.js';
import type { GrpcServiceContext, GrpcServiceModule } from './service-module.js';
import { WatchResponseEncoder } from './watch-response-encoder.js';
import { BatchedStreamWriter } from './batched-stream-writer.js';

const smallestKey = Buffer.from([0]);

/** etcd's recvLoop: an empty key is "\0", the smallest key; range_end keeps keyRange's conventions. */
export function toWatchCreate(req: WatchCreateRequest): WatchCreate {
  const key = req.key.length === 0 ? smallestKey : req.key;
  return {
    range: keyRange(key, req.rangeEnd),
    startRevision: req.startRevision,
    watchId: req.watchId,
    progressNotify: req.progressNotify,
    prevKv: req.prevKv,
    fragment: req.fragment,
    noPut: req.filters.includes(WatchCreateRequest_FilterType.NOPUT),
    noDelete: req.filters.includes(WatchCreateRequest_FilterType.NODELETE),
  };
}

type WatchCall = ServerDuplexStream<WatchRequest | OversizeRequest, Buffer>;

function serveWatchStream(call: WatchCall, hub: WatchApi, encoder: WatchResponseEncoder, ctx: GrpcServiceContext): void {
  let closed = false;
  const writer = new BatchedStreamWriter(call, () => {
    if (!closed) hub.receive({ type: 'drained', stream });
  });
  const sink: WatchStreamSink = {
    send(res) {
      if (closed) return;
      for (const message of encoder.encode(res)) writer.write(message);
    },
    get backlogBytes() {
      return writer.backlogBytes;
    },
  };
  const stream = hub.openStream(sink);
  const close = (): void => {
    if (closed) return;
    closed = true;
    hub.receive({ type: 'close', stream });
  };
  call.on('data', (req: WatchRequest | OversizeRequest) => {
    if (closed) return;
    if (req instanceof OversizeRequest) {
      // grpc-go fails Recv with this status and etcd's Watch returns it, ending the stream.
      close();
      call.emit('error', toServiceError(toGrpcStatus(req.toError(), ctx.log)));
      return;
    }
    // A request with no member set is ignored, as etcd does.
    if (req.createRequest !== undefined) hub.receive({ type: 'create', stream, create: toWatchCreate(req.createRequest) });
    else if (req.cancelRequest !== undefined) hub.receive({ type: 'cancel', stream, watchId: req.cancelRequest.watchId });
    else if (req.progressRequest !== undefined) hub.receive({ type: 'progress', stream });
  });
  // A client that half-closes keeps receiving, as from etcd; the stream ends when the call does.
  call.on('cancelled', close);
  call.on('error', close);
  call.on('close', close);
  call.on('finish', close);
}

export const watchServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.Watch',
  register(server, ctx) {
    const hub = ctx.api.watch;
    const encoder = new WatchResponseEncoder((revision) => ctx.api.header(revision), ctx.maxRequestBytes + grpcOverheadBytes);
    // Answers arrive already encoded.
    const service = { ...WatchService, watch: { ...WatchService.watch, responseSerialize: (b: Buffer): Buffer => b } };
    server.addService(service, {
      watch: (call: WatchCall) => serveWatchStream(call, hub, encoder, ctx),
    });
  },
};
