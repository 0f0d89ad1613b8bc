// etcd's keepalive enforcement (embed/etcd.go: MinTime 5 s, PermitWithoutStream false), as grpc-go's
// HTTP/2 server applies it to each connection (internal/transport/http2_server.go handlePing): a
// client PING sooner than 5 s after its last one while streams are open, or sooner than 2 h when
// none are, is a strike; the third strike closes the connection with GOAWAY ENHANCE_YOUR_CALM and
// debug data `too_many_pings`. grpc-go clears the strikes whenever it writes a HEADERS or DATA
// frame, because its clients answer received data with BDP pings. node does not tell JavaScript
// about frames, only about writes, and one write can leave as many DATA frames over a long time (a
// 4 MiB answer to a slow reader), each answered with a ping; so here a ping is never a strike while
// data flows: while a write has not finished leaving, when the server wrote since the previous ping,
// or did within the last min-time before it. Pure: the connection says what happened, with the time.

/** etcd: embed.DefaultGRPCKeepAliveMinTime. */
export const defaultKeepaliveMinTimeMs = 5_000;
/** grpc-go: defaultPingTimeout, the least time between pings on a connection with no streams. */
export const idlePingMinTimeMs = 2 * 60 * 60 * 1000;
/** grpc-go: maxPingStrikes; one more closes the connection. */
export const maxPingStrikes = 2;

/**
 * `dataFlowing`: this ping found data written since the one before, so every ping of the next
 * min-time is fine whatever it finds, and the connection need not look at them (node calls into
 * JavaScript for each PING only while someone listens, which a watch stream's BDP pings make costly).
 */
export type PingVerdict = 'ok' | 'dataFlowing' | 'tooManyPings';

export class KeepalivePolicy {
  private activeStreams = 0;
  private strikes = 0;
  private lastPingAtMs: number | undefined;
  private respondedSincePing = false;
  /** Writes handed to node whose data has not all left yet (their DATA frames may still be going out). */
  private unfinishedWrites = 0;
  /** When a ping last found that the server had written since the ping before it. */
  private dataSeenAtMs: number | undefined;

  constructor(readonly minTimeMs: number = defaultKeepaliveMinTimeMs) {}

  streamOpened(): void {
    this.activeStreams++;
  }

  /** gRPC calls open on the connection now. */
  get openStreams(): number {
    return this.activeStreams;
  }

  streamClosed(): void {
    this.activeStreams--;
  }

  responded(): void {
    this.respondedSincePing = true;
  }

  writeStarted(): void {
    this.unfinishedWrites++;
  }

  writeFinished(): void {
    this.unfinishedWrites--;
  }

  ping(nowMs: number): PingVerdict {
    const last = this.lastPingAtMs;
    this.lastPingAtMs = nowMs;
    if (this.respondedSincePing || this.unfinishedWrites > 0) {
      this.respondedSincePing = false;
      this.dataSeenAtMs = nowMs;
      this.strikes = 0;
      return 'dataFlowing';
    }
    if (this.dataSeenAtMs !== undefined && nowMs - this.dataSeenAtMs < this.minTimeMs) return 'ok';
    const minTimeMs = this.activeStreams < 1 ? idlePingMinTimeMs : this.minTimeMs;
    if (last !== undefined && nowMs - last < minTimeMs) this.strikes++;
    return this.strikes > maxPingStrikes ? 'tooManyPings' : 'ok';
  }
}
