// `--transport-workers 2`: plain-text client connections are served by child processes that relay
// their calls to the server. Real clients on every protocol the port speaks (gRPC from etcdctl and
// the npm etcd3 client, the JSON gateway, /health, the console, the friendly API's SSE and WebSocket
// watches), a worker killed under a client, the per-listener connection limit, and shutdown.
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import WebSocket from 'ws';
import { etcdctl } from '../helpers/etcdctl.js';
import { startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { waitUntil } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

const workers = 2;

interface Fixture extends LatticeServer {
  client: Etcd3;
}

async function start(extra: readonly string[] = []): Promise<Fixture> {
  const server = await startLattice('memory', 'lattice', ['--transport-workers', String(workers), ...extra]);
  const client = new Etcd3({ hosts: server.endpoint });
  const stop = server.stop.bind(server);
  return Object.assign(server, {
    client,
    async stop() {
      client.close();
      await stop();
    },
  });
}

/** The processes whose parent is `pid` (Linux /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(join('/proc', entry, 'stat'), 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function gateway(server: Fixture, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.endpoint}${path}`, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const s = serverSuite(`Lattice with ${workers} transport workers`, () => start());

s.it('the server runs its transport workers as child processes', async (server) => {
  assert.is(childPids(server.process.pid).length, workers);
});

s.it('gRPC: the etcd3 client puts, gets, runs a txn and watches', async ({ client }) => {
  await client.put('tw/a').value('1');
  assert.is(await client.get('tw/a').string(), '1');
  const txn = await client.if('tw/a', 'Value', '==', '1').then(client.put('tw/b').value('2')).commit();
  assert.ok(txn.succeeded);
  const watcher = await client.watch().prefix('tw/').create();
  const seen = new Promise<string>((resolve) => watcher.on('put', (kv) => resolve(`${kv.key.toString()}=${kv.value.toString()}`)));
  await client.put('tw/c').value('3');
  assert.is(await seen, 'tw/c=3');
  await watcher.cancel();
});

s.it('gRPC: 1 MiB values go both ways, 24 MiB on one connection (past its 16 MiB window: credit comes back as the server takes them)', async ({ client }) => {
  const value = Buffer.alloc(1024 * 1024, 7);
  for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 8 }, (_, i) => client.put(`tw/big${i}`).value(value)));
  const got = await client.get('tw/big7').buffer();
  assert.ok(got !== null && got.equals(value));
});

s.it('gRPC: etcdctl gets the same answers, errors included', async (server) => {
  if (missingTools(['etcdctl']) !== null) return;
  const put = await etcdctl(server.endpoint, ['put', 'tw/ctl', 'v']);
  assert.is(put.stdout.trim(), 'OK');
  const get = await etcdctl(server.endpoint, ['get', 'tw/ctl', '--print-value-only']);
  assert.is(get.stdout.trim(), 'v');
  const bad = await etcdctl(server.endpoint, ['put', '', 'v']);
  assert.match(bad.stderr, 'etcdserver: key is not provided');
});

s.it('HTTP/1: the JSON gateway, /health and the console answer through the relay', async (server) => {
  const put = await gateway(server, '/v3/kv/put', { key: b64('tw/gw'), value: b64('x') });
  assert.is(put.status, 200);
  const range = await gateway(server, '/v3/kv/range', { key: b64('tw/gw') });
  assert.is((range.json['kvs'] as { value: string }[])[0]?.value, b64('x'));
  const bad = await gateway(server, '/v3/kv/put', { value: b64('x') });
  assert.is(bad.status, 400);
  assert.is(bad.json['message'], 'etcdserver: key is not provided');
  const health = await fetch(`${server.endpoint}/health`);
  assert.equal(await health.json(), { health: 'true' });
  const ui = await fetch(`${server.endpoint}/ui/`);
  assert.is(ui.status, 200);
  assert.match(await ui.text(), '<html');
});

s.it('HTTP/1: a gateway put of a 1 MiB value, and many requests on one kept-alive connection', async (server) => {
  const value = Buffer.alloc(1024 * 1024, 3).toString('base64');
  const put = await gateway(server, '/v3/kv/put', { key: b64('tw/gwbig'), value });
  assert.is(put.status, 200);
  const range = await gateway(server, '/v3/kv/range', { key: b64('tw/gwbig') });
  assert.is((range.json['kvs'] as { value: string }[])[0]?.value, value);
  for (let i = 0; i < 50; i++) assert.is((await gateway(server, '/v3/kv/put', { key: b64(`tw/k${i}`), value: b64(String(i)) })).status, 200);
});

s.it('HTTP/1: the friendly API streams a watch by SSE and by WebSocket', async (server) => {
  const abort = new AbortController();
  const res = await fetch(`${server.endpoint}/api/watch/tw/sse?prefix`, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
  assert.is(res.status, 200);
  const reader = res.body!.getReader();
  const ws = new WebSocket(`${server.endpoint.replace('http:', 'ws:')}/api/watch/tw/ws?prefix`);
  const wsEvent = new Promise<string>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      if (data.toString().includes('tw/ws1')) resolve(data.toString());
    });
    ws.on('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  await fetch(`${server.endpoint}/api/kv/tw/sse1`, { method: 'PUT', body: 'hello' });
  await fetch(`${server.endpoint}/api/kv/tw/ws1`, { method: 'PUT', body: 'hi' });
  let text = '';
  while (!text.includes('tw/sse1')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  assert.match(text, 'tw/sse1');
  assert.match(await wsEvent, 'tw/ws1');
  ws.close();
  abort.abort();
});

/** Watch calls started and not yet ended, from the member's gRPC metrics. */
async function openWatchCalls(server: Fixture | LatticeServer): Promise<number> {
  const text = await (await fetch(`${server.endpoint}/metrics`)).text();
  const sum = (name: string): number =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name) && l.includes('grpc_service="etcdserverpb.Watch"'))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return sum('grpc_server_started_total') - sum('grpc_server_handled_total');
}

s.it('a worker killed under watching clients: their calls end on the server, another worker starts, every client goes on', async (server) => {
  const before = childPids(server.process.pid);
  assert.is(before.length, workers);
  // four connections, handed round robin: each worker carries two, each with a watch open
  const clients = Array.from({ length: 4 }, () => new Etcd3({ hosts: server.endpoint }));
  try {
    const watchers = [];
    for (const c of clients) watchers.push(await c.watch().key('tw/kill').create());
    await waitUntil(async () => (await openWatchCalls(server)) >= clients.length, { timeoutMs: 10_000, what: 'the watches open on the server' });
    process.kill(before[0]!, 'SIGKILL');
    await waitUntil(() => !alive(before[0]!) && childPids(server.process.pid).filter((p) => p !== before[0]).length === workers, {
      timeoutMs: 20_000,
      what: 'a replacement transport worker',
    });
    // every client reconnects (grpc-js retries on a new connection) and is answered
    for (const [i, c] of clients.entries()) {
      await waitUntil(
        async () => {
          try {
            await c.put('tw/kill').value(String(i));
            return true;
          } catch {
            return false;
          }
        },
        { timeoutMs: 20_000, what: `client ${i} answered again` },
      );
    }
    assert.is(await server.client.get('tw/kill').string(), String(clients.length - 1));
    assert.match(readFileSync(join(server.address.dataDir, '..', 'lattice.log'), 'utf8'), /transport worker \d exited/);
    for (const w of watchers) await w.cancel().catch(() => undefined);
  } finally {
    for (const c of clients) c.close();
  }
  // the calls of the killed worker ended with it, the others with their clients: none is left open
  await waitUntil(async () => (await openWatchCalls(server)) === 0, { timeoutMs: 10_000, what: 'every watch call to end on the server' });
});

s.it('SIGTERM with a client that has said nothing yet, and a watch open: the server and its workers exit, without SIGKILL', async (server) => {
  const children = childPids(server.process.pid);
  const quiet = net.connect(server.address.clientPort, '127.0.0.1');
  quiet.on('error', () => undefined);
  await new Promise((resolve) => quiet.once('connect', resolve));
  const watcher = await server.client.watch().key('tw/held').create();
  const started = Date.now();
  const exit = await server.process.stop(8_000);
  assert.is(exit.signal, null, `the server was killed (${JSON.stringify(exit)})`);
  assert.ok(Date.now() - started < 8_000);
  await waitUntil(() => children.every((p) => !alive(p)), { timeoutMs: 10_000, what: 'the workers to exit' });
  quiet.destroy();
  await watcher.cancel().catch(() => undefined);
});

s.run();

// no client of its own: every connection here is the test's
const limited = serverSuite(`Lattice with ${workers} transport workers and --max-client-connections 3`, () =>
  startLattice('memory', 'lattice', ['--transport-workers', String(workers), '--max-client-connections', '3']),
);

limited.it('a connection past the limit is closed as it is accepted; one closing makes room', async (server) => {
  const connect = (): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const socket = net.connect(server.address.clientPort, '127.0.0.1', () => resolve(socket));
      socket.on('error', reject);
    });
  const closedSoon = (socket: net.Socket, withinMs = 1_000): Promise<boolean> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), withinMs);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
      socket.on('error', () => undefined);
    });
  // the start-up probe's connection is counted until its worker reports it closed, a moment later:
  // open three that stay open, starting again while one is refused
  const open: net.Socket[] = [];
  await waitUntil(
    async () => {
      while (open.length < 3) {
        const s = await connect();
        if (await closedSoon(s, 300)) return false;
        open.push(s);
      }
      return true;
    },
    { timeoutMs: 10_000, what: 'three connections open' },
  );
  const extra = await connect();
  assert.ok(await closedSoon(extra), 'the fourth connection is closed');
  for (const s of open) assert.not.ok(s.destroyed);
  open[0]!.destroy();
  await waitUntil(
    async () => {
      const again = await connect();
      const closed = await closedSoon(again);
      again.destroy();
      return !closed;
    },
    { timeoutMs: 10_000, what: 'room for one more connection' },
  );
  for (const s of open) s.destroy();
});

limited.run();

const single = serverSuite('Lattice with 1 transport worker', () => startLattice('memory', 'lattice', ['--transport-workers', '1']));

single.it('after its only worker died and was replaced, SIGTERM still exits without SIGKILL', async (server) => {
  const [worker] = childPids(server.process.pid);
  assert.ok(worker !== undefined);
  // a connection to the first worker, so that the listener counts on it
  assert.is((await fetch(`${server.endpoint}/health`)).status, 200);
  process.kill(worker, 'SIGKILL');
  await waitUntil(() => !alive(worker) && childPids(server.process.pid).length === 1, { timeoutMs: 20_000, what: 'a replacement transport worker' });
  const exit = await server.process.stop(8_000);
  assert.is(exit.signal, null, `the server was killed (${JSON.stringify(exit)})`);
});

single.run();
