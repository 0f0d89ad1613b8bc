// The gateway on a real client port over an in-memory ServerApi: streams end when the client leaves,
// bodies are bounded, and no body, however broken, costs more than its own request.
import http from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startClientPort, type ClientPort } from '../../src/adapters/client-port.js';
import type { WatchApi } from '../../src/core/watch-api.js';
import { FakeServerApi } from './fake-server-api.js';
import { createGatewayHandler, methodsByPath } from '../../src/adapters/gateway/gateway-handler.js';
import { createHttpRouter } from '../../src/adapters/http/http-router.js';
import { defaultGrpcServices } from '../../src/adapters/grpc/grpc-server.js';
import type { AddressInfo } from 'node:net';

const test = suite('gateway: HTTP behaviour');
const maxRequestBytes = 64 * 1024;

interface Fixture {
  readonly port: ClientPort;
  readonly url: string;
  readonly api: FakeServerApi;
  /** Watch streams the hub holds open. */
  openWatchStreams(): number;
}

async function withPort(body: (f: Fixture) => Promise<void>): Promise<void> {
  const api = new FakeServerApi();
  const hub = api.watch;
  let open = 0;
  const counting: WatchApi = {
    openStream: (sink) => {
      open++;
      return hub.openStream(sink);
    },
    receive: (msg) => {
      if (msg.type === 'close') open--;
      hub.receive(msg);
    },
  };
  Object.defineProperty(api, 'watch', { value: counting });
  const port = await startClientPort({ listenUrls: ['http://127.0.0.1:0'], api, maxRequestBytes, log: () => undefined });
  try {
    await body({ port, api, url: `http://127.0.0.1:${port.addresses[0]?.port ?? 0}`, openWatchStreams: () => open });
  } finally {
    await port.close();
    hub.close();
  }
}

async function post(url: string, body: string | Uint8Array<ArrayBuffer>): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', body });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('put then range through the gateway reach the store and answer jsonpb', async () => {
  await withPort(async ({ url }) => {
    const put = await post(`${url}/v3/kv/put`, JSON.stringify({ key: 'Zm9v', value: 'YmFy' }));
    assert.is(put.status, 200);
    assert.is(put.headers.get('content-type'), 'application/json');
    const range = await post(`${url}/v3/kv/range`, '{"key":"Zm9v"}');
    assert.match(range.body, /"kvs":\[\{"key":"Zm9v",.*"value":"YmFy"\}\],"count":"1"\}$/);
  });
});

test('a watch stream answers {"result":…} lines and its hub stream closes when the client goes away', async () => {
  await withPort(async ({ url, openWatchStreams }) => {
    const first = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${url}/v3/watch`, { method: 'POST' }, (res) => {
        res.once('data', (chunk: Buffer) => {
          resolve(chunk.toString());
          req.destroy();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end('{"create_request":{"key":"YQ=="}}');
    });
    assert.match(first, /^\{"result":\{"header":\{.*\},"created":true\}\}\n$/);
    await until('the watch stream to close', () => openWatchStreams() === 0);
  });
});

test('a body past twice the gRPC receive limit is refused with 429 and the connection closed', async () => {
  await withPort(async ({ url }) => {
    const huge = Buffer.alloc(2 * (maxRequestBytes + 512 * 1024) + 1024, 0x20);
    // node's client, which hands over the answer while the upload is still going (the server may
    // reset the connection under the rest of it)
    const r = await new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      const req = http.request(`${url}/v3/kv/put`, { method: 'POST' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
      });
      req.on('error', reject);
      req.end(huge);
    });
    assert.is(r.status, 429);
    assert.is(r.connection, 'close');
    assert.match(r.body, /"code":8/);
    // the port still serves
    assert.is((await post(`${url}/v3/kv/range`, '{"key":"YQ=="}')).status, 200);
  });
});

test('a message over max-request-bytes + 512 KiB is refused with gRPC receive limit text', async () => {
  await withPort(async ({ url }) => {
    const value = Buffer.alloc(maxRequestBytes + 512 * 1024 + 10, 1).toString('base64');
    const r = await post(`${url}/v3/kv/put`, JSON.stringify({ key: 'YQ==', value }));
    assert.is(r.status, 429);
    assert.match(r.body, /grpc: received message larger than max \(\d+ vs\. 589824\)/);
  });
});

test('hundreds of mangled bodies each get a JSON error or answer, and the server keeps serving', async () => {
  await withPort(async ({ url }) => {
    const seeds = [
      '{"key":"Zm9v","range_end":"Zm9w","limit":"2","sort_order":"DESCEND"}',
      '{"compare":[{"key":"YQ==","target":"MOD","mod_revision":"1"}],"success":[{"request_put":{"key":"YQ=="}}]}',
      '{"create_request":{"key":"YQ==","filters":["NOPUT"]}}',
    ];
    const paths = ['/v3/kv/range', '/v3/kv/txn', '/v3/kv/put', '/v3/lease/grant', '/v3/election/leader'];
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 300; i++) {
      const base = seeds[random(seeds.length)] ?? '';
      const at = random(base.length);
      const junk = String.fromCharCode(random(128));
      const body = random(2) === 0 ? base.slice(0, at) + junk + base.slice(at + 1) : base.slice(0, at);
      const path = paths[random(paths.length)] ?? '/v3/kv/range';
      const r = await post(`${url}${path}`, body);
      assert.ok(r.status >= 200 && r.status < 600, `${path} ${body}`);
      assert.ok(r.body.startsWith('{'), `${path} ${body} → ${r.body}`);
    }
    assert.is((await post(`${url}/v3/kv/range`, '{"key":"YQ=="}')).status, 200);
    // txns nested thousands deep outrun the JS stack: a 400, not a crash
    const deep = `{"success":[${'{"request_txn":{"success":['.repeat(3000)}${']}}'.repeat(3000)}]}`;
    const r = await post(`${url}/v3/kv/txn`, deep);
    assert.is(r.status, 400);
    assert.match(r.body, /request nested too deeply/);
  });
});

test('streams per client address are bounded: one past the bound is refused with 429, a closed one frees its place', async () => {
  const api = new FakeServerApi();
  const ctx = { api, maxRequestBytes, maxTxnOps: 128, log: () => undefined };
  const gateway = createGatewayHandler({ methods: methodsByPath(defaultGrpcServices.flatMap((s) => s.methods(ctx))), maxRequestBytes, log: () => undefined, maxStreamsPerClientAddress: 2 });
  const server = http.createServer(createHttpRouter({ api, handlers: [gateway], log: () => undefined }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v3/watch`;
  const open = (): Promise<{ status: number; req: http.ClientRequest }> =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent: false }, (res) => {
        res.on('data', () => undefined);
        resolve({ status: res.statusCode ?? 0, req });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end('{"create_request":{"key":"YQ=="}}');
    });
  try {
    const a = await open();
    const b = await open();
    const c = await open();
    assert.equal([a.status, b.status, c.status], [200, 200, 429]);
    a.req.destroy();
    let d = await open();
    const deadline = Date.now() + 5000;
    while (d.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      d = await open();
    }
    assert.is(d.status, 200);
    for (const x of [b, c, d]) x.req.destroy();
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    api.watch.close();
  }
});

test.run();
