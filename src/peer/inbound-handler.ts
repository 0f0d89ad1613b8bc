// The listening half: checks each dialler's handshake, reads message streams frame by frame and
// hands validated batches to the application, receives snapshots, and answers /members and
// /raft/probing. Anything malformed (bad frame, bad message, a message not from the stream's sender
// or not for us) drops that peer's connection and nothing else. Memory held per connection is at
// most one partial frame (bounded by maxFrameBytes, and only what actually arrived); a connection
// that stops sending mid-frame is dropped after streamReadTimeoutMs.
import http2 from 'node:http2';
import type { Logger } from '../server/logger.js';
import { formatId } from '../server/member-id.js';
import { MessageType, type Message } from '../raft/types.js';
import { FrameReader } from './frame-reader.js';
import { decodeBatch, decodeMessage, describeCodecError } from './message-codec.js';
import { advertisedLogFeatures, checkHandshake, peerHeaders, peerPaths, type HandshakeIdentity, type HandshakeVerdict } from './peer-protocol.js';
import { parsePromotePath, type PromoteAnswer } from './promote-request.js';
import { callMethodPattern, type PeerCallAnswer, type PeerCallHandler } from './peer-call.js';
import { readBounded } from './read-bounded.js';

export interface InboundLimits {
  readonly maxFrameBytes: number;
  /** A message stream silent this long (no frame, no link heartbeat) is dropped (etcd's ConnReadTimeout). */
  readonly streamReadTimeoutMs: number;
  /** A connection with no accepted stream is closed after this long (covers a peer that connects and says nothing). */
  readonly handshakeTimeoutMs: number;
  /** A snapshot body that makes no progress this long is abandoned. */
  readonly snapshotStallTimeoutMs: number;
  /** Snapshots received at once (at most one per sender). */
  readonly maxInboundSnapshots: number;
  /** Largest call request body accepted. */
  readonly maxCallRequestBytes: number;
  /** Calls being served at once, from all peers; more are answered 503. */
  readonly maxInboundCalls: number;
  /** A call handler that has not answered within this is answered 503 (the caller retries). */
  readonly callAnswerTimeoutMs: number;
}

export interface InboundDeps {
  readonly self: HandshakeIdentity;
  readonly limits: InboundLimits;
  readonly logger: Logger;
  isKnownPeer(id: bigint): boolean;
  isRemoved(id: bigint): boolean;
  onMessages(messages: readonly Message[]): void;
  receiveSnapshot(message: Message, state: AsyncIterable<Uint8Array>): Promise<void>;
  membersJson(): unknown;
  /** POST /members/promote/<id>, forwarded by a follower: only the leader can tell if the learner is in sync. */
  promoteMember(id: bigint): Promise<PromoteAnswer>;
  /** Serves /lattice/peer/call/<method>; absent: calls are answered 404. */
  handleCall?: PeerCallHandler;
}

export interface InboundStats {
  framesReceived: number;
  messagesReceived: number;
  /** Connections dropped for a malformed frame or message, or for stalling. */
  connectionsDropped: number;
  /** Handshakes refused (412, 404, 410). */
  refused: number;
}

/** Messages a member makes for itself; one arriving from the network is malformed. */
const localOnlyTypes: ReadonlySet<MessageType> = new Set([
  MessageType.Hup,
  MessageType.Beat,
  MessageType.Unreachable,
  MessageType.SnapStatus,
  MessageType.CheckQuorum,
]);

const jsonReplacer = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);

export class InboundHandler {
  readonly stats: InboundStats = { framesReceived: 0, messagesReceived: 0, connectionsDropped: 0, refused: 0 };
  /** Message-stream bytes received, per sending peer (etcd_network_peer_received_bytes_total). */
  readonly bytesReceived = new Map<bigint, number>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Accepted streams per session: a session with none is back under the handshake timeout. */
  private readonly accepted = new WeakMap<http2.Http2Session, number>();
  private readonly messageStreams = new Map<bigint, http2.ServerHttp2Stream>();
  /** What each peer's current message stream advertised in its handshake (dropped with the stream). */
  private readonly peerLogFeatures = new Map<bigint, ReadonlySet<string>>();
  private readonly snapshotStreams = new Map<bigint, http2.ServerHttp2Stream>();
  private readonly log: Logger;
  private callsInFlight = 0;

  constructor(private readonly deps: InboundDeps) {
    this.log = deps.logger;
  }

  readonly onSession = (session: http2.ServerHttp2Session): void => {
    this.sessions.add(session);
    session.on('close', () => this.sessions.delete(session));
    session.on('error', () => undefined);
    session.on('timeout', () => {
      this.log.debug('closed a peer connection with no accepted stream', { 'timeout-ms': this.deps.limits.handshakeTimeoutMs });
      session.destroy();
    });
    this.armHandshakeTimeout(session);
  };

  readonly onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    stream.on('error', () => undefined);
    const path = headers[':path'];
    const method = headers[':method'];
    if (path === peerPaths.messages && method === 'POST') this.acceptMessageStream(stream, headers);
    else if (path === peerPaths.snapshot && method === 'POST') this.acceptSnapshot(stream, headers);
    else if (path === peerPaths.members && method === 'GET') this.answerJson(stream, () => this.deps.membersJson());
    else if (path === peerPaths.probing && method === 'GET') this.answerJson(stream, () => ({ health: true }));
    else if (method === 'POST' && typeof path === 'string' && parsePromotePath(path) !== undefined) {
      void this.deps.promoteMember(parsePromotePath(path)!).then(
        (answer) => this.answerJson(stream, () => answer),
        (err: unknown) => {
          this.log.warn('forwarded member promote failed', { error: err });
          this.answerText(stream, 500, 'internal error');
        },
      );
    }
    else if (path?.startsWith(peerPaths.calls) === true && method === 'POST') void this.serveCall(stream, headers, path.slice(peerPaths.calls.length));
    else if (path === peerPaths.messages || path === peerPaths.snapshot || path === peerPaths.members || path === peerPaths.probing) {
      this.answerText(stream, 405, 'Method Not Allowed');
    } else this.answerText(stream, 404, 'not found');
  };

  /** Closes a removed peer's inbound streams. */
  dropPeer(id: bigint): void {
    this.messageStreams.get(id)?.close(http2.constants.NGHTTP2_CANCEL);
    this.snapshotStreams.get(id)?.close(http2.constants.NGHTTP2_CANCEL);
  }

  isReceivingFrom(id: bigint): boolean {
    return this.messageStreams.has(id);
  }

  /** Whether the peer's open message stream advertised it can apply `feature` (false with no stream). */
  peerAdvertises(id: bigint, feature: string): boolean {
    return this.peerLogFeatures.get(id)?.has(feature) ?? false;
  }

  close(): void {
    for (const session of this.sessions) session.destroy();
    this.sessions.clear();
  }

  // --- message streams --------------------------------------------------------------------------

  private acceptMessageStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const from = this.handshake(stream, headers);
    if (from === undefined) return;
    const peer = formatId(from);
    // one message stream per sender: a redial replaces the stream it left behind
    this.messageStreams.get(from)?.close(http2.constants.NGHTTP2_CANCEL);
    this.messageStreams.set(from, stream);
    this.peerLogFeatures.set(from, advertisedLogFeatures(headers));
    stream.on('close', () => {
      if (this.messageStreams.get(from) !== stream) return;
      this.messageStreams.delete(from);
      this.peerLogFeatures.delete(from);
    });
    stream.setTimeout(this.deps.limits.streamReadTimeoutMs, () =>
      this.dropConnection(stream, peer, `nothing received for ${this.deps.limits.streamReadTimeoutMs} ms`),
    );
    stream.respond({ ':status': 200, [peerHeaders.clusterId]: formatId(this.deps.self.clusterId) });

    const reader = new FrameReader(this.deps.limits.maxFrameBytes);
    stream.on('data', (chunk: Buffer) => {
      this.bytesReceived.set(from, (this.bytesReceived.get(from) ?? 0) + chunk.length);
      const read = reader.push(chunk);
      if (!read.ok) {
        this.dropConnection(stream, peer, `frame of ${read.error.length} bytes exceeds the ${read.error.maxFrameBytes}-byte limit`);
        return;
      }
      for (const frame of read.frames) {
        if (frame.length === 0) continue; // link heartbeat
        const decoded = decodeBatch(frame);
        if (!decoded.ok) {
          this.dropConnection(stream, peer, `malformed frame: ${describeCodecError(decoded.error)}`);
          return;
        }
        const wrong = decoded.value.find((m) => !this.acceptable(m, from));
        if (wrong !== undefined) {
          this.dropConnection(stream, peer, `unexpected message (type ${wrong.type}, from ${formatId(wrong.from)}, to ${formatId(wrong.to)})`);
          return;
        }
        this.stats.framesReceived++;
        this.stats.messagesReceived += decoded.value.length;
        this.deliver(decoded.value);
      }
    });
    stream.on('end', () => {
      if (!reader.atFrameBoundary) this.dropConnection(stream, peer, 'stream ended inside a frame');
      else if (!stream.destroyed) stream.end();
    });
  }

  private acceptable(m: Message, from: bigint): boolean {
    return m.to === this.deps.self.localId && m.from === from && !localOnlyTypes.has(m.type) && m.type !== MessageType.Snap;
  }

  private deliver(messages: readonly Message[]): void {
    try {
      this.deps.onMessages(messages);
    } catch (err) {
      this.log.error('onMessages failed', { error: err });
    }
  }

  // --- snapshots --------------------------------------------------------------------------------

  private acceptSnapshot(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const from = this.handshake(stream, headers);
    if (from === undefined) return;
    const peer = formatId(from);
    if (this.snapshotStreams.has(from) || this.snapshotStreams.size >= this.deps.limits.maxInboundSnapshots) {
      this.answerText(stream, 503, 'too many snapshots in flight');
      return;
    }
    this.snapshotStreams.set(from, stream);
    stream.on('close', () => {
      if (this.snapshotStreams.get(from) === stream) this.snapshotStreams.delete(from);
    });
    stream.setTimeout(this.deps.limits.snapshotStallTimeoutMs, () => {
      this.log.warn('snapshot from peer stalled; abandoned', { 'remote-peer-id': peer, 'timeout-ms': this.deps.limits.snapshotStallTimeoutMs });
      stream.close(http2.constants.NGHTTP2_CANCEL);
    });

    const reader = new FrameReader(this.deps.limits.maxFrameBytes);
    const onData = (chunk: Buffer): void => {
      const read = reader.push(chunk, 1);
      if (!read.ok) {
        this.dropConnection(stream, peer, `snapshot message of ${read.error.length} bytes exceeds the ${read.error.maxFrameBytes}-byte limit`);
        return;
      }
      const frame = read.frames[0];
      if (frame === undefined) return;
      stream.removeListener('data', onData);
      stream.pause();
      const decoded = decodeMessage(frame);
      if (!decoded.ok) {
        this.dropConnection(stream, peer, `malformed snapshot message: ${describeCodecError(decoded.error)}`);
        return;
      }
      const m = decoded.value;
      if (m.type !== MessageType.Snap || m.snapshot === undefined || m.to !== this.deps.self.localId || m.from !== from) {
        this.dropConnection(stream, peer, `unexpected message on the snapshot path (type ${m.type})`);
        return;
      }
      void this.storeSnapshot(stream, peer, m, reader.drainRemainder());
    };
    stream.on('data', onData);
  }

  private async storeSnapshot(stream: http2.ServerHttp2Stream, peer: string, m: Message, head: Uint8Array[]): Promise<void> {
    const started = Date.now();
    let received = 0;
    const state = async function* (): AsyncGenerator<Uint8Array> {
      for (const chunk of head) {
        received += chunk.length;
        yield chunk;
      }
      // the stream's own iterator pauses the peer (flow control) while the application is busy,
      // and throws if the sender aborts before the end
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        received += chunk.length;
        yield chunk;
      }
      // all of it is here: the application's final write and sync may take as long as it needs
      stream.setTimeout(0);
    };
    this.log.info('receiving database snapshot', { 'remote-peer-id': peer, 'snapshot-index': m.snapshot?.metadata.index });
    try {
      await this.deps.receiveSnapshot(m, state());
    } catch (err) {
      this.log.warn('failed to save incoming database snapshot', { 'remote-peer-id': peer, 'snapshot-index': m.snapshot?.metadata.index, error: err });
      if (!stream.destroyed && !stream.headersSent) {
        stream.respond({ ':status': 500, 'content-type': 'text/plain; charset=utf-8' });
        stream.end('error saving snapshot\n');
      }
      return;
    }
    this.log.info('successfully received and saved database snapshot', {
      'remote-peer-id': peer,
      'snapshot-index': m.snapshot?.metadata.index,
      bytes: received,
      'took-ms': Date.now() - started,
    });
    this.deliver([m]);
    if (!stream.destroyed && !stream.headersSent) {
      stream.respond({ ':status': 204 }, { endStream: true });
    }
  }

  // --- calls ------------------------------------------------------------------------------------

  private async serveCall(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, method: string): Promise<void> {
    const handler = this.deps.handleCall;
    if (handler === undefined || !callMethodPattern.test(method)) {
      this.answerText(stream, 404, 'not found');
      return;
    }
    const from = this.handshake(stream, headers);
    if (from === undefined) return;
    if (this.callsInFlight >= this.deps.limits.maxInboundCalls) {
      this.answerText(stream, 503, 'too many calls in flight');
      return;
    }
    this.callsInFlight++;
    try {
      stream.setTimeout(this.deps.limits.streamReadTimeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      const body = await readBounded(stream, this.deps.limits.maxCallRequestBytes, 'pause');
      if (!body.ok) {
        // answered while the caller may still be sending: it reads the refusal, the rest is never read
        this.answerText(stream, body.reason === 'tooLarge' ? 413 : 400, body.reason === 'tooLarge' ? 'call body too large' : 'call body not read');
        return;
      }
      stream.setTimeout(0);
      let timer: NodeJS.Timeout | undefined;
      const answer = await Promise.race([
        handler(from, method, new Uint8Array(body.bytes)).catch((err: unknown): PeerCallAnswer | 'failed' => {
          this.log.warn('peer call handler failed', { method, 'remote-peer-id': formatId(from), error: err });
          return 'failed';
        }),
        new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.deps.limits.callAnswerTimeoutMs))),
      ]).finally(() => clearTimeout(timer));
      if (answer === 'failed') this.answerText(stream, 500, 'internal error');
      else if (answer === 'late') this.answerText(stream, 503, 'no answer in time');
      else if (answer.kind === 'refused') this.answerText(stream, 409, answer.text, { [peerHeaders.callRefusal]: answer.code });
      else if (!stream.destroyed && !stream.headersSent) {
        stream.respond({ ':status': 200, 'content-type': 'application/protobuf' });
        stream.end(Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength));
      }
    } finally {
      this.callsInFlight--;
    }
  }

  // --- shared -----------------------------------------------------------------------------------

  /** The sender's id when the handshake passes; otherwise the refusal is sent and the connection closed. */
  private handshake(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): bigint | undefined {
    const verdict: HandshakeVerdict = checkHandshake(headers, {
      ...this.deps.self,
      isKnownPeer: (id) => this.deps.isKnownPeer(id),
      isRemoved: (id) => this.deps.isRemoved(id),
    });
    if (verdict.ok) {
      this.countAccepted(stream);
      return verdict.from;
    }
    this.stats.refused++;
    this.log.warn('refused a peer connection', {
      status: verdict.status,
      reason: verdict.text,
      'remote-peer-id': verdict.from === undefined ? undefined : formatId(verdict.from),
      got: verdict.got,
      'local-member-id': formatId(this.deps.self.localId),
      'cluster-id': formatId(this.deps.self.clusterId),
    });
    this.answerText(stream, verdict.status, verdict.text, { [peerHeaders.clusterId]: formatId(this.deps.self.clusterId) });
    // GOAWAY now; the handshake timeout destroys the session if the dialler never lets go (not
    // session.close(): a closed session would wait for the dialler to drop the TCP connection)
    stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR);
    return undefined;
  }

  private countAccepted(stream: http2.ServerHttp2Stream): void {
    const session = stream.session;
    if (session === undefined) return;
    this.accepted.set(session, (this.accepted.get(session) ?? 0) + 1);
    session.setTimeout(0);
    stream.on('close', () => {
      const left = (this.accepted.get(session) ?? 1) - 1;
      this.accepted.set(session, left);
      if (left === 0 && !session.destroyed) this.armHandshakeTimeout(session);
    });
  }

  /** The 'timeout' listener is installed once in onSession; this only (re)starts the clock. */
  private armHandshakeTimeout(session: http2.Http2Session): void {
    session.setTimeout(this.deps.limits.handshakeTimeoutMs);
  }

  private dropConnection(stream: http2.ServerHttp2Stream, peer: string, reason: string): void {
    this.stats.connectionsDropped++;
    this.log.warn('dropped peer connection', { 'remote-peer-id': peer, reason });
    const session = stream.session;
    if (session !== undefined) session.destroy();
    else stream.destroy();
  }

  private answerText(stream: http2.ServerHttp2Stream, status: number, text: string, extra: http2.OutgoingHttpHeaders = {}): void {
    if (stream.destroyed || stream.headersSent) return;
    stream.respond({ ':status': status, 'content-type': 'text/plain; charset=utf-8', ...extra });
    stream.end(text + '\n');
  }

  private answerJson(stream: http2.ServerHttp2Stream, body: () => unknown): void {
    let text: string;
    try {
      text = JSON.stringify(body(), jsonReplacer) ?? 'null';
    } catch (err) {
      this.log.warn('failed to encode peer endpoint response', { error: err });
      this.answerText(stream, 500, 'internal error');
      return;
    }
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(text);
  }
}
