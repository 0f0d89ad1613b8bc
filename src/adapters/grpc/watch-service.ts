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
import type { EventBatch, WatchApi, WatchControlResponse, WatchCreate, WatchStreamSink, WatchTarget } from '../../core/watch-api.js';
import { grpcOverheadBytes } from './request-size-limit.js';
import { bidi, type GrpcServiceModule, type RequestListener, type ResponseStream } from './service-module.js';
import { WatchResponseEncoder } from './watch-response-encoder.js';
import type { ServerApi } from '../../core/kv-api.js';
import type { CallContext } from './server-call.js';
import { isEtcdError, type EtcdErrorKind } from '../../core/errors.js';
import type { AuthFront } from '../../auth/auth-front.js';

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

/** etcd's cancel reasons for a watch its caller may not create (v3rpc/watch.go recvLoop): a gRPC status's text. */
const watchRefusalReasons: Partial<Record<EtcdErrorKind, string>> = {
  authInvalidToken: 'rpc error: code = Unauthenticated desc = etcdserver: invalid auth token',
  authOldRevision: 'rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old',
  authUserEmpty: 'rpc error: code = InvalidArgument desc = etcdserver: user name is empty',
};
const permissionDeniedReason = 'rpc error: code = PermissionDenied desc = etcdserver: permission denied';

/**
 * etcd's isWatchPermitted, made for every create request (etcd reads the stream's token each time):
 * a stream opened before `auth enable`, or whose token was since invalidated (a new password, auth
 * disabled, its TTL), is checked as the caller stands at that create. Synchronous (undefined) when
 * nothing can refuse: auth off and no token sent.
 */
function createRefusal(auth: AuthFront, call: CallContext, req: WatchCreateRequest): Promise<string | undefined> | undefined {
  if (!auth.enabled && call.metadata['token'] === undefined && call.metadata['authorization'] === undefined) return undefined;
  return auth.caller(call.metadata, call.verifiedCommonName).then(
    (h) => auth.state.refusal(h, req.key, req.rangeEnd, 'read'),
    (e: unknown): EtcdErrorKind => (isEtcdError(e) ? e.kind : 'authInvalidToken'),
  ).then((kind) => (kind === undefined ? undefined : (watchRefusalReasons[kind] ?? permissionDeniedReason)));
}

/**
 * Where the hub's answers for one stream go. A class, not an object literal: a literal's getter gives
 * every stream a map of its own, and the hub reads `backlogBytes` of every stream per revision.
 */
class GrpcWatchSink implements WatchStreamSink {
  closed = false;

  constructor(
    private readonly out: ResponseStream<WatchResponse>,
    private readonly encoder: WatchResponseEncoder,
  ) {}

  send(res: WatchControlResponse): void {
    if (!this.closed) this.out.write(this.encoder.encode(res));
  }

  events(targets: readonly WatchTarget[], revision: number, batch: EventBatch, backlogLimitBytes: number): number {
    // a closed stream takes everything: the hub hears of the close and retires its watchers
    if (this.closed) return targets.length;
    return this.encoder.writeEvents(this.out, targets, revision, batch, backlogLimitBytes - this.out.backlogBytes);
  }

  get backlogBytes(): number {
    return this.out.backlogBytes;
  }
}

function serveWatchStream(out: ResponseStream<WatchResponse>, hub: WatchApi, encoder: WatchResponseEncoder, api: ServerApi, call: CallContext): RequestListener<WatchRequest> {
  const sink = new GrpcWatchSink(out, encoder);
  const stream = hub.openStream(sink);
  out.onDrained(() => {
    if (!sink.closed) hub.receive({ type: 'drained', stream });
  });
  // The call ends when the client cancels or goes away, or with a status (an oversized request:
  // grpc-go fails Recv with it and etcd's Watch returns it).
  out.onEnd(() => {
    if (sink.closed) return;
    sink.closed = true;
    hub.receive({ type: 'close', stream });
  });
  return {
    message(req) {
      if (sink.closed) return;
      // A request with no member set is ignored, as etcd does.
      if (req.createRequest !== undefined) {
        const create = req.createRequest;
        const refusal = api.auth === undefined ? undefined : createRefusal(api.auth, call, create);
        if (refusal === undefined) hub.receive({ type: 'create', stream, create: toWatchCreate(create) });
        else {
          // Reading waits for the check, so the stream's requests keep their order.
          call.pauseReading();
          void refusal
            .then((refused) => {
              if (sink.closed) return;
              // etcd answers created and canceled at once, with watch ID -1 and the refusal as reason.
              if (refused !== undefined) out.send({ header: api.header(), watchId: -1n, created: true, canceled: true, compactRevision: 0n, cancelReason: refused, fragment: false, events: [] });
              else hub.receive({ type: 'create', stream, create: toWatchCreate(create) });
            })
            .finally(() => call.resumeReading());
        }
      } else if (req.cancelRequest !== undefined) hub.receive({ type: 'cancel', stream, watchId: req.cancelRequest.watchId });
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
    return [bidi(WatchService.watch, (call, out) => serveWatchStream(out, hub, encoder, ctx.api, call))];
  },
};
