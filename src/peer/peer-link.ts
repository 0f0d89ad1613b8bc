// The sending half toward one peer: one HTTP/2 session with one long-lived POST stream whose body is
// frames of message batches. It dials when created, redials with exponential backoff after any
// failure (rotating through the peer's URLs), and never blocks its caller: send() queues (bounded)
// and a flush on the next turn writes everything queued as few frames as the batch bound allows.
// While the stream's write buffer is full nothing more is written; messages wait in the queue and
// go out together after 'drain'. A failure drops what is queued and reports the peer unreachable,
// as etcd's stream writer does; Raft resends what matters.
import type http2 from 'node:http2';
import type { Logger } from '../server/logger.js';
import { formatId } from '../server/member-id.js';
import type { Message } from '../raft/types.js';
import { encodeBatch, encodedMessageSize } from './message-codec.js';
import { frameHeaderBytes, linkHeartbeatFrame, writeFrameHeader } from './frame-reader.js';
import { OutboundQueue, type OutboundQueueLimits } from './outbound-queue.js';
import { dialPeer, type PeerHttp2Limits, type PeerTls } from './peer-endpoints.js';
import { handshakeHeaders, memberRemovedText, peerPaths, refusalText, type HandshakeIdentity } from './peer-protocol.js';
import { readBoundedText } from './read-bounded.js';

export interface PeerLinkLimits extends OutboundQueueLimits {
  /** Largest frame payload (maxPeerMessageBytes); a single message above it can never be sent. */
  readonly maxFrameBytes: number;
  /** A dial (TCP connect plus the handshake's answer) that takes longer is a failure. */
  readonly dialTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  /** An idle stream gets an empty frame this often, so the listener's read timeout sees it alive. */
  readonly linkHeartbeatIntervalMs: number;
  /**
   * A stream whose write waits for 'drain' this long (peer not reading) is dropped (etcd's
   * ConnWriteTimeout); checked on each heartbeat tick.
   */
  readonly streamWriteTimeoutMs: number;
  /** HTTP/2 PING on the session this often; its round trip is the peer's RTT (etcd's prober). */
  readonly probeIntervalMs: number;
  /** An unanswered PING older than this means the connection is dead. */
  readonly probeTimeoutMs: number;
}

export interface PeerLinkDeps {
  readonly self: HandshakeIdentity;
  readonly limits: PeerLinkLimits;
  readonly http2Limits: PeerHttp2Limits;
  readonly tls?: PeerTls;
  readonly logger: Logger;
  readonly onUnreachable: (peer: bigint) => void;
  /** The peer answered 410: this member was removed from the cluster. */
  readonly onRemoved: (byPeer: bigint) => void;
}

export interface PeerLinkStats {
  framesSent: number;
  messagesSent: number;
  bytesSent: number;
  messagesDropped: number;
  /** Last PING round trip, ms; undefined before the first answer. */
  roundTripMs: number | undefined;
  /** Since when the stream has been working (etcd's ActiveSince); undefined while it is not. */
  activeSince: Date | undefined;
}

/** 'down': the link is waiting to redial; like etcd, nothing is kept for a peer known to be unreachable. */
export type EnqueueResult = 'queued' | 'full' | 'tooLarge' | 'down';

/** Largest number of bytes read from a refusal's body (etcd's texts are a few words). */
const maxRefusalBodyBytes = 1024;
/** How long close() lets queued frames leave before the session is destroyed. */
const closeGraceMs = 500;

type LinkState = 'connecting' | 'active' | 'backoff' | 'closed';

export class PeerLink {
  readonly stats: PeerLinkStats = {
    framesSent: 0,
    messagesSent: 0,
    bytesSent: 0,
    messagesDropped: 0,
    roundTripMs: undefined,
    activeSince: undefined,
  };
  private readonly queue: OutboundQueue;
  private readonly log: Logger;
  private state: LinkState = 'connecting';
  /** Bumped on every (re)connect; events from an older attempt are ignored. */
  private attempt = 0;
  private urls: readonly string[];
  private urlIndex = 0;
  private session: http2.ClientHttp2Session | undefined;
  private stream: http2.ClientHttp2Stream | undefined;
  private blocked = false;
  /** When the current write started waiting for 'drain' (node's own stream timeout counts any frame on the session, PINGs included, as progress). */
  private blockedSince = 0;
  private flushScheduled = false;
  private wroteSinceHeartbeat = false;
  private backoffMs: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private dialTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private pingSentAt: number | undefined;

  constructor(
    readonly id: bigint,
    urls: readonly string[],
    private readonly deps: PeerLinkDeps,
  ) {
    this.urls = urls;
    this.queue = new OutboundQueue(deps.limits);
    this.backoffMs = deps.limits.reconnectMinMs;
    this.log = deps.logger;
    this.connect();
  }

  isActive(): boolean {
    return this.state === 'active';
  }

  get peerUrls(): readonly string[] {
    return this.urls;
  }

  enqueue(message: Message): EnqueueResult {
    const bytes = encodedMessageSize(message);
    // the batch count's varint is at most 3 bytes for any batch under the frame limit
    if (bytes + 3 > this.deps.limits.maxFrameBytes) {
      this.stats.messagesDropped++;
      return 'tooLarge';
    }
    if (this.state === 'backoff' || this.state === 'closed') {
      this.stats.messagesDropped++;
      return 'down';
    }
    if (!this.queue.push(message, bytes)) {
      this.stats.messagesDropped++;
      return 'full';
    }
    this.scheduleFlush();
    return 'queued';
  }

  /** New URLs for the peer; the connection is remade only if its URL is no longer among them. */
  updateUrls(urls: readonly string[]): void {
    const current = this.urls[this.urlIndex % this.urls.length];
    this.urls = urls;
    this.urlIndex = 0;
    if (current !== undefined && urls.includes(current)) {
      this.urlIndex = urls.indexOf(current);
      return;
    }
    if (this.state === 'closed') return;
    if (this.state !== 'backoff') this.fail(this.attempt, 'peer URLs changed', false);
    clearTimeout(this.reconnectTimer);
    this.urlIndex = 0;
    this.connect();
  }

  close(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    this.state = 'closed';
    this.attempt++;
    this.clearTimers();
    this.queue.clear();
    const session = this.session;
    const stream = this.stream;
    this.session = undefined;
    this.stream = undefined;
    if (session === undefined || session.destroyed) return Promise.resolve();
    if (stream === undefined || stream.destroyed) {
      session.destroy();
      return Promise.resolve();
    }
    // end the stream so frames already written reach the peer, which ends its side in turn; then the
    // session goes (destroy, not close: a closed session waits for the peer to drop the TCP connection)
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        session.destroy();
        resolve();
      };
      const timer = setTimeout(done, closeGraceMs);
      stream.once('close', done);
      stream.end();
    });
  }

  // --- connection lifecycle ---------------------------------------------------------------------

  private connect(): void {
    if (this.state === 'closed') return;
    const attempt = ++this.attempt;
    this.state = 'connecting';
    this.blocked = false;
    const url = this.urls[this.urlIndex % this.urls.length];
    if (url === undefined) {
      this.fail(attempt, 'peer has no URLs', true);
      return;
    }
    let session: http2.ClientHttp2Session;
    try {
      session = dialPeer(url, this.deps.http2Limits, this.deps.tls);
    } catch (err) {
      this.fail(attempt, `cannot dial ${url}: ${(err as Error).message}`, true);
      return;
    }
    this.session = session;
    // once a refusal is being read, its text decides how the attempt ends, not the close that follows
    let refused = false;
    const lost = (reason: string): void => {
      if (!refused) this.fail(attempt, reason, true);
    };
    session.on('error', (err) => lost(`connection to ${url} failed: ${err.message}`));
    session.on('close', () => lost(`connection to ${url} closed`));
    this.dialTimer = setTimeout(() => this.fail(attempt, `no answer from ${url} within ${this.deps.limits.dialTimeoutMs} ms`, true), this.deps.limits.dialTimeoutMs);

    const stream = session.request(
      { ':method': 'POST', ':path': peerPaths.messages, ...handshakeHeaders(this.deps.self, this.id) },
      { endStream: false },
    );
    this.stream = stream;
    stream.on('error', (err) => lost(`stream to ${url} failed: ${err.message}`));
    stream.on('close', () => lost(`stream to ${url} closed`));
    stream.on('response', (headers) => {
      if (attempt !== this.attempt) return;
      clearTimeout(this.dialTimer);
      const status = headers[':status'];
      if (status === 200) {
        this.activate(attempt, url);
        return;
      }
      refused = true;
      void readBoundedText(stream, maxRefusalBodyBytes).then((text) => this.refused(attempt, url, status ?? 0, text));
    });
  }

  private activate(attempt: number, url: string): void {
    if (attempt !== this.attempt) return;
    this.state = 'active';
    this.stats.activeSince = new Date();
    this.backoffMs = this.deps.limits.reconnectMinMs;
    this.log.info('peer became active', { 'remote-peer-id': formatId(this.id), url });
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.deps.limits.linkHeartbeatIntervalMs);
    this.probeTimer = setInterval(() => this.probe(attempt), this.deps.limits.probeIntervalMs);
    this.flush();
  }

  private refused(attempt: number, url: string, status: number, text: string): void {
    if (attempt !== this.attempt) return;
    const fields = { 'remote-peer-id': formatId(this.id), url, status, reason: text };
    if (status === 410) {
      this.log.error(memberRemovedText, fields);
      this.deps.onRemoved(this.id);
    } else if (text === refusalText.clusterIdMismatch) {
      this.log.warn('request sent was ignored by remote peer due to cluster ID mismatch', {
        ...fields,
        'local-member-cluster-id': formatId(this.deps.self.clusterId),
      });
    } else {
      this.log.warn('peer refused the message stream', fields);
    }
    this.fail(attempt, `refused with ${status} ${text}`, true);
  }

  /** Ends the attempt: drops what is queued, reports the peer unreachable, redials after backoff. */
  private fail(attempt: number, reason: string, report: boolean): void {
    if (attempt !== this.attempt || this.state === 'closed') return;
    this.attempt++;
    const wasActive = this.state === 'active';
    this.clearTimers();
    const session = this.session;
    this.session = undefined;
    this.stream = undefined;
    session?.destroy();
    this.state = 'backoff';
    this.stats.activeSince = undefined;
    const dropped = this.queue.clear();
    this.stats.messagesDropped += dropped;
    const fields = { 'remote-peer-id': formatId(this.id), reason, 'dropped-messages': dropped };
    if (wasActive) this.log.warn('peer became inactive (message send to peer failed)', fields);
    else this.log.debug('peer connection attempt failed', fields);
    if (this.urls.length > 0) this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    if (report) this.deps.onUnreachable(this.id);
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.deps.limits.reconnectMaxMs);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private clearTimers(): void {
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.dialTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.probeTimer);
    this.pingSentAt = undefined;
  }

  // --- writing ----------------------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const stream = this.stream;
    if (this.state !== 'active' || this.blocked || stream === undefined) return;
    while (this.queue.length > 0) {
      const { messages } = this.queue.takeBatch();
      let frame: Uint8Array;
      try {
        frame = encodeBatch(messages, frameHeaderBytes);
      } catch (err) {
        // only a message our own Raft could not have made (a negative or fractional number) gets here
        this.stats.messagesDropped += messages.length;
        this.log.error('dropped a batch that cannot be encoded', { 'remote-peer-id': formatId(this.id), error: err });
        continue;
      }
      writeFrameHeader(frame, frame.length - frameHeaderBytes);
      this.stats.framesSent++;
      this.stats.messagesSent += messages.length;
      this.stats.bytesSent += frame.length;
      this.wroteSinceHeartbeat = true;
      if (!stream.write(frame)) {
        this.blocked = true;
        this.blockedSince = Date.now();
        const attempt = this.attempt;
        stream.once('drain', () => {
          if (attempt !== this.attempt) return;
          this.blocked = false;
          this.flush();
        });
        return;
      }
    }
  }

  private heartbeat(): void {
    if (this.blocked && Date.now() - this.blockedSince > this.deps.limits.streamWriteTimeoutMs) {
      this.fail(this.attempt, `stream made no progress for ${this.deps.limits.streamWriteTimeoutMs} ms`, true);
      return;
    }
    if (!this.wroteSinceHeartbeat && !this.blocked && this.stream !== undefined) this.stream.write(linkHeartbeatFrame);
    this.wroteSinceHeartbeat = false;
  }

  private probe(attempt: number): void {
    const session = this.session;
    if (attempt !== this.attempt || session === undefined) return;
    if (this.pingSentAt !== undefined) {
      if (Date.now() - this.pingSentAt > this.deps.limits.probeTimeoutMs) {
        this.fail(attempt, `no answer to a PING within ${this.deps.limits.probeTimeoutMs} ms`, true);
      }
      return;
    }
    this.pingSentAt = Date.now();
    try {
      session.ping((err, durationMs) => {
        if (attempt !== this.attempt) return;
        this.pingSentAt = undefined;
        if (err) this.fail(attempt, `PING failed: ${err.message}`, true);
        else this.stats.roundTripMs = durationMs;
      });
    } catch {
      // too many outstanding pings or the session is closing: the next probe decides
      this.pingSentAt = undefined;
    }
  }
}
