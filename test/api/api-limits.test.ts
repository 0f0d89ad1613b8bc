// /api limits on an in-process client port over a fake store: the bound on open watches per client
// address, and a body that arrives too slowly.
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startClientPort } from '../../src/adapters/client-port.js';
import { FakeServerApi } from '../adapters/fake-server-api.js';
import { call, errorCode, openSse } from './api-client.js';

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
      socket.write(`PUT /api/kv/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part`);
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
  } finally {
    await port.close();
    api.watch.close();
  }
});

test.run();
