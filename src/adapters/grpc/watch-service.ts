// etcdserverpb.Watch: one bidirectional stream carries many watches. Requests are normalised as
// etcd's recvLoop does (v3rpc/watch.go) and handed to the watch hub; the hub's answers are encoded
// here (events once per batch, see watch-response-encoder.ts) and written in the hub's order.
import {
  WatchCreateRequest_FilterType,
  WatchService,
  type WatchCreateRequest,
  type WatchRequest,
  type WatchResponse,
} from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { keyRange } from '../../core/keys.js';
import type { WatchApi, WatchCreate, WatchStreamSink } from '../../core/watch-api.js';
import { grpcOverheadBytes } from './request-size-limit.js';
import { bidi, type GrpcServiceModule, type RequestListener, type ResponseStream } from './service-module.js';
import { WatchResponseEncoder } from './watch-response-encoder.js';

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

function serveWatchStream(out: ResponseStream<WatchResponse>, hub: WatchApi, encoder: WatchResponseEncoder): RequestListener<WatchRequest> {
  let closed = false;
  const sink: WatchStreamSink = {
    send(res) {
      if (closed) return;
      for (const message of encoder.encode(res)) out.write(message);
    },
    get backlogBytes() {
      return out.backlogBytes;
    },
  };
  const stream = hub.openStream(sink);
  out.onDrained(() => {
    if (!closed) hub.receive({ type: 'drained', stream });
  });
  // The call ends when the client cancels or goes away, or with a status (an oversized request:
  // grpc-go fails Recv with it and etcd's Watch returns it).
  out.onEnd(() => {
    if (closed) return;
    closed = true;
    hub.receive({ type: 'close', stream });
  });
  return {
    message(req) {
      if (closed) return;
      // A request with no member set is ignored, as etcd does.
      if (req.createRequest !== undefined) hub.receive({ type: 'create', stream, create: toWatchCreate(req.createRequest) });
      else if (req.cancelRequest !== undefined) hub.receive({ type: 'cancel', stream, watchId: req.cancelRequest.watchId });
      else if (req.progressRequest !== undefined) hub.receive({ type: 'progress', stream });
    },
    // A client that half-closes keeps receiving, as from etcd; the stream ends when the call does.
  };
}

export const watchServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.Watch',
  methods(ctx) {
    const hub = ctx.api.watch;
    const encoder = new WatchResponseEncoder((revision) => ctx.api.header(revision), ctx.maxRequestBytes + grpcOverheadBytes);
    // Answers are written as the encoder made them (out.write), never through responseSerialize.
    return [bidi(WatchService.watch, (_call, out) => serveWatchStream(out, hub, encoder))];
  },
};
