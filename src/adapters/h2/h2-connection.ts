// The server side of one HTTP/2 connection (RFC 9113), framed in JavaScript on a socket: preface and
// SETTINGS, HPACK, client streams and their states, flow control both ways, PING, RST_STREAM and
// GOAWAY. Written for gRPC's use of HTTP/2 (no server push, no priorities honoured) because node's
// http2 module costs several times the CPU of a whole etcd call per request (docs/design.md,
// "Our own HTTP/2").
//
// Writes are gathered: frames queued while the connection handles a chunk of input, or in one
// event-loop turn, leave in one socket write.
import type { Duplex } from 'node:stream';
import {
  clientPreface,
  defaultInitialWindowSize,
  defaultMaxFrameSize,
  ErrorCode,
  Flag,
  frame,
  frameHeaderBytes,
  FrameType,
  goawayFrame,
  maxAllowedFrameSize,
  maxWindowSize,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frames.js';
import { HpackDecoder, HpackError } from './hpack-decoder.js';
import { H2Stream, type StreamHost } from './h2-stream.js';
import { RequestHeaderCollector, type RequestHeaders } from './request-headers.js';

export interface H2ServerSettings {
  readonly maxConcurrentStreams: number;
  /** The window each stream starts with for the request body (SETTINGS_INITIAL_WINDOW_SIZE). */
  readonly initialWindowSize: number;
  /** The connection's receive window, kept topped up as data arrives. */
  readonly connectionWindowSize: number;
  readonly maxHeaderListSize: number;
  /** Resets a client may send at once, then per second, before the connection is closed. */
  readonly resetBurst: number;
  readonly resetRatePerSecond: number;
  /**
   * Answer bytes queued and not yet taken by a client that does not read, past which its new streams
   * are refused (REFUSED_STREAM) until it reads: node's HTTP/2 bounded a session the same way.
   */
  readonly maxPendingOutputBytes: number;
}

export const defaultH2ServerSettings: H2ServerSettings = {
  maxConcurrentStreams: 2 ** 32 - 1,
  initialWindowSize: 1 << 20,
  connectionWindowSize: 16 << 20,
  maxHeaderListSize: 16 << 20,
  resetBurst: 10_000,
  resetRatePerSecond: 1_000,
  maxPendingOutputBytes: 256 * 1024 * 1024,
};

export interface H2ConnectionEvents {
  /** A request's headers are complete; the handler sets `stream.events` before returning. */
  stream(stream: H2Stream): void;
  /** A PING from the client (not an ACK); it has been answered. */
  ping(): void;
  /** The client sent GOAWAY. */
  goaway(code: number, debug: Buffer): void;
  /** A protocol error that closes the connection (for the log; the client was told with GOAWAY). */
  error(why: string): void;
  /** The connection is gone; every stream has been closed. */
  close(): void;
}

/** A connection error: GOAWAY with `code`, then close. */
class ConnectionError extends Error {
  constructor(
    readonly code: number,
    why: string,
  ) {
    super(why);
  }
}

/** A header block split over HEADERS and CONTINUATION frames, until END_HEADERS. */
interface PartialBlock {
  readonly stream: number;
  readonly endStream: boolean;
  /** The HEADERS named the stream itself as its dependency: reset once the block is decoded. */
  readonly selfDependent: boolean;
  /** The block so far, in one buffer grown by doubling (no copy per frame). */
  block: Buffer;
  bytes: number;
  /** Counted against the bound with each frame's header too, so empty frames cannot go on for ever. */
  wireBytes: number;
}

const noBytes = Buffer.alloc(0);
/** Frames of DATA queued for one socket write at most; the rest waits for the next turn. */
const maxFlushBytes = 1024 * 1024;
/** Bytes written directly (not joined) once a batch is this large. */
const joinBelowBytes = 64 * 1024;
const pingPayloadBytes = 8;
/** How long a closing connection whose client does not read may keep its unsent bytes. */
const closeWaitMs = 30_000;
/** PINGs of ours left unanswered that are remembered; older ones are forgotten (their callers get an error). */
const maxPendingPings = 16;
/**
 * Answers to a client's frames (PING and SETTINGS ACKs, RST_STREAMs) queued while the socket does not
 * drain, before the connection is dropped: a client that sends PINGs and never reads the ACKs would
 * otherwise grow this side's memory without bound (CVE-2019-9512; Go's server allows the same number).
 */
const maxControlFramesWhileBlocked = 10_000;
/**
 * How long a PING's ACK may wait to go out with the answers of calls in progress. Go clients send a
 * PING (BDP estimation) whenever they read DATA with none outstanding, so on a busy connection nearly
 * every answer would otherwise be followed by a socket write of its own for a 17-byte ACK.
 */
export const pingAckHoldMs = 5;

export class H2Connection implements StreamHost {
  private readonly streams = new Map<number, H2Stream>();
  private readonly decoder = new HpackDecoder();
  private readonly collector = new RequestHeaderCollector();
  private input: Buffer | undefined;
  private sawPreface = false;
  private sawSettings = false;
  private partial: PartialBlock | undefined;
  private lastStreamId = 0;
  /** Client settings that shape what this side sends. */
  private peerInitialWindow = defaultInitialWindowSize;
  private peerMaxFrameSize = defaultMaxFrameSize;
  private sendWindow = defaultInitialWindowSize;
  /**
   * The receive window a new stream starts with. Until the client acknowledges our SETTINGS it may
   * count on the default (it sends before it reads them, RFC 9113 §6.9.2) or already on ours (it
   * applies them on receipt and may send before its ACK): the larger of the two is accepted.
   */
  private localInitialWindow: number;
  private settingsAcked = false;
  /** How much more DATA the client may send on the connection, and what was taken since the last WINDOW_UPDATE. */
  private receiveWindow: number;
  private receiveUnacked = 0;
  private out: Buffer[] = [];
  private outBytes = 0;
  private outCallbacks: (() => void)[] = [];
  private flushScheduled = false;
  private socketBlocked = false;
  private controlFramesWhileBlocked = 0;
  /** Streams with DATA held by the connection's send window alone, until the client's WINDOW_UPDATE on stream 0. */
  private readonly connectionBlocked = new Set<H2Stream>();
  /** DATA queued on streams and not yet framed: with the socket's own buffer, bounds a client that does not read. */
  private queuedOutputBytes = 0;
  /** Streams with DATA or trailers waiting for a window or the socket, in arrival order. */
  private readonly waiting = new Set<H2Stream>();
  private goawaySent = false;
  /** The socket's end was requested (closeSocket); a second request would add another timer. */
  private closing = false;
  private goawayReceived = false;
  private ended = false;
  private pingCounter = 0;
  /** PING ACKs among the queued frames (see pingAckHoldMs); the queue holds nothing else when they are all of it. */
  private queuedPingAcks = 0;
  private pingAckTimer: NodeJS.Timeout | undefined;
  private readonly pings = new Map<bigint, (err: Error | null) => void>();
  private resetTokens: number;
  private resetRefilledAt = Date.now();
  /** When a frame last went either way (the idle timeout's reference). */
  lastActivityMs = Date.now();

  constructor(
    private readonly socket: Duplex,
    private readonly events: H2ConnectionEvents,
    private readonly settings: H2ServerSettings = defaultH2ServerSettings,
  ) {
    this.resetTokens = settings.resetBurst;
    this.receiveWindow = Math.max(settings.connectionWindowSize, defaultInitialWindowSize);
    this.localInitialWindow = Math.max(defaultInitialWindowSize, settings.initialWindowSize);
    this.queue(
      settingsFrame([
        [Setting.maxConcurrentStreams, Math.min(settings.maxConcurrentStreams, 2 ** 32 - 1)],
        [Setting.initialWindowSize, settings.initialWindowSize],
        [Setting.maxHeaderListSize, settings.maxHeaderListSize],
        [Setting.enablePush, 0],
      ]),
    );
    if (settings.connectionWindowSize > defaultInitialWindowSize) this.queue(windowUpdateFrame(0, settings.connectionWindowSize - defaultInitialWindowSize));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', () => this.destroy());
    socket.on('end', () => this.destroy());
    socket.on('close', () => this.destroy());
    this.flush();
  }

  /** gRPC calls and other streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  get isClosed(): boolean {
    return this.ended;
  }

  /** Sends a PING; `done` gets null on its ACK or an error when the connection goes first. */
  ping(done: (err: Error | null) => void): boolean {
    if (this.ended) return false;
    const payload = Buffer.allocUnsafe(pingPayloadBytes);
    const id = BigInt(++this.pingCounter);
    payload.writeBigUInt64BE(id, 0);
    this.pings.set(id, done);
    if (this.pings.size > maxPendingPings) {
      const [oldest, forgotten] = this.pings.entries().next().value as [bigint, (err: Error | null) => void];
      this.pings.delete(oldest);
      forgotten(new Error('ping not answered'));
    }
    this.queue(frame(FrameType.ping, 0, 0, payload));
    this.scheduleFlush();
    return true;
  }

  /** GOAWAY: no new streams; the connection closes once the open ones are done. */
  goaway(code: number = ErrorCode.noError, debug?: Buffer): void {
    if (this.ended) return;
    if (!this.goawaySent) {
      this.goawaySent = true;
      this.queue(goawayFrame(this.lastStreamId, code, debug));
      this.scheduleFlush();
    }
    if (code !== ErrorCode.noError) {
      this.flush();
      this.closeSocket();
      return;
    }
    if (this.streams.size === 0) {
      this.flush();
      this.closeSocket();
    }
  }

  /** Drops the connection now; every open stream is closed. */
  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.destroy();
    for (const s of this.streams.values()) s.closedByConnection();
    this.streams.clear();
    this.waiting.clear();
    this.connectionBlocked.clear();
    const err = new Error('connection closed');
    for (const done of this.pings.values()) done(err);
    this.pings.clear();
    for (const cb of this.outCallbacks) cb();
    this.outCallbacks = [];
    this.out = [];
    clearTimeout(this.pingAckTimer);
    this.pingAckTimer = undefined;
    this.events.close();
  }

  // ---- StreamHost ----

  sendHeaders(stream: H2Stream, block: Buffer, endStream: boolean): void {
    this.queueHeaders(stream.id, block, endStream);
    if (endStream) this.localEnd(stream);
    this.scheduleFlush();
  }

  schedule(stream: H2Stream, queuedBytes: number): void {
    this.queuedOutputBytes += queuedBytes;
    this.waiting.add(stream);
    this.scheduleFlush();
  }

  consumed(stream: H2Stream, bytes: number): void {
    this.creditConnection(bytes);
    if (stream.closed || stream.remoteEnded) return;
    // topped up once the client has less than half of it left, as Go's server does (counting what
    // was taken, not what a paused call still holds)
    stream.receiveUnacked += bytes;
    if (stream.receiveWindow >= this.settings.initialWindowSize / 2 || stream.receiveUnacked === 0) return;
    stream.receiveWindow += stream.receiveUnacked;
    this.queue(windowUpdateFrame(stream.id, stream.receiveUnacked));
    stream.receiveUnacked = 0;
    this.scheduleFlush();
  }

  /** Received bytes no longer held: the client may send as many more on the connection. */
  private creditConnection(bytes: number): void {
    this.receiveUnacked += bytes;
    // once the client has less than half the window left (paused calls may hold the rest of it), in
    // steps of a sixteenth, or all of it when the client is nearly out
    const window = this.settings.connectionWindowSize;
    if (this.receiveUnacked === 0 || this.receiveWindow >= window / 2) return;
    if (this.receiveUnacked < window / 16 && this.receiveWindow >= window / 16) return;
    this.receiveWindow += this.receiveUnacked;
    this.queue(windowUpdateFrame(0, this.receiveUnacked));
    this.receiveUnacked = 0;
    this.scheduleFlush();
  }

  reset(stream: H2Stream, code: number): void {
    if (stream.closed) return;
    this.queue(rstStreamFrame(stream.id, code));
    this.scheduleFlush();
    this.closeStream(stream);
  }

  // ---- input ----

  /** Answer bytes this connection holds for its client: queued on streams, and in the socket's buffer. */
  private get pendingOutputBytes(): number {
    return this.queuedOutputBytes + this.outBytes + this.socket.writableLength;
  }

  private onData(chunk: Buffer): void {
    // after a connection error (or a GOAWAY with nothing open) nothing more is read
    if (this.ended || this.closing) return;
    this.lastActivityMs = Date.now();
    const buf = this.input === undefined ? chunk : Buffer.concat([this.input, chunk]);
    let pos = 0;
    try {
      if (!this.sawPreface) {
        const have = Math.min(buf.length, clientPreface.length);
        if (buf.compare(clientPreface, 0, have, 0, have) !== 0) throw new ConnectionError(ErrorCode.protocolError, 'not an HTTP/2 client preface');
        if (buf.length < clientPreface.length) {
          this.input = buf;
          return;
        }
        this.sawPreface = true;
        pos = clientPreface.length;
      }
      while (buf.length - pos >= frameHeaderBytes && !this.ended) {
        const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
        if (length > defaultMaxFrameSize) throw new ConnectionError(ErrorCode.frameSizeError, `frame of ${length} bytes`);
        if (buf.length - pos < frameHeaderBytes + length) break;
        const type = buf[pos + 3]!;
        const flags = buf[pos + 4]!;
        const id = buf.readUInt32BE(pos + 5) & 0x7fffffff;
        const start = pos + frameHeaderBytes;
        pos = start + length;
        this.onFrame(type, flags, id, buf, start, pos);
      }
    } catch (err) {
      if (err instanceof ConnectionError) return this.connectionError(err.code, err.message);
      if (err instanceof HpackError) return this.connectionError(ErrorCode.compressionError, err.message);
      // a fault of ours while serving this connection (a handler that threw): it ends this
      // connection, not the server
      return this.connectionError(ErrorCode.internalError, `internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (this.ended) return;
    this.input = pos === buf.length ? undefined : buf.subarray(pos);
    if (this.holdsOnlyPingAcks()) this.holdPingAcks();
    else this.flush();
  }

  /** Only PING ACKs are queued while calls are open: they can wait a little for those calls' answers. */
  private holdsOnlyPingAcks(): boolean {
    return this.queuedPingAcks > 0 && this.out.length === this.queuedPingAcks && this.waiting.size === 0 && this.streams.size > 0 && !this.socketBlocked;
  }

  private holdPingAcks(): void {
    if (this.pingAckTimer !== undefined) return;
    this.pingAckTimer = setTimeout(this.releasePingAcks, pingAckHoldMs);
    this.pingAckTimer.unref();
  }

  /** Made once per connection, like scheduledFlush. */
  private readonly releasePingAcks = (): void => {
    this.pingAckTimer = undefined;
    this.flushGuarded();
  };

  private onFrame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (!this.sawSettings) {
      if (type !== FrameType.settings || (flags & Flag.ack) !== 0) throw new ConnectionError(ErrorCode.protocolError, 'the first frame is not SETTINGS');
      this.sawSettings = true;
    }
    if (this.partial !== undefined && (type !== FrameType.continuation || id !== this.partial.stream)) {
      throw new ConnectionError(ErrorCode.protocolError, 'a header block was interrupted');
    }
    switch (type) {
      case FrameType.data:
        return this.onDataFrame(flags, id, buf, start, end);
      case FrameType.headers:
        return this.onHeaders(flags, id, buf, start, end);
      case FrameType.continuation:
        return this.onContinuation(flags, id, buf, start, end);
      case FrameType.priority:
        if (id === 0) throw new ConnectionError(ErrorCode.protocolError, 'PRIORITY on stream 0');
        if (end - start !== 5) return this.streamError(id, ErrorCode.frameSizeError);
        // priorities are not honoured, but a stream cannot depend on itself (§5.3.1)
        if ((buf.readUInt32BE(start) & 0x7fffffff) === id) return this.streamError(id, ErrorCode.protocolError, this.streams.get(id));
        return;
      case FrameType.rstStream:
        return this.onRstStream(id, buf, start, end);
      case FrameType.settings:
        return this.onSettings(flags, id, buf, start, end);
      case FrameType.pushPromise:
        throw new ConnectionError(ErrorCode.protocolError, 'PUSH_PROMISE from a client');
      case FrameType.ping:
        return this.onPing(flags, id, buf, start, end);
      case FrameType.goaway:
        return this.onGoaway(id, buf, start, end);
      case FrameType.windowUpdate:
        return this.onWindowUpdate(id, buf, start, end);
      default:
        // unknown frame types are ignored (§5.5)
        return;
    }
  }

  /** Payload bounds without padding; throws PROTOCOL_ERROR when the padding is longer than the frame. */
  private unpadded(flags: number, buf: Buffer, start: number, end: number): number {
    if ((flags & Flag.padded) === 0) return end;
    if (start >= end) throw new ConnectionError(ErrorCode.protocolError, 'padded frame without a pad length');
    const pad = buf[start]!;
    if (pad > end - start - 1) throw new ConnectionError(ErrorCode.protocolError, 'padding longer than the frame');
    return end - pad;
  }

  private onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.protocolError, 'DATA on stream 0');
    const length = end - start;
    const contentEnd = this.unpadded(flags, buf, start, end);
    const contentStart = (flags & Flag.padded) !== 0 ? start + 1 : start;
    // the connection window counts every DATA frame; what no owner takes is credited back at once,
    // the rest as its owner takes it, so paused calls hold at most one connection window in all
    if (length > this.receiveWindow) throw new ConnectionError(ErrorCode.flowControlError, 'DATA past the connection window');
    this.receiveWindow -= length;
    const stream = this.streams.get(id);
    if (stream === undefined) {
      this.creditConnection(length);
      if (id > this.lastStreamId) throw new ConnectionError(ErrorCode.protocolError, 'DATA on an idle stream');
      // a stream this side closed or reset: its client's DATA may still have been on the way (a
      // request refused at its headers, a call the server ended), so it is ignored (RFC 9113 §5.1)
      return;
    }
    if (stream.remoteEnded || length > stream.receiveWindow) {
      this.creditConnection(length);
      return this.streamError(id, stream.remoteEnded ? ErrorCode.streamClosed : ErrorCode.flowControlError, stream);
    }
    stream.receiveWindow -= length;
    stream.bodyBytes += contentEnd - contentStart;
    if (stream.contentLength >= 0 && stream.bodyBytes > stream.contentLength) {
      this.creditConnection(length);
      return this.streamError(id, ErrorCode.protocolError, stream);
    }
    // padding is not the owner's to consume: credited now
    const padding = length - (contentEnd - contentStart);
    if (padding > 0) this.consumed(stream, padding);
    if (contentEnd > contentStart) stream.received(buf.subarray(contentStart, contentEnd));
    if ((flags & Flag.endStream) !== 0 && !stream.closed) this.remoteEnd(stream);
  }

  private onHeaders(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.protocolError, 'HEADERS on stream 0');
    let blockStart = (flags & Flag.padded) !== 0 ? start + 1 : start;
    const blockEnd = this.unpadded(flags, buf, start, end);
    let selfDependent = false;
    if ((flags & Flag.priority) !== 0) {
      if (blockStart + 5 <= blockEnd) selfDependent = (buf.readUInt32BE(blockStart) & 0x7fffffff) === id;
      blockStart += 5;
    }
    if (blockStart > blockEnd) throw new ConnectionError(ErrorCode.protocolError, 'HEADERS too short for its fields');
    const endStream = (flags & Flag.endStream) !== 0;
    if ((flags & Flag.endHeaders) !== 0) return this.onHeaderBlock(id, endStream, selfDependent, buf, blockStart, blockEnd);
    const block = Buffer.allocUnsafe(Math.max(4096, 2 * (blockEnd - blockStart)));
    buf.copy(block, 0, blockStart, blockEnd);
    this.partial = { stream: id, endStream, selfDependent, block, bytes: blockEnd - blockStart, wireBytes: frameHeaderBytes + end - start };
  }

  private onContinuation(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    const partial = this.partial;
    if (partial === undefined) throw new ConnectionError(ErrorCode.protocolError, 'CONTINUATION without HEADERS');
    const length = end - start;
    // an empty CONTINUATION that does not end the block only costs the server (CVE-2024-27983's kind)
    if (length === 0 && (flags & Flag.endHeaders) === 0) throw new ConnectionError(ErrorCode.enhanceYourCalm, 'empty CONTINUATION');
    partial.wireBytes += frameHeaderBytes + length;
    if (partial.wireBytes > this.settings.maxHeaderListSize) throw new ConnectionError(ErrorCode.enhanceYourCalm, 'header block too large');
    if (partial.bytes + length > partial.block.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * partial.block.length, partial.bytes + length));
      partial.block.copy(grown, 0, 0, partial.bytes);
      partial.block = grown;
    }
    buf.copy(partial.block, partial.bytes, start, end);
    partial.bytes += length;
    if ((flags & Flag.endHeaders) === 0) return;
    this.partial = undefined;
    this.onHeaderBlock(partial.stream, partial.endStream, partial.selfDependent, partial.block, 0, partial.bytes);
  }

  /** A whole header block; `selfDependent`: its priority names the stream itself, a stream error (§5.3.1). */
  private onHeaderBlock(id: number, endStream: boolean, selfDependent: boolean, buf: Buffer, start: number, end: number): void {
    const existing = this.streams.get(id);
    const collector = this.collector;
    if (existing !== undefined) {
      // trailers: they must end the stream (§8.1)
      collector.reset(true);
      this.decoder.decode(buf, start, end, collector, this.settings.maxHeaderListSize);
      if (existing.remoteEnded) return this.streamError(id, ErrorCode.streamClosed, existing);
      if (!endStream || selfDependent || collector.malformed !== undefined) return this.streamError(id, ErrorCode.protocolError, existing);
      return this.remoteEnd(existing);
    }
    if (id <= this.lastStreamId) throw new ConnectionError(ErrorCode.streamClosed, `HEADERS on closed stream ${id}`);
    if ((id & 1) === 0) throw new ConnectionError(ErrorCode.protocolError, `client stream ${id} is even`);
    this.lastStreamId = id;
    collector.reset(false);
    this.decoder.decode(buf, start, end, collector, this.settings.maxHeaderListSize);
    collector.checkRequest();
    if (collector.malformed !== undefined || selfDependent) return this.streamError(id, ErrorCode.protocolError);
    if (endStream && collector.contentLength > 0) return this.streamError(id, ErrorCode.protocolError);
    if (this.goawaySent || this.goawayReceived || this.streams.size >= this.settings.maxConcurrentStreams || this.pendingOutputBytes > this.settings.maxPendingOutputBytes) {
      return this.streamError(id, ErrorCode.refusedStream);
    }
    const stream = new H2Stream(id, collector.headers, endStream, this, this.peerInitialWindow, this.localInitialWindow);
    stream.contentLength = collector.contentLength;
    this.streams.set(id, stream);
    this.events.stream(stream);
    if (endStream && !stream.closed) this.remoteEnd(stream);
  }

  private onRstStream(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new ConnectionError(ErrorCode.frameSizeError, 'RST_STREAM of the wrong size');
    if (id === 0) throw new ConnectionError(ErrorCode.protocolError, 'RST_STREAM on stream 0');
    if (id > this.lastStreamId) throw new ConnectionError(ErrorCode.protocolError, 'RST_STREAM on an idle stream');
    this.takeResetToken();
    const stream = this.streams.get(id);
    if (stream !== undefined) this.closeStream(stream);
  }

  private takeResetToken(): void {
    const now = Date.now();
    const refill = Math.floor(((now - this.resetRefilledAt) * this.settings.resetRatePerSecond) / 1000);
    if (refill > 0) {
      this.resetTokens = Math.min(this.settings.resetBurst, this.resetTokens + refill);
      this.resetRefilledAt = now;
    }
    if (this.resetTokens <= 0) throw new ConnectionError(ErrorCode.enhanceYourCalm, 'too many stream resets');
    this.resetTokens--;
  }

  private onSettings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.protocolError, 'SETTINGS on a stream');
    if ((flags & Flag.ack) !== 0) {
      if (end !== start) throw new ConnectionError(ErrorCode.frameSizeError, 'SETTINGS ACK with a payload');
      if (!this.settingsAcked) this.onSettingsAcked();
      return;
    }
    if ((end - start) % 6 !== 0) throw new ConnectionError(ErrorCode.frameSizeError, 'SETTINGS of the wrong size');
    for (let at = start; at < end; at += 6) {
      const key = buf.readUInt16BE(at);
      const value = buf.readUInt32BE(at + 2);
      switch (key) {
        case Setting.enablePush:
          if (value > 1) throw new ConnectionError(ErrorCode.protocolError, 'SETTINGS_ENABLE_PUSH not 0 or 1');
          break;
        case Setting.initialWindowSize: {
          if (value > maxWindowSize) throw new ConnectionError(ErrorCode.flowControlError, 'SETTINGS_INITIAL_WINDOW_SIZE too large');
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > maxWindowSize) throw new ConnectionError(ErrorCode.flowControlError, 'a stream window overflowed');
            if (delta > 0 && s.queue.length > 0) this.waiting.add(s);
          }
          break;
        }
        case Setting.maxFrameSize:
          if (value < defaultMaxFrameSize || value > maxAllowedFrameSize) throw new ConnectionError(ErrorCode.protocolError, 'SETTINGS_MAX_FRAME_SIZE out of range');
          this.peerMaxFrameSize = value;
          break;
        default:
          // header table size: the encoder uses no dynamic table; the rest are advisory here
          break;
      }
    }
    this.queueAnswer(frame(FrameType.settings, Flag.ack, 0));
  }

  /** Our one SETTINGS is in force: a smaller initial window than the default now holds for the open streams too, as it does on the client's side. */
  private onSettingsAcked(): void {
    this.settingsAcked = true;
    const delta = this.settings.initialWindowSize - this.localInitialWindow;
    this.localInitialWindow = this.settings.initialWindowSize;
    for (const s of this.streams.values()) s.receiveWindow += delta;
  }

  private onPing(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== pingPayloadBytes) throw new ConnectionError(ErrorCode.frameSizeError, 'PING of the wrong size');
    if (id !== 0) throw new ConnectionError(ErrorCode.protocolError, 'PING on a stream');
    if ((flags & Flag.ack) !== 0) {
      const key = buf.readBigUInt64BE(start);
      const done = this.pings.get(key);
      this.pings.delete(key);
      done?.(null);
      return;
    }
    this.queueAnswer(frame(FrameType.ping, Flag.ack, 0, buf.subarray(start, end)));
    this.queuedPingAcks++;
    this.events.ping();
  }

  private onGoaway(id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.protocolError, 'GOAWAY on a stream');
    if (end - start < 8) throw new ConnectionError(ErrorCode.frameSizeError, 'GOAWAY too short');
    this.goawayReceived = true;
    this.events.goaway(buf.readUInt32BE(start + 4), Buffer.from(buf.subarray(start + 8, end)));
    if (this.streams.size === 0) {
      this.flush();
      this.closeSocket();
    }
  }

  private onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new ConnectionError(ErrorCode.frameSizeError, 'WINDOW_UPDATE of the wrong size');
    const increment = buf.readUInt32BE(start) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(ErrorCode.protocolError, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > maxWindowSize) throw new ConnectionError(ErrorCode.flowControlError, 'connection window overflowed');
      for (const s of this.connectionBlocked) this.waiting.add(s);
      this.connectionBlocked.clear();
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId) throw new ConnectionError(ErrorCode.protocolError, 'WINDOW_UPDATE on an idle stream');
      return;
    }
    if (increment === 0) return this.streamError(id, ErrorCode.protocolError, stream);
    stream.sendWindow += increment;
    if (stream.sendWindow > maxWindowSize) return this.streamError(id, ErrorCode.flowControlError, stream);
    if (stream.queue.length > 0 || stream.trailers !== undefined) this.waiting.add(stream);
  }

  // ---- stream states ----

  private remoteEnd(stream: H2Stream): void {
    // a body shorter than its content-length is malformed (§8.1.1): the owner never sees its end
    if (stream.contentLength >= 0 && stream.bodyBytes !== stream.contentLength) return this.reset(stream, ErrorCode.protocolError);
    stream.receivedEnd();
    if (stream.localEnded && stream.queue.length === 0 && stream.trailers === undefined) this.closeStream(stream);
  }

  /** The server's END_STREAM has been queued for `stream`. */
  private localEnd(stream: H2Stream): void {
    stream.localEnded = true;
    if (stream.remoteEnded) this.closeStream(stream);
    // a request that ended on its HEADERS is answered inside the stream event, before its end is
    // delivered: the client has sent all it will, so no reset (it follows the END_STREAM on a stream
    // both sides ended, which §5.1 forbids); the end that comes next closes the stream
    else if (stream.resetWhenAnswered && !stream.endAfterHeaders) this.reset(stream, ErrorCode.noError);
  }

  private closeStream(stream: H2Stream): void {
    if (stream.closed) return;
    this.streams.delete(stream.id);
    this.waiting.delete(stream);
    this.connectionBlocked.delete(stream);
    this.queuedOutputBytes -= stream.queuedBytes;
    const held = stream.closedByConnection(this.afterQueuedWrites);
    if (held > 0) this.creditConnection(held);
    if (this.streams.size === 0 && (this.goawaySent || this.goawayReceived)) this.closeWhenIdle();
  }

  /**
   * Calls `done` once every frame queued so far has been written by the socket: after the pending
   * flush, or after an empty write (the socket calls write callbacks in order). The frames of a stream
   * reset mid-answer still point into its buffers until then, and a pooled buffer must not be reused
   * before (slab-pool.ts). A destroyed connection calls it at once: its socket writes nothing more.
   */
  private readonly afterQueuedWrites = (done: () => void): void => {
    if (this.ended) return done();
    if (this.out.length > 0) {
      this.outCallbacks.push(done);
      this.scheduleFlush();
      return;
    }
    // an ended socket takes no more writes; the connection is destroyed once it closes, and that
    // calls what is waiting
    if (this.closing) this.outCallbacks.push(done);
    else this.socket.write(noBytes, () => done());
  };

  /** Kept apart from closeStream: a closure there would cost every stream's close a context allocation. */
  private closeWhenIdle(): void {
    this.scheduleFlush();
    setImmediate(() => {
      if (this.streams.size === 0) {
        this.flush();
        this.closeSocket();
      }
    });
  }

  /** A stream the client's input broke: reset, and counted with the client's own resets (each costs a decode and an answer). */
  private streamError(id: number, code: number, stream?: H2Stream): void {
    this.takeResetToken();
    this.queueAnswer(rstStreamFrame(id, code));
    if (stream !== undefined) this.closeStream(stream);
  }

  private connectionError(code: number, why: string): void {
    this.events.error(why);
    if (!this.goawaySent) {
      this.goawaySent = true;
      this.queue(goawayFrame(this.lastStreamId, code, Buffer.from(why, 'latin1')));
    }
    this.flush();
    this.closeSocket();
  }

  private closeSocket(): void {
    if (this.ended || this.closing) return;
    this.closing = true;
    this.socket.end();
    // the client has its GOAWAY; a client that does not close is dropped a second after all of it
    // has left (or, one that does not read, after closeWaitMs)
    const dropLater = (ms: number): NodeJS.Timeout => {
      const timer = setTimeout(() => this.destroy(), ms);
      timer.unref();
      return timer;
    };
    let timer = dropLater(closeWaitMs);
    this.socket.once('finish', () => {
      clearTimeout(timer);
      timer = dropLater(1000);
    });
    this.socket.once('close', () => clearTimeout(timer));
  }

  // ---- output ----

  private queue(bytes: Buffer, done?: () => void): void {
    this.out.push(bytes);
    this.outBytes += bytes.length;
    if (done !== undefined) this.outCallbacks.push(done);
  }

  /** A frame the client's own frame calls for; counted while the socket is blocked (see maxControlFramesWhileBlocked). */
  private queueAnswer(bytes: Buffer): void {
    if (this.socketBlocked && ++this.controlFramesWhileBlocked > maxControlFramesWhileBlocked) {
      // a GOAWAY would only wait behind the rest: the connection is dropped
      this.events.error('too many control frames waiting for a socket that does not drain');
      this.destroy();
      return;
    }
    this.queue(bytes);
  }

  private queueHeaders(id: number, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrameSize;
    let flags = endStream ? Flag.endStream : 0;
    if (block.length <= max) {
      const out = Buffer.allocUnsafe(frameHeaderBytes + block.length);
      writeFrameHeader(out, 0, block.length, FrameType.headers, flags | Flag.endHeaders, id);
      block.copy(out, frameHeaderBytes);
      this.queue(out);
      return;
    }
    let at = 0;
    let type: number = FrameType.headers;
    while (at < block.length) {
      const n = Math.min(max, block.length - at);
      const last = at + n === block.length;
      const header = Buffer.allocUnsafe(frameHeaderBytes);
      writeFrameHeader(header, 0, n, type, flags | (last ? Flag.endHeaders : 0), id);
      this.queue(header);
      this.queue(block.subarray(at, at + n));
      at += n;
      type = FrameType.continuation;
      flags = 0;
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.ended) return;
    this.flushScheduled = true;
    setImmediate(this.scheduledFlush);
  }

  /** Made once per connection: a closure made in scheduleFlush would cost each call a context. */
  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    this.flushGuarded();
  };

  private onDrain(): void {
    this.socketBlocked = false;
    this.controlFramesWhileBlocked = 0;
    this.flushGuarded();
  }

  /** flush() outside the input handler: a fault (a write callback that threw) ends this connection, not the process. */
  private flushGuarded(): void {
    try {
      this.flush();
    } catch (err) {
      this.events.error(`internal error: ${err instanceof Error ? err.message : String(err)}`);
      this.destroy();
    }
  }

  /** Sends what the windows allow of the waiting streams, then everything queued, in one write. */
  private flush(): void {
    if (this.ended) return;
    if (this.waiting.size > 0 && !this.socketBlocked) this.sendWaiting();
    if (this.out.length === 0) return;
    this.lastActivityMs = Date.now();
    const out = this.out;
    const callbacks = this.outCallbacks;
    const bytes = this.outBytes;
    this.queuedPingAcks = 0;
    if (this.pingAckTimer !== undefined) {
      clearTimeout(this.pingAckTimer);
      this.pingAckTimer = undefined;
    }
    this.out = [];
    this.outBytes = 0;
    this.outCallbacks = [];
    const done = callbacks.length === 0 ? undefined : () => {
      for (const cb of callbacks) cb();
    };
    let ok: boolean;
    if (out.length === 1) ok = this.socket.write(out[0]!, done);
    else if (bytes < joinBelowBytes) ok = this.socket.write(Buffer.concat(out, bytes), done);
    else {
      const cork = (this.socket as Duplex & { cork?: () => void; uncork?: () => void });
      cork.cork?.();
      for (let i = 0; i < out.length - 1; i++) this.socket.write(out[i]!);
      ok = this.socket.write(out[out.length - 1]!, done);
      cork.uncork?.();
    }
    if (!ok) this.socketBlocked = true;
  }

  /**
   * Sends the waiting streams' DATA one frame per stream in turn (a stream that sent goes to the back),
   * so that a large answer does not hold back a small one queued after it on the same connection (a
   * watch event behind 8 MiB ranges, etcd issue 15402), until nothing can go or one flush's worth is
   * queued. A stream out of its own window leaves the set until a WINDOW_UPDATE or SETTINGS gives it
   * more; one held by the connection's window waits in `connectionBlocked` for the connection's.
   */
  private sendWaiting(): void {
    for (const stream of this.waiting) {
      if (this.outBytes >= maxFlushBytes) {
        // the rest goes in the next turn's flush, after this one has left
        this.scheduleFlush();
        return;
      }
      this.waiting.delete(stream);
      if (stream.closed) continue;
      if (stream.queue.length > 0) {
        if (stream.sendWindow <= 0) continue;
        if (this.sendWindow <= 0) {
          this.connectionBlocked.add(stream);
          continue;
        }
      } else if (stream.trailers === undefined) continue;
      this.sendFrame(stream);
      if (!stream.closed && (stream.queue.length > 0 || stream.trailers !== undefined)) this.waiting.add(stream);
    }
  }

  /** One DATA frame from the stream's queue if both windows allow, or its trailers once the queue is empty. */
  private sendFrame(stream: H2Stream): boolean {
    if (stream.closed) return false;
    const q = stream.queue[0];
    if (q !== undefined) {
      const allowed = Math.min(stream.sendWindow, this.sendWindow);
      if (allowed <= 0) return false;
      const left = q.bytes.length - q.offset;
      const n = Math.min(left, allowed, this.peerMaxFrameSize);
      const header = Buffer.allocUnsafe(frameHeaderBytes);
      writeFrameHeader(header, 0, n, FrameType.data, 0, stream.id);
      const last = n === left;
      this.queue(header);
      this.queue(q.offset === 0 && last ? q.bytes : q.bytes.subarray(q.offset, q.offset + n), last ? q.written : undefined);
      q.offset += n;
      stream.sendWindow -= n;
      this.sendWindow -= n;
      stream.queuedBytes -= n;
      this.queuedOutputBytes -= n;
      if (last) stream.queue.shift();
      return true;
    }
    if (stream.trailers === undefined) return false;
    const block = stream.trailers;
    stream.trailers = undefined;
    this.queueHeaders(stream.id, block, true);
    this.localEnd(stream);
    return true;
  }
}

export type { RequestHeaders };
