// The network between Lattice members (etcd's rafthttp, in our own framing). Each member dials every
// peer once and keeps one HTTP/2 session with one long-lived stream of message frames toward it
// (peer-link.ts); it listens on --listen-peer-urls for the streams its peers dial toward it
// (inbound-handler.ts). Snapshots travel on a connection of their own (snapshot-sender.ts).
// Everything is bounded: per-peer queues, frame size, concurrent streams and connections, and every
// wait has a timeout. Design notes: docs/design.md, "Peer transport".
import type http2 from 'node:http2';
import type net from 'node:net';
import type { ListenAddress } from '../adapters/client-port.js';
import type { Logger } from '../server/logger.js';
import { formatId } from '../server/member-id.js';
import { MessageType, type Message } from '../raft/types.js';
import { defaultMaxPeerMessageBytes } from './message-codec.js';
import { InboundHandler, type InboundStats } from './inbound-handler.js';
import { defaultPeerHttp2Limits, dialPeer, listenPeerUrl, type PeerHttp2Limits, type PeerTls } from './peer-endpoints.js';
import { PeerLink, type PeerLinkStats } from './peer-link.js';
import { sendSnapshot as streamSnapshot } from './snapshot-sender.js';
import type { PromoteAnswer } from './promote-request.js';
import { peerDropFailpointFromEnv, type PeerDropFailpoint } from './drop-failpoint.js';
import { callFailed, callOverSession, type PeerCallHandler, type PeerCallResult } from './peer-call.js';

export { fetchMembersFromPeers, MembersFetchError } from './members-fetch.js';
export type { PeerLinkStats } from './peer-link.js';
export type { InboundStats } from './inbound-handler.js';
export type { PeerCallAnswer, PeerCallHandler, PeerCallResult } from './peer-call.js';

export interface PeerTransportLimits {
  /** Largest frame (one batch, or a snapshot's message) sent or accepted. See message-codec.ts. */
  readonly maxPeerMessageBytes: number;
  /** Per-peer send queue: etcd's streamBufSize (4096) messages ... */
  readonly maxQueuedMessages: number;
  /** ... and at most this many encoded bytes. */
  readonly maxQueuedBytes: number;
  /** A frame is cut at this many bytes of messages (a larger single message goes alone). */
  readonly maxBatchBytes: number;
  readonly dialTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly linkHeartbeatIntervalMs: number;
  readonly streamReadTimeoutMs: number;
  readonly streamWriteTimeoutMs: number;
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly snapshotStallTimeoutMs: number;
  /** After a snapshot's last byte, how long the receiver may take to store it and answer. */
  readonly snapshotStoreTimeoutMs: number;
  readonly maxInboundSnapshots: number;
  /** TCP connections accepted per listener at once. */
  readonly maxInboundConnections: number;
  /** A call's request body (lease requests are a few bytes) ... */
  readonly maxCallRequestBytes: number;
  /** ... and its answer (a time-to-live with every key, a list of every lease). */
  readonly maxCallResponseBytes: number;
  /** Calls toward one peer at once; more fail as 'busy' (each is a stream on the link's session). */
  readonly maxCallsInFlightPerPeer: number;
  /** Calls served at once for all peers. */
  readonly maxInboundCalls: number;
  readonly callAnswerTimeoutMs: number;
}

/** etcd's ConnReadTimeout and ConnWriteTimeout. */
const connTimeoutMs = 5_000;

export const defaultPeerTransportLimits: PeerTransportLimits = {
  maxPeerMessageBytes: defaultMaxPeerMessageBytes,
  maxQueuedMessages: 4096,
  maxQueuedBytes: 64 * 1024 * 1024,
  maxBatchBytes: 1024 * 1024,
  dialTimeoutMs: 2_000,
  reconnectMinMs: 100,
  reconnectMaxMs: 2_000,
  // etcd writes a link heartbeat every ConnReadTimeout/3 and probes every ConnReadTimeout - 1 s
  linkHeartbeatIntervalMs: Math.floor(connTimeoutMs / 3),
  streamReadTimeoutMs: connTimeoutMs,
  streamWriteTimeoutMs: connTimeoutMs,
  probeIntervalMs: connTimeoutMs - 1_000,
  probeTimeoutMs: connTimeoutMs,
  handshakeTimeoutMs: connTimeoutMs,
  snapshotStallTimeoutMs: 30_000,
  snapshotStoreTimeoutMs: 5 * 60_000,
  maxInboundSnapshots: 4,
  maxInboundConnections: 256,
  maxCallRequestBytes: 64 * 1024,
  maxCallResponseBytes: defaultMaxPeerMessageBytes,
  maxCallsInFlightPerPeer: 32,
  maxInboundCalls: 1024,
  callAnswerTimeoutMs: 10_000,
};

export interface PeerTransportOptions {
  readonly localId: bigint;
  readonly clusterId: bigint;
  readonly listenUrls: readonly string[];
  /** Messages received from peers, already validated: to === localId and from is a known peer. */
  onMessages(messages: readonly Message[]): void;
  onUnreachable(peer: bigint): void;
  onSnapshotStatus(peer: bigint, ok: boolean): void;
  /** A MsgSnap arrived with its state stream: the app stores the stream (bounded memory), then the transport delivers the MsgSnap through onMessages. */
  receiveSnapshot(message: Message, state: AsyncIterable<Uint8Array>): Promise<void>;
  /** Is this member ID removed from the cluster? (refuse with 410) */
  isRemoved(id: bigint): boolean;
  /** JSON for GET /members (etcd's peer endpoint used by a joining member): the app provides it. */
  membersJson(): unknown;
  /** A follower forwards `member promote` here when this member leads (see promote-request.ts). */
  promoteMember?(id: bigint): Promise<PromoteAnswer>;
  readonly logger: Logger;
  /** A peer answered 410: this member has been removed from the cluster (etcd stops the member). */
  onRemovedFromCluster?(byPeer: bigint): void;
  /** Serves calls from peers (see peer-call.ts); absent: calls are answered 404. */
  handleCall?: PeerCallHandler;
  readonly limits?: Partial<PeerTransportLimits>;
  readonly http2Limits?: Partial<PeerHttp2Limits>;
  /** Peer TLS (--peer-cert-file or --peer-auto-tls): used for https peer URLs, listening and dialing. */
  readonly tls?: PeerTls;
  /** Test-only partition (drop-failpoint.ts); by default from LATTICE_FAILPOINT_PEER_DROP_FILE, absent when unset. */
  readonly dropFailpoint?: PeerDropFailpoint;
}

/** How often, at most, a full queue toward one peer is logged. */
const dropLogIntervalMs = 1_000;

export class PeerTransport {
  private readonly snapshotsInFlight = new Map<bigint, AbortController>();
  private readonly lastDropLog = new Map<bigint, number>();
  private readonly callsInFlight = new Map<bigint, number>();
  private closed: Promise<void> | undefined;

  private constructor(
    /** Shared with the inbound handler, which accepts streams only from peers in it. */
    private readonly links: Map<bigint, PeerLink>,
    private readonly options: PeerTransportOptions,
    private readonly limits: PeerTransportLimits,
    private readonly http2Limits: PeerHttp2Limits,
    private readonly log: Logger,
    private readonly inbound: InboundHandler,
    private readonly servers: readonly net.Server[],
    readonly addresses: readonly ListenAddress[],
    private readonly failpoint: PeerDropFailpoint | undefined,
  ) {}

  static async start(options: PeerTransportOptions): Promise<PeerTransport> {
    const limits = { ...defaultPeerTransportLimits, ...options.limits };
    const http2Limits = { ...defaultPeerHttp2Limits, ...options.http2Limits };
    const log = options.logger.named('peer-transport');
    if (options.listenUrls.length === 0) throw new Error('PeerTransport.start: no listen URLs');
    const self = { localId: options.localId, clusterId: options.clusterId };
    const links = new Map<bigint, PeerLink>();
    const guard = guarded(log);
    const failpoint = options.dropFailpoint ?? peerDropFailpointFromEnv(process.env);
    if (failpoint !== undefined) log.warn('peer drop failpoint armed (test only)');
    const inbound = new InboundHandler({
      self,
      limits: { ...limits, maxFrameBytes: limits.maxPeerMessageBytes },
      logger: log,
      isKnownPeer: (id) => links.has(id),
      isRemoved: (id) => options.isRemoved(id),
      onMessages: failpoint === undefined ? (ms) => options.onMessages(ms) : (ms) => deliverUndropped(ms, failpoint, options.onMessages),
      receiveSnapshot: (m, state) =>
        failpoint?.drops(m.from) === true ? Promise.reject(new Error('dropped by the peer drop failpoint')) : options.receiveSnapshot(m, state),
      membersJson: () => options.membersJson(),
      promoteMember: (id) => options.promoteMember?.(id) ?? Promise.resolve({ type: 'refused', error: 'notCapable' }),
      ...(options.handleCall === undefined ? {} : { handleCall: options.handleCall }),
    });
    const listeners = [];
    try {
      for (const url of options.listenUrls) {
        listeners.push(await listenPeerUrl(url, http2Limits, limits.maxInboundConnections, inbound.onStream, inbound.onSession, options.tls));
      }
    } catch (err) {
      for (const l of listeners) l.server.close();
      throw err;
    }
    for (const l of listeners) l.server.on('error', (err) => log.error('peer listener failed', { url: l.address.url, error: err }));
    log.info('started peer transport', { 'local-member-id': formatId(self.localId), 'cluster-id': formatId(self.clusterId), 'listen-urls': options.listenUrls });
    return new PeerTransport(
      links,
      { ...options, onUnreachable: guard('onUnreachable', options.onUnreachable), onSnapshotStatus: guard('onSnapshotStatus', options.onSnapshotStatus) },
      limits,
      http2Limits,
      log,
      inbound,
      listeners.map((l) => l.server),
      listeners.map((l) => l.address),
      failpoint,
    );
  }

  addPeer(id: bigint, urls: readonly string[]): void {
    if (this.closed || id === this.options.localId) return;
    const existing = this.links.get(id);
    if (existing !== undefined) {
      existing.updateUrls(urls);
      return;
    }
    const link = new PeerLink(id, urls, {
      self: { localId: this.options.localId, clusterId: this.options.clusterId },
      limits: { ...this.limits, maxFrameBytes: this.limits.maxPeerMessageBytes },
      http2Limits: this.http2Limits,
      tls: this.options.tls,
      logger: this.log,
      onUnreachable: (peer) => this.options.onUnreachable(peer),
      onRemoved: (peer) => this.removedFromCluster(peer),
    });
    this.links.set(id, link);
    this.log.info('added remote peer', { 'remote-peer-id': formatId(id), 'remote-peer-urls': urls });
  }

  updatePeer(id: bigint, urls: readonly string[]): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    link.updateUrls(urls);
    this.log.info('updated remote peer', { 'remote-peer-id': formatId(id), 'remote-peer-urls': urls });
  }

  removePeer(id: bigint): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    this.links.delete(id);
    void link.close();
    this.snapshotsInFlight.get(id)?.abort();
    this.inbound.dropPeer(id);
    this.lastDropLog.delete(id);
    this.log.info('removed remote peer', { 'remote-peer-id': formatId(id) });
  }

  /**
   * Never blocks: queues per peer. A message is dropped, and its peer reported unreachable, when the
   * peer's queue is full or its link is down and waiting to redial (as etcd drops when a peer's
   * stream is not working and its pipeline buffer is full).
   */
  send(messages: readonly Message[]): void {
    if (this.closed) return;
    let unreachable: Set<bigint> | undefined;
    for (const m of messages) {
      if (m.type === MessageType.Snap) {
        this.log.error('a MsgSnap must go through sendSnapshot; dropped', { 'remote-peer-id': formatId(m.to) });
        this.options.onSnapshotStatus(m.to, false);
        continue;
      }
      if (this.failpoint?.drops(m.to) === true) continue;
      const link = this.links.get(m.to);
      if (link === undefined) {
        // etcd also drops messages to unknown or removed peers silently (they may lag a conf change)
        this.log.debug('ignored message send request; unknown remote peer target', { 'remote-peer-id': formatId(m.to), type: m.type });
        continue;
      }
      const result = link.enqueue(m);
      if (result === 'queued') continue;
      (unreachable ??= new Set()).add(m.to);
      if (result === 'down') continue;
      if (result === 'tooLarge') {
        this.log.error('dropped Raft message larger than the peer frame limit', {
          'remote-peer-id': formatId(m.to),
          type: m.type,
          'max-peer-message-bytes': this.limits.maxPeerMessageBytes,
        });
      } else {
        this.logDrop(m.to);
      }
    }
    if (unreachable) for (const id of unreachable) this.options.onUnreachable(id);
  }

  /** Streams a MsgSnap plus the state to its target on a connection of its own; reports onSnapshotStatus. */
  sendSnapshot(message: Message, state: () => AsyncIterable<Uint8Array>): void {
    const to = message.to;
    const link = this.links.get(to);
    const url = link?.peerUrls[0];
    const cut = this.failpoint?.drops(to) === true;
    if (this.closed || cut || link === undefined || url === undefined || this.snapshotsInFlight.has(to) || message.snapshot === undefined) {
      const why = link === undefined ? 'unknown peer' : this.snapshotsInFlight.has(to) ? 'a snapshot to this peer is in flight' : 'not sendable';
      this.log.warn('snapshot not sent', { 'remote-peer-id': formatId(to), reason: why });
      queueMicrotask(() => this.options.onSnapshotStatus(to, false));
      return;
    }
    const abort = new AbortController();
    this.snapshotsInFlight.set(to, abort);
    this.log.info('sending database snapshot', { 'remote-peer-id': formatId(to), 'snapshot-index': message.snapshot.metadata.index });
    const self = { localId: this.options.localId, clusterId: this.options.clusterId };
    void streamSnapshot(url, message, state, { self, limits: { ...this.limits, maxFrameBytes: this.limits.maxPeerMessageBytes }, http2Limits: this.http2Limits, tls: this.options.tls, logger: this.log }, abort.signal).then(
      (result) => {
        if (this.snapshotsInFlight.get(to) === abort) this.snapshotsInFlight.delete(to);
        if (this.closed) return;
        if (result.ok) {
          this.log.info('sent database snapshot', { 'remote-peer-id': formatId(to), bytes: result.bytes });
          this.options.onSnapshotStatus(to, true);
          return;
        }
        if (result.removed) this.removedFromCluster(to);
        this.options.onUnreachable(to);
        this.options.onSnapshotStatus(to, false);
      },
    );
  }

  /**
   * A request/response call to a peer on the link's connection; never rejects. Fails at once as
   * 'unreachable' while the link is not working, and as 'busy' beyond maxCallsInFlightPerPeer.
   */
  async call(to: bigint, method: string, body: Uint8Array, timeoutMs: number): Promise<PeerCallResult> {
    const link = this.closed ? undefined : this.links.get(to);
    const url = link?.peerUrls[0];
    if (link === undefined || url === undefined || !link.isActive()) return callFailed('unreachable', `no working connection to ${formatId(to)}`);
    const inFlight = this.callsInFlight.get(to) ?? 0;
    if (inFlight >= this.limits.maxCallsInFlightPerPeer) return callFailed('busy', `${inFlight} calls to ${formatId(to)} in flight`);
    this.callsInFlight.set(to, inFlight + 1);
    // A session of the call's own: node 20 loops forever in Http2Session.destroy() when the link tears
    // down its session (peer gone) while a call's stream is open on it.
    let session: http2.ClientHttp2Session | undefined;
    try {
      session = dialPeer(url, this.http2Limits, this.options.tls);
      session.on('error', () => undefined);
      return await callOverSession(session, {
        self: { localId: this.options.localId, clusterId: this.options.clusterId },
        to,
        method,
        body,
        maxResponseBytes: this.limits.maxCallResponseBytes,
        timeoutMs,
      });
    } catch (err) {
      return callFailed('unreachable', (err as Error).message);
    } finally {
      session?.close();
      const left = (this.callsInFlight.get(to) ?? 1) - 1;
      if (left === 0) this.callsInFlight.delete(to);
      else this.callsInFlight.set(to, left);
    }
  }

  /** Is there a working connection to this peer right now (etcd's ActiveSince)? */
  isActive(id: bigint): boolean {
    return this.links.get(id)?.isActive() ?? false;
  }

  /** Whether the peer, connected now, said it can apply log entries of `feature` (peer-protocol.ts logFeatures). */
  peerAdvertises(id: bigint, feature: string): boolean {
    return this.inbound.peerAdvertises(id, feature);
  }

  /** Counters and state of the link toward a peer (frames, messages, drops, RTT, active since). */
  linkStats(id: bigint): Readonly<PeerLinkStats> | undefined {
    return this.links.get(id)?.stats;
  }

  /** Message-stream bytes received from this peer since start. */
  bytesReceivedFrom(id: bigint): number {
    return this.inbound.bytesReceived.get(id) ?? 0;
  }

  get inboundStats(): Readonly<InboundStats> {
    return this.inbound.stats;
  }

  close(): Promise<void> {
    return (this.closed ??= this.closeAll());
  }

  private async closeAll(): Promise<void> {
    for (const abort of this.snapshotsInFlight.values()) abort.abort();
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.all(links.map((l) => l.close()));
    this.inbound.close();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.log.info('stopped peer transport');
  }

  private removedFromCluster(byPeer: bigint): void {
    const callback = this.options.onRemovedFromCluster;
    if (callback === undefined) return;
    try {
      callback(byPeer);
    } catch (err) {
      this.log.error('onRemovedFromCluster failed', { error: err });
    }
  }

  private logDrop(peer: bigint): void {
    const now = Date.now();
    if (now - (this.lastDropLog.get(peer) ?? 0) < dropLogIntervalMs) return;
    this.lastDropLog.set(peer, now);
    this.log.warn('dropped internal Raft message since sending buffer is full (overloaded network)', { 'remote-peer-id': formatId(peer) });
  }
}

function deliverUndropped(messages: readonly Message[], failpoint: PeerDropFailpoint, deliver: (ms: readonly Message[]) => void): void {
  const kept = messages.filter((m) => !failpoint.drops(m.from));
  if (kept.length > 0) deliver(kept);
}

/** Wraps an application callback so that its throw is logged, never thrown into the transport. */
function guarded(log: Logger) {
  return <A extends unknown[]>(name: string, fn: (...args: A) => void) =>
    (...args: A): void => {
      try {
        fn(...args);
      } catch (err) {
        log.error(`${name} failed`, { error: err });
      }
    };
}
