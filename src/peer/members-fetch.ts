// A joining member reads the member list from any existing member's peer URL (etcd's
// getClusterFromRemotePeers): the URLs are tried in order, each with its own timeout, and the first
// JSON answer wins.
import http2 from 'node:http2';
import { dialPeer, defaultPeerHttp2Limits, type PeerTls } from './peer-endpoints.js';
import { peerPaths } from './peer-protocol.js';
import { readBounded } from './read-bounded.js';

/** A member list is a few hundred bytes per member; anything near this is not one. */
export const maxMembersJsonBytes = 1024 * 1024;

export class MembersFetchError extends Error {
  constructor(readonly failures: ReadonlyArray<{ readonly url: string; readonly reason: string }>) {
    super(`could not retrieve cluster information from the given URLs: ${failures.map((f) => `${f.url}: ${f.reason}`).join('; ')}`);
    this.name = 'MembersFetchError';
  }
}

type Attempt = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

function fetchOne(url: string, timeoutMs: number, peerTls: PeerTls): Promise<Attempt> {
  return new Promise((resolve) => {
    let session: http2.ClientHttp2Session | undefined;
    let done = false;
    const finish = (result: Attempt): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
    try {
      session = dialPeer(url, defaultPeerHttp2Limits, peerTls);
    } catch (err) {
      finish({ ok: false, reason: (err as Error).message });
      return;
    }
    session.on('error', (err) => finish({ ok: false, reason: err.message }));
    session.on('close', () => finish({ ok: false, reason: 'connection closed' }));
    const stream = session.request({ ':method': 'GET', ':path': peerPaths.members });
    stream.on('error', (err) => finish({ ok: false, reason: err.message }));
    stream.on('response', (headers) => {
      const status = headers[':status'];
      void readBounded(stream, maxMembersJsonBytes).then((body) => {
        if (status !== 200) return finish({ ok: false, reason: `status ${status ?? 'none'}` });
        if (!body.ok) return finish({ ok: false, reason: body.reason === 'tooLarge' ? `answer over ${maxMembersJsonBytes} bytes` : 'read failed' });
        try {
          finish({ ok: true, value: JSON.parse(body.bytes.toString('utf8')) as unknown });
        } catch {
          finish({ ok: false, reason: 'answer is not JSON' });
        }
      });
    });
  });
}

/** GET /members from the first URL that answers; rejects with MembersFetchError listing every failure. */
export async function fetchMembersFromPeers(urls: readonly string[], timeoutMs: number, peerTls?: PeerTls): Promise<unknown> {
  const failures: { url: string; reason: string }[] = [];
  for (const url of urls) {
    const attempt = await fetchOne(url, timeoutMs, peerTls);
    if (attempt.ok) return attempt.value;
    failures.push({ url, reason: attempt.reason });
  }
  throw new MembersFetchError(failures);
}
