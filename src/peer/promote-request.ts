// etcd forwards `member promote` from a follower to the leader over the peer port (POST
// /members/promote/<id>, etcd's promoteMemberHTTP): only the leader knows whether the learner is in
// sync. Between Lattice members the answer is JSON: the member list (as GET /members answers it) or
// the EtcdError kind that refused the promotion.
import http2 from 'node:http2';
import type { EtcdErrorKind } from '../core/errors.js';
import { dialPeer, defaultPeerHttp2Limits, type PeerTls } from './peer-endpoints.js';
import { peerPaths } from './peer-protocol.js';
import { readBounded } from './read-bounded.js';

/** An answer is a member list: a few hundred bytes per member. */
const maxPromoteAnswerBytes = 1024 * 1024;

export type PromoteAnswer =
  | { readonly type: 'promoted'; readonly members: unknown }
  | { readonly type: 'refused'; readonly error: EtcdErrorKind };

export type PromoteOutcome = PromoteAnswer | { readonly type: 'unreachable'; readonly reason: string };

export const promotePath = (id: bigint): string => `${peerPaths.promote}${id.toString(10)}`;

/** The member ID in a promote path, or undefined for anything else. */
export function parsePromotePath(path: string): bigint | undefined {
  if (!path.startsWith(peerPaths.promote)) return undefined;
  const digits = path.slice(peerPaths.promote.length);
  return /^\d{1,20}$/.test(digits) ? BigInt(digits) : undefined;
}

const isPromoteAnswer = (v: unknown): v is PromoteAnswer =>
  typeof v === 'object' && v !== null && (((v as { type?: unknown }).type === 'promoted' && 'members' in v) || ((v as { type?: unknown }).type === 'refused' && typeof (v as { error?: unknown }).error === 'string'));

/** Asks the member at `url` (the leader) to promote `id`. Never rejects. */
export function requestPromote(url: string, id: bigint, timeoutMs: number, peerTls?: PeerTls): Promise<PromoteOutcome> {
  return new Promise((resolve) => {
    let session: http2.ClientHttp2Session | undefined;
    let done = false;
    const finish = (outcome: PromoteOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session?.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ type: 'unreachable', reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
    try {
      session = dialPeer(url, defaultPeerHttp2Limits, peerTls);
    } catch (err) {
      finish({ type: 'unreachable', reason: (err as Error).message });
      return;
    }
    session.on('error', (err) => finish({ type: 'unreachable', reason: err.message }));
    session.on('close', () => finish({ type: 'unreachable', reason: 'connection closed' }));
    const stream = session.request({ ':method': 'POST', ':path': promotePath(id) }, { endStream: true });
    stream.on('error', (err) => finish({ type: 'unreachable', reason: err.message }));
    stream.on('response', (headers) => {
      const status = headers[':status'];
      void readBounded(stream, maxPromoteAnswerBytes).then((body) => {
        if (status !== 200 || !body.ok) return finish({ type: 'unreachable', reason: `status ${status ?? 'none'}` });
        try {
          const answer: unknown = JSON.parse(body.bytes.toString('utf8'));
          finish(isPromoteAnswer(answer) ? answer : { type: 'unreachable', reason: 'not a promote answer' });
        } catch {
          finish({ type: 'unreachable', reason: 'answer is not JSON' });
        }
      });
    });
  });
}
