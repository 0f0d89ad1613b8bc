// Sends one MsgSnap with its state on a connection of its own (as etcd's snapshot sender uses its own
// round tripper), so the state's megabytes share neither a TCP stream nor an HTTP/2 connection window
// with heartbeats. The body is a frame holding the message, then the state's chunks as they come,
// written only as fast as the peer reads them (every write waits for 'drain' when the buffer is
// full). Success is the receiver's 204, which it sends after the application stored the state.
import http2 from 'node:http2';
import type { Logger } from '../server/logger.js';
import { formatId } from '../server/member-id.js';
import type { Message } from '../raft/types.js';
import { encodeMessage } from './message-codec.js';
import { frameHeaderBytes, writeFrameHeader } from './frame-reader.js';
import { dialPeer, type PeerHttp2Limits, type PeerTls } from './peer-endpoints.js';
import { handshakeHeaders, memberRemovedText, peerPaths, type HandshakeIdentity } from './peer-protocol.js';
import { readBoundedText } from './read-bounded.js';

export interface SnapshotSendLimits {
  readonly maxFrameBytes: number;
  readonly dialTimeoutMs: number;
  /** No progress (a write accepted, or the answer) for this long fails the send. */
  readonly snapshotStallTimeoutMs: number;
  /** After the last byte, how long the receiver may take to store the state and answer. */
  readonly snapshotStoreTimeoutMs: number;
}

export interface SnapshotSendDeps {
  readonly self: HandshakeIdentity;
  readonly limits: SnapshotSendLimits;
  readonly http2Limits: PeerHttp2Limits;
  readonly tls?: PeerTls;
  readonly logger: Logger;
}

export type SnapshotSendResult = { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly reason: string; readonly removed: boolean };

const maxRefusalBodyBytes = 1024;

class SendFailed extends Error {
  constructor(
    message: string,
    readonly removed = false,
  ) {
    super(message);
  }
}

/** Streams the snapshot; never rejects. `abort` (from close or removePeer) fails it at once. */
export async function sendSnapshot(
  url: string,
  message: Message,
  state: () => AsyncIterable<Uint8Array>,
  deps: SnapshotSendDeps,
  abort: AbortSignal,
): Promise<SnapshotSendResult> {
  const peer = formatId(message.to);
  let session: http2.ClientHttp2Session | undefined;
  let bytes = 0;
  let stall: NodeJS.Timeout | undefined;
  let dialTimer: NodeJS.Timeout | undefined;
  /** Once the receiver has answered, its status decides the outcome, not the close that follows. */
  let answeredStatus: number | undefined;
  let failNow: ((e: SendFailed) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    failNow = reject;
  });
  failed.catch(() => undefined);
  const fail = (reason: string, removed = false): void => failNow?.(new SendFailed(reason, removed));
  const progress = (): void => {
    clearTimeout(stall);
    stall = setTimeout(() => fail(`no progress for ${deps.limits.snapshotStallTimeoutMs} ms`), deps.limits.snapshotStallTimeoutMs);
  };
  const onAbort = (): void => fail('transport closed or peer removed');
  abort.addEventListener('abort', onAbort);

  try {
    if (abort.aborted) throw new SendFailed('transport closed or peer removed');
    const header = encodeMessage(message);
    if (header.length > deps.limits.maxFrameBytes) throw new SendFailed(`snapshot message of ${header.length} bytes exceeds the frame limit`);
    const frame = new Uint8Array(frameHeaderBytes + header.length);
    writeFrameHeader(frame, header.length);
    frame.set(header, frameHeaderBytes);

    session = dialPeer(url, deps.http2Limits, deps.tls);
    session.on('error', (err) => {
      if (answeredStatus === undefined) fail(`connection to ${url} failed: ${err.message}`);
    });
    session.on('close', () => {
      if (answeredStatus === undefined) fail(`connection to ${url} closed`);
    });
    dialTimer = setTimeout(() => fail(`no connection to ${url} within ${deps.limits.dialTimeoutMs} ms`), deps.limits.dialTimeoutMs);
    session.once('connect', () => clearTimeout(dialTimer));
    progress();

    const stream = session.request(
      { ':method': 'POST', ':path': peerPaths.snapshot, 'content-type': 'application/octet-stream', ...handshakeHeaders(deps.self, message.to) },
      { endStream: false },
    );
    stream.on('error', (err) => {
      if (answeredStatus === undefined) fail(`stream failed: ${err.message}`);
    });
    const answered = new Promise<void>((resolve) => {
      stream.once('response', (headers) => {
        const status = headers[':status'] ?? 0;
        answeredStatus = status;
        if (status === 204 || status === 200) {
          resolve();
          return;
        }
        void readBoundedText(stream, maxRefusalBodyBytes).then((text) =>
          fail(status === 410 ? memberRemovedText : `peer answered ${status} ${text}`, status === 410),
        );
      });
      stream.once('close', () => {
        if (answeredStatus === undefined) fail('stream closed before the answer');
      });
    });

    const write = async (chunk: Uint8Array): Promise<void> => {
      if (!stream.write(chunk)) {
        await Promise.race([new Promise<void>((resolve) => stream.once('drain', resolve)), failed]);
      }
      progress();
    };
    const upload = async (): Promise<void> => {
      await write(frame);
      for await (const chunk of state()) {
        // the receiver may store what it needs and answer before reading everything
        if (answeredStatus !== undefined) break;
        if (stream.destroyed) throw new SendFailed('stream closed while sending');
        bytes += chunk.length;
        await write(chunk);
      }
      if (!stream.destroyed) stream.end();
    };
    await Promise.race([upload(), failed]);
    clearTimeout(stall);
    stall = setTimeout(() => fail(`no answer within ${deps.limits.snapshotStoreTimeoutMs} ms of the last byte`), deps.limits.snapshotStoreTimeoutMs);
    await Promise.race([answered, failed]);
    stream.close();
    return { ok: true, bytes };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    deps.logger.warn('failed to send database snapshot', { 'remote-peer-id': peer, 'snapshot-index': message.snapshot?.metadata.index, bytes, error: reason });
    return { ok: false, reason, removed: err instanceof SendFailed && err.removed };
  } finally {
    clearTimeout(stall);
    clearTimeout(dialTimer);
    abort.removeEventListener('abort', onAbort);
    failNow = undefined;
    session?.destroy();
  }
}
