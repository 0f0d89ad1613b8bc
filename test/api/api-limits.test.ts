// /api limits on an in-process client port over a fake store: the bound on open watches per client
// address, and a body that arrives too slowly.
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startClientPort } from '../../src/adapters/client-port.js';
import { FakeServerApi } from '../adapters/fake-server-api.js';
import { startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { serverSuite } from '../helpers/spec.js';
import { call, errorCode, openSse, openWs } from './api-client.js';

const test = suite('api limits');

test('a client address past maxWatchesPerAddress is answered 429 until one of its watches closes', async () => {
  const api = new FakeServerApi();
  const port = await startClientPort({ listenUrls: ['http://127.0.0.1:0'], api, log: () => undefined, friendlyApi: { watchLimits: { maxWatchesPerAddress: 2 } } });
  const url = `http://127.0.0.1:${port.addresses[0]?.port ?? 0}`;
  try {
    const a = await openSse(`${url}/api/watch/k`);
    const b = await openSse(`${url}/api/watch/k`);
    assert.equal([a.status, b.status], [200, 200]);
    const c = await call(`${url}/api/watch/k`, { headers: { Accept: 'text/event-stream' } });
    assert.equal([c.status, errorCode(c)], [429, 'tooManyWatches']);
    a.close();
    const deadline = Date.now() + 5000;
    let d = await openSse(`${url}/api/watch/k`);
    while (d.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      d = await openSse(`${url}/api/watch/k`);
    }
    assert.is(d.status, 200);
    b.close();
    d.close();
  } finally {
    await port.close();
    api.watch.close();
  }
});

test('WebSockets opened in parallel are counted at the upgrade: no more than maxWatchesPerAddress get through', async () => {
  const api = new FakeServerApi();
  const port = await startClientPort({ listenUrls: ['http://127.0.0.1:0'], api, log: () => undefined, friendlyApi: { watchLimits: { maxWatchesPerAddress: 2 } } });
  const ws = `ws://127.0.0.1:${port.addresses[0]?.port ?? 0}`;
  try {
    const all = await Promise.all(Array.from({ length: 6 }, () => openWs(`${ws}/api/watch/k`)));
    assert.equal(
      all.map((a) => a.status).sort(),
      [101, 101, 429, 429, 429, 429],
    );
    for (const a of all) a.ws.terminate();
  } finally {
    await port.close();
    api.watch.close();
  }
});

test('election observe streams count against the same per-address bound as watches', async () => {
  const api = new FakeServerApi();
  const port = await startClientPort({ listenUrls: ['http://127.0.0.1:0'], api, log: () => undefined, friendlyApi: { watchLimits: { maxWatchesPerAddress: 2 } } });
  const url = `http://127.0.0.1:${port.addresses[0]?.port ?? 0}`;
  try {
    const a = await openSse(`${url}/api/elections/e`);
    const b = await openSse(`${url}/api/watch/k`);
    assert.equal([a.status, b.status], [200, 200]);
    const c = await call(`${url}/api/elections/e`, { headers: { Accept: 'text/event-stream' } });
    assert.equal([c.status, errorCode(c)], [429, 'tooManyWatches']);
    a.close();
    b.close();
  } finally {
    await port.close();
    api.watch.close();
  }
});

test('a body that does not arrive within the body timeout is answered 408 and the connection closed', async () => {
  const api = new FakeServerApi();
  const port = await startClientPort({ listenUrls: ['http://127.0.0.1:0'], api, log: () => undefined, friendlyApi: { bodyTimeoutMs: 300 } });
  const p = port.addresses[0]?.port ?? 0;
  try {
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(p, '127.0.0.1');
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.write(`PUT /api/kv/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nonly part`);
    });
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.match(answer, /"code":"bodyTimeout"/);
  } finally {
    await port.close();
    api.watch.close();
  }
});

test('a learner answers /api status and serializable reads only; everything else is 503 with etcd text', async () => {
  const api = new FakeServerApi();
  const raft = api.raft.bind(api);
  Object.defineProperty(api, 'raft', { value: () => ({ ...raft(), isLearner: true }) });
  const port = await startClientPort({ listenUrls: ['http://127.0.0.1:0'], api, log: () => undefined });
  const url = `http://127.0.0.1:${port.addresses[0]?.port ?? 0}`;
  try {
    assert.is((await call(`${url}/api/status`)).status, 200);
    assert.is((await call(`${url}/api/kv/a?serializable`)).status, 404);
    const linearizable = await call(`${url}/api/kv/a`);
    assert.equal([linearizable.status, errorCode(linearizable)], [503, 'notSupportedForLearner']);
    assert.match(linearizable.text, 'etcdserver: rpc not supported for learner');
    assert.is((await call(`${url}/api/kv/a`, { method: 'PUT', body: 'x' })).status, 503);
    assert.is((await openWs(`${url.replace('http', 'ws')}/api/watch/k`)).status, 503);
  } finally {
    await port.close();
    api.watch.close();
  }
});

test.run();

const paged = serverSuite('api pages on a running server', async () => {
  const server: LatticeServer = await startLattice('memory');
  return { server, url: server.endpoint, stop: () => server.stop() };
});

paged.it('range reads and exports come in pages with a next token that reads on at the first page revision', async ({ url }) => {
  {
    for (let i = 0; i < 25; i++) assert.is((await call(`${url}/api/kv/p/${String(i).padStart(2, '0')}`, { method: 'PUT', body: 'v' })).status, 200);
    for (const base of ['/api/kv/p/?prefix&', '/api/export/p/?']) {
      const keys: string[] = [];
      let next: string | undefined;
      let pages = 0;
      do {
        const r = await call(`${url}${base}limit=10${next === undefined ? '' : `&continue=${encodeURIComponent(next)}`}`);
        assert.is(r.status, 200, r.text);
        for (const kv of r.json.kvs as Record<string, unknown>[]) keys.push(String(kv.key));
        next = r.json.next as string | undefined;
        // a key written after the first page is not in the later ones: one revision throughout
        if (pages++ === 0) await call(`${url}/api/kv/p/99`, { method: 'PUT', body: 'late' });
      } while (next !== undefined);
      assert.is(pages, 3, base);
      assert.equal(keys, Array.from({ length: 25 }, (_, i) => `p/${String(i).padStart(2, '0')}`));
      await call(`${url}/api/kv/p/99`, { method: 'DELETE' });
    }
    const tooMany = await call(`${url}/api/kv/p/?prefix&limit=10001`);
    assert.equal([tooMany.status, errorCode(tooMany)], [400, 'invalidArgument']);
    const unbounded = await call(`${url}/api/kv/p/?prefix`);
    assert.equal([unbounded.status, (unbounded.json.kvs as unknown[]).length, unbounded.json.next], [200, 25, undefined]);
  }
});

paged.run();
