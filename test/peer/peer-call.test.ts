// Request/response calls between members (src/peer/peer-call.ts) on real loopback sockets: answers
// and refusals, a peer with no working link, bounded bodies and concurrency, slow handlers, and a
// caller from another cluster.
import http2 from 'node:http2';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { handshakeHeaders, peerHeaders, peerPaths } from '../../src/peer/peer-protocol.js';
import type { PeerCallHandler } from '../../src/peer/peer-call.js';
import type { PeerTransportLimits } from '../../src/peer/peer-transport.js';
import { withTimeout } from '../helpers/spec.js';
import { eventually, meshUp, startMember, type TestMember } from './peer-fixtures.js';

const started: TestMember[] = [];
const test = suite('peer calls');
const it = (name: string, body: () => Promise<void>): void =>
  test(name, async () => {
    try {
      await withTimeout(body(), 30_000, name);
    } finally {
      await Promise.all(started.splice(0).map((m) => m.transport.close()));
    }
  });

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const text = (b: Uint8Array): string => Buffer.from(b).toString();

async function pair(handleCall: PeerCallHandler, limits: Partial<PeerTransportLimits> = {}): Promise<[TestMember, TestMember]> {
  const a = await startMember(1n, { limits });
  const b = await startMember(2n, { handleCall, limits });
  started.push(a, b);
  meshUp([a, b]);
  await eventually(() => a.transport.isActive(2n), 'a links to b');
  return [a, b];
}

it('a call is answered with the handler’s body, and the handler sees who called', async () => {
  const seen: string[] = [];
  const [a] = await pair(async (from, method, body) => {
    seen.push(`${from}:${method}:${text(body)}`);
    return { kind: 'answer', body: bytes(`re ${text(body)}`) };
  });
  const r = await a.transport.call(2n, 'echo', bytes('hello'), 5_000);
  assert.equal(r.kind === 'answer' ? text(r.body) : r, 're hello');
  assert.equal(seen, ['1:echo:hello']);
});

it('a handler’s refusal arrives with its code and text, not as a failure', async () => {
  const [a] = await pair(async () => ({ kind: 'refused', code: 'leaseNotFound', text: 'lease not found' }));
  assert.equal(await a.transport.call(2n, 'lease-renew', bytes('x'), 5_000), { kind: 'refused', code: 'leaseNotFound', text: 'lease not found' });
});

it('a call to a peer with no working link fails at once as unreachable', async () => {
  const [a] = await pair(async () => ({ kind: 'answer', body: bytes('') }));
  const r = await a.transport.call(9n, 'echo', bytes(''), 5_000);
  assert.is(r.kind === 'failed' ? r.failure : r.kind, 'unreachable');
});

it('a request body over the limit is refused without reaching the handler', async () => {
  let called = false;
  const [a] = await pair(
    async () => {
      called = true;
      return { kind: 'answer', body: bytes('') };
    },
    { maxCallRequestBytes: 1024 },
  );
  const r = await a.transport.call(2n, 'echo', new Uint8Array(4096), 5_000);
  assert.is(r.kind, 'failed');
  assert.match(r.kind === 'failed' ? r.reason : '', /413/);
  assert.is(called, false);
});

it('a handler slower than the answer timeout gets 503; a caller with a shorter deadline times out', async () => {
  const [a] = await pair(() => new Promise(() => undefined), { callAnswerTimeoutMs: 300 });
  const late = await a.transport.call(2n, 'echo', bytes(''), 5_000);
  assert.match(late.kind === 'failed' ? late.reason : '', /503/);
  const short = await a.transport.call(2n, 'echo', bytes(''), 100);
  assert.is(short.kind === 'failed' ? short.failure : short.kind, 'timeout');
});

it('calls beyond the per-peer limit fail at once as busy', async () => {
  let release = (): void => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const [a] = await pair(
    async () => {
      await gate;
      return { kind: 'answer', body: bytes('done') };
    },
    { maxCallsInFlightPerPeer: 1 },
  );
  const first = a.transport.call(2n, 'echo', bytes(''), 5_000);
  const second = await a.transport.call(2n, 'echo', bytes(''), 5_000);
  assert.is(second.kind === 'failed' ? second.failure : second.kind, 'busy');
  release();
  assert.is((await first).kind, 'answer');
});

it('a call from another cluster is refused with 412 and never reaches the handler; a bad method name is 404', async () => {
  let called = false;
  const [, b] = await pair(async () => {
    called = true;
    return { kind: 'answer', body: bytes('') };
  });
  const statusOf = (path: string, cluster: bigint): Promise<number> =>
    new Promise((resolve) => {
      const session = http2.connect(b.url);
      session.on('error', () => resolve(0));
      const stream = session.request({ ':method': 'POST', ':path': path, ...handshakeHeaders({ localId: 1n, clusterId: cluster }, 2n) });
      stream.on('error', () => resolve(0));
      stream.on('response', (h) => {
        assert.is(h[peerHeaders.callRefusal], undefined);
        resolve(h[':status'] ?? 0);
        session.destroy();
      });
      stream.end();
    });
  assert.is(await statusOf(peerPaths.calls + 'echo', 0xbadn), 412);
  assert.is(await statusOf(peerPaths.calls + 'Not/A/Method', 0xc1n), 404);
  assert.is(called, false);
});

it('a call in flight when the peer goes away fails at once, not at its deadline', async () => {
  const [a, b] = await pair(() => new Promise(() => undefined));
  const startedAt = Date.now();
  const call = a.transport.call(2n, 'echo', bytes(''), 10_000);
  setTimeout(() => void b.transport.close(), 100);
  const r = await call;
  assert.is(r.kind, 'failed');
  assert.ok(Date.now() - startedAt < 3_000, `took ${Date.now() - startedAt} ms`);
});

test.run();
