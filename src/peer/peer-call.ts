// Request/response calls between members beside the Raft message stream (etcd forwards lease
// renewals and time-to-live queries to the leader the same way, over its peer port). A call is one
// POST to /lattice/peer/call/<method> on a session of its own toward the peer's URL (see
// PeerTransport.call for why not the link's), with the usual handshake headers; both bodies are protobuf and bounded. The handler answers a body, or
// refuses with a code of its own (sent in a header, so it can never be mistaken for a refusal of the
// handshake); anything else is a failure the caller may retry.
import http2 from 'node:http2';
import { handshakeHeaders, peerHeaders, peerPaths, type HandshakeIdentity } from './peer-protocol.js';
import { readBounded } from './read-bounded.js';

/** What a call handler answers. */
export type PeerCallAnswer =
  | { readonly kind: 'answer'; readonly body: Uint8Array }
  | { readonly kind: 'refused'; readonly code: string; readonly text: string };

/** 'unreachable': no working connection; 'busy': too many calls in flight; 'failed': anything else on the way. */
export type PeerCallFailure = 'unreachable' | 'busy' | 'timeout' | 'failed';

export type PeerCallResult = PeerCallAnswer | { readonly kind: 'failed'; readonly failure: PeerCallFailure; readonly reason: string };

/** Serves calls from peers; `from` has passed the handshake. */
export type PeerCallHandler = (from: bigint, method: string, body: Uint8Array) => Promise<PeerCallAnswer>;

/** Method names travel in the path: short, lower case. */
export const callMethodPattern = /^[a-z][a-z0-9-]{0,63}$/;

export const callFailed = (failure: PeerCallFailure, reason: string): PeerCallResult => ({ kind: 'failed', failure, reason });

export interface CallOverSessionOptions {
  readonly self: HandshakeIdentity;
  readonly to: bigint;
  readonly method: string;
  readonly body: Uint8Array;
  readonly maxResponseBytes: number;
  readonly timeoutMs: number;
}

/** One call on an open session toward `to`. Never rejects. */
export function callOverSession(session: http2.ClientHttp2Session, o: CallOverSessionOptions): Promise<PeerCallResult> {
  if (!callMethodPattern.test(o.method)) return Promise.resolve(callFailed('failed', `bad method name ${JSON.stringify(o.method)}`));
  return new Promise((resolve) => {
    let done = false;
    let stream: http2.ClientHttp2Stream | undefined;
    const finish = (result: PeerCallResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (stream !== undefined && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      resolve(result);
    };
    const timer = setTimeout(() => finish(callFailed('timeout', `no answer within ${o.timeoutMs} ms`)), Math.max(0, o.timeoutMs));
    try {
      stream = session.request({
        ':method': 'POST',
        ':path': peerPaths.calls + o.method,
        'content-type': 'application/protobuf',
        ...handshakeHeaders(o.self, o.to),
      });
    } catch (err) {
      finish(callFailed('unreachable', (err as Error).message));
      return;
    }
    const s = stream;
    let responded = false;
    s.on('error', (err) => finish(callFailed('failed', err.message)));
    // A session torn down (the peer killed) closes its streams without an error: fail at once, not at the timeout.
    s.on('close', () => {
      if (!responded) finish(callFailed('unreachable', 'connection closed before an answer'));
    });
    s.on('response', (headers) => {
      responded = true;
      const status = headers[':status'];
      const refusal = headers[peerHeaders.callRefusal];
      void readBounded(s, o.maxResponseBytes).then((read) => {
        if (!read.ok) return finish(callFailed('failed', read.reason === 'tooLarge' ? `answer over ${o.maxResponseBytes} bytes` : 'answer not read'));
        if (typeof refusal === 'string') return finish({ kind: 'refused', code: refusal, text: read.bytes.toString('utf8').trim() });
        if (status !== 200) return finish(callFailed('failed', `status ${status ?? 'none'}: ${read.bytes.toString('utf8').trim()}`));
        finish({ kind: 'answer', body: new Uint8Array(read.bytes) });
      });
    });
    s.end(Buffer.from(o.body.buffer, o.body.byteOffset, o.body.byteLength));
  });
}
