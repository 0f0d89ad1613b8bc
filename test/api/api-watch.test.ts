// Live watch through /api on a real Lattice process, once per engine: SSE and WebSocket streams see
// puts made by etcdctl, resume after Last-Event-ID / from ?start_revision without gaps, answer a
// compacted start with 410, and a WebSocket client that never reads is cut off.
import net from 'node:net';
import * as assert from 'uvu/assert';
import { engines, startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools, skip } from '../helpers/tools.js';
import { call, changedKeys, openSse, openWs } from './api-client.js';
import { defaultWatchLimits } from '../../src/adapters/api/api-watch.js';

for (const engine of engines) {
  const s = serverSuite(`api watch (${engine})`, async () => {
    const server: LatticeServer = await startLattice(engine);
    return { server, url: server.endpoint, stop: () => server.stop() };
  });
  const etcdctlMissing = missingTools(['etcdctl']);
  // without etcdctl those tests print one SKIP line each and are not registered
  const withEtcdctl: typeof s.it = etcdctlMissing === null ? s.it : (name) => skip(`${name}: ${etcdctlMissing}`);

  withEtcdctl('an SSE prefix watch sees a put made by etcdctl, and resumes after Last-Event-ID with exactly what it missed', async ({ url }) => {
    const sse = await openSse(`${url}/api/watch/sse/?prefix`);
    assert.is(sse.status, 200);
    await sse.stream.waitFor('created', (m) => m.event === 'created');
    const r = await etcdctl(url, ['put', 'sse/one', '1']);
    assert.is(r.code, 0, r.stderr);
    const first = await sse.stream.waitFor('the etcdctl put', (m) => m.event === 'change');
    assert.equal(changedKeys(first), ['sse/one']);
    assert.is(first.id, String(first.data.revision));
    sse.close();
    // missed while disconnected
    await etcdctl(url, ['put', 'sse/two', '2']);
    await etcdctl(url, ['put', 'sse/three', '3']);
    const resumed = await openSse(`${url}/api/watch/sse/?prefix`, { 'Last-Event-ID': first.id ?? '' });
    const three = await resumed.stream.waitFor('the missed puts', (m) => changedKeys(m).includes('sse/three'));
    assert.ok(three);
    assert.equal(resumed.stream.messages.filter((m) => m.event === 'change').flatMap(changedKeys), ['sse/two', 'sse/three']);
    resumed.close();
  });

  withEtcdctl('a WebSocket watch sees a put and a delete made by etcdctl, with prev_kv', async ({ url }) => {
    const w = await openWs(`${url.replace('http', 'ws')}/api/watch/ws/key?prev_kv`);
    assert.is(w.status, 101);
    await w.stream.waitFor('created', (m) => m.event === 'created');
    await etcdctl(url, ['put', 'ws/key', 'v1']);
    await etcdctl(url, ['del', 'ws/key']);
    const del = await w.stream.waitFor('the delete', (m) => (m.data.events as Record<string, unknown>[] | undefined)?.[0]?.type === 'DELETE');
    const ev = (del.data.events as Record<string, Record<string, unknown>>[])[0]!;
    assert.is(ev.prev_kv?.value, 'v1');
    w.ws.close();
  });

  s.it('a WebSocket watch from ?start_revision replays history first, then live changes', async ({ url }) => {
    const a = await call(`${url}/api/kv/wsr/a`, { method: 'PUT', body: 'a' });
    await call(`${url}/api/kv/wsr/b`, { method: 'PUT', body: 'b' });
    const w = await openWs(`${url.replace('http', 'ws')}/api/watch/wsr/?prefix&start_revision=${a.json.revision as number}`);
    await w.stream.waitFor('history', (m) => changedKeys(m).includes('wsr/b'));
    await call(`${url}/api/kv/wsr/c`, { method: 'PUT', body: 'c' });
    await w.stream.waitFor('live', (m) => changedKeys(m).includes('wsr/c'));
    assert.equal(w.stream.messages.filter((m) => m.event === 'change').flatMap(changedKeys), ['wsr/a', 'wsr/b', 'wsr/c']);
    w.ws.close();
  });

  s.it('a watch from a compacted revision is answered 410 with the compact revision, over SSE and WebSocket', async ({ url }) => {
    const a = await call(`${url}/api/kv/cmp/a`, { method: 'PUT', body: 'a' });
    await call(`${url}/api/kv/cmp/a`, { method: 'PUT', body: 'b' });
    await call(`${url}/api/compaction`, { method: 'POST', body: JSON.stringify({ revision: (a.json.revision as number) + 1 }) });
    const sse = await call(`${url}/api/watch/cmp/a?start_revision=${a.json.revision as number}`, { headers: { Accept: 'text/event-stream' } });
    assert.is(sse.status, 410);
    assert.is((sse.json.error as Record<string, unknown>).compact_revision, (a.json.revision as number) + 1);
    const w = await openWs(`${url.replace('http', 'ws')}/api/watch/cmp/a?start_revision=${a.json.revision as number}`);
    assert.is(w.status, 410);
  });

  s.it('a cross-origin WebSocket handshake is refused with 403', async ({ url }) => {
    const w = await openWs(`${url.replace('http', 'ws')}/api/watch/x`, { Origin: 'http://evil.example' });
    assert.is(w.status, 403);
  });

  s.it('a WebSocket client that never reads is cut off once its backlog stays over the bound', async ({ url }) => {
    const u = new URL(url);
    const socket = net.connect(Number(u.port), u.hostname);
    let received = 0;
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('data', (d: Buffer) => {
        received += d.length;
        if (d.toString().startsWith('HTTP/1.1 101')) resolve();
        else reject(new Error(`no upgrade: ${d.toString()}`));
      });
      socket.write(
        `GET /api/watch/slow/?prefix HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.pause();
    const value = Buffer.alloc(512 * 1024, 0x61);
    const puts = 48;
    for (let i = 0; i < puts; i++) assert.is((await call(`${url}/api/kv/slow/${i}`, { method: 'PUT', body: value })).status, 200);
    // the grace a slow reader gets is the condition itself: wait it out without reading
    await new Promise((r) => setTimeout(r, defaultWatchLimits.slowWatchClientGraceMs + 2_000));
    socket.on('data', (d: Buffer) => (received += d.length));
    socket.resume();
    const deadline = Date.now() + 20_000;
    while (!closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(closed, 'the server kept the never-reading socket open');
    assert.ok(received < puts * value.length, `received ${received} bytes: everything was buffered`);
    assert.is((await call(`${url}/api/status`)).status, 200);
  }, 90_000);

  s.run();
}
