// The :authority shim in front of node's own HTTP/2 server (nghttp2): requests that nghttp2 alone
// refuses get through with `/` replaced by `_`, the HPACK tables of both ends stay in step across
// requests, and the rest of the connection (bodies, flow control) is unaffected.
// Run: npx tsc -p tsconfig.json; node dist/test/adapters/authority-shim.test.js
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { withAuthorityShim } from '../../src/adapters/http2/authority-shim.js';
import { http2ClientPreface } from '../../src/adapters/http2/authority-frame-filter.js';
import type { Http2ShimError } from '../../src/adapters/http2/http2-shim-error.js';
import { withTimeout } from '../helpers/spec.js';
import { block, frame, frameType, headersFrames, hpack, parseFrames, type ParsedFrame } from './hpack-test-encoder.js';

const testTimeoutMs = 10_000;
const waitMs = 5_000;
const nghttp2ProtocolError = 1;

interface Received {
  streamId: number;
  headers: http2.IncomingHttpHeaders;
}

interface Fixture {
  port: number;
  received: Received[];
  rejected: Http2ShimError[];
  /** Resolves once `count` streams have reached the server. */
  streams(count: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** node's HTTP/2 server behind a TCP listener that hands each socket over with or without the shim. */
async function startServer(shim: boolean): Promise<Fixture> {
  const h2 = http2.createServer();
  const received: Received[] = [];
  const rejected: Http2ShimError[] = [];
  const sockets = new Set<net.Socket>();
  let notify = (): void => undefined;
  h2.on('stream', (stream, headers) => {
    received.push({ streamId: stream.id ?? 0, headers });
    notify();
    stream.respond({ ':status': 200 });
    // echo the request body
    stream.pipe(stream);
  });
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pause();
    h2.emit('connection', shim ? withAuthorityShim(socket, { onRejected: (err) => rejected.push(err) }) : socket);
  });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const address = tcp.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    port: address.port,
    received,
    rejected,
    streams: (count) =>
      withTimeout(
        new Promise<Received[]>((resolve) => {
          notify = () => {
            if (received.length >= count) resolve(received);
          };
          notify();
        }),
        waitMs,
        `${count} streams at the server`,
      ),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      h2.close();
    },
  };
}

/** A raw TCP client that writes hand-made frames and reads the server's frames. */
async function rawClient(port: number): Promise<{
  socket: net.Socket;
  waitForFrame(match: (f: ParsedFrame) => boolean): Promise<ParsedFrame>;
  closed: Promise<void>;
}> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await once(socket, 'connect');
  let bytes = Buffer.alloc(0);
  let check = (): void => undefined;
  socket.on('data', (chunk: Buffer) => {
    bytes = Buffer.concat([bytes, chunk]);
    check();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return {
    socket,
    closed,
    waitForFrame: (match) =>
      withTimeout(
        new Promise<ParsedFrame>((resolve) => {
          check = () => {
            const found = parseFrames(bytes).find(match);
            if (found) resolve(found);
          };
          check();
        }),
        waitMs,
        'a frame from the server',
      ),
  };
}

const start = Buffer.concat([http2ClientPreface, frame(frameType.settings, 0, 0)]);
const get = [hpack.indexed(2), hpack.indexed(6), hpack.indexed(4)];
const bad = 'http://127.0.0.1:2379';
const fixed = 'http:__127.0.0.1:2379';

const t = suite('HTTP/2 :authority shim in front of nghttp2');
let fixtures: Fixture[] = [];
const server = async (shim: boolean): Promise<Fixture> => {
  const f = await startServer(shim);
  fixtures.push(f);
  return f;
};
t.after.each(async () => {
  await Promise.all(fixtures.map((f) => f.close()));
  fixtures = [];
});

const it = (name: string, body: () => Promise<void>): void =>
  t(name, () => withTimeout(body(), testTimeoutMs, name));

it('without the shim, nghttp2 resets a stream whose :authority is http://host:port (the bug)', async () => {
  const f = await server(false);
  const client = await rawClient(f.port);
  client.socket.write(Buffer.concat([start, headersFrames(1, block(...get, hpack.literal('incremental', 1, bad, { huffmanValue: true })), { endStream: true })]));
  const rst = await client.waitForFrame((fr) => fr.type === frameType.rstStream && fr.streamId === 1);
  assert.is(rst.payload.readUInt32BE(0), nghttp2ProtocolError);
  assert.is(f.received.length, 0);
  client.socket.destroy();
});

it('through the shim, the same request reaches the server with / replaced by _', async () => {
  const f = await server(true);
  const client = await rawClient(f.port);
  client.socket.write(Buffer.concat([start, headersFrames(1, block(...get, hpack.literal('incremental', 1, bad, { huffmanValue: true })), { endStream: true })]));
  const [got] = await f.streams(1);
  assert.is(got!.headers[':authority'], fixed);
  assert.is(got!.headers[':path'], '/');
  await client.waitForFrame((fr) => fr.type === frameType.headers && fr.streamId === 1);
  client.socket.destroy();
});

it('the HPACK tables of client and server stay in step over requests mixing every representation', async () => {
  const f = await server(true);
  const client = await rawClient(f.port);
  const xa = (value: string, huffmanValue = false): number[] => hpack.literal('incremental', 'x-a', value, { huffmanValue });
  const requests = [
    // table after: 62 x-a:one, 63 :authority:<fixed>
    headersFrames(1, block(...get, hpack.literal('incremental', 1, bad, { huffmanValue: true }), xa('one')), { endStream: true }),
    headersFrames(3, block(...get, hpack.indexed(63), hpack.indexed(62)), { endStream: true }),
    // name from the dynamic table (63 is :authority); then 62 x-a:two, 63 x-a:one, 64 :authority
    headersFrames(
      5,
      block(...get, hpack.literal('without', 63, 'https://h:1'), hpack.literal('incremental', 62, 'two', { huffmanValue: true })),
      { endStream: true, padding: 4, priority: Buffer.from([0, 0, 0, 0, 16]) },
    ),
    // shrinking to 100 octets evicts the :authority entry (63 octets) and keeps 62 x-a:two, 63 x-a:one
    headersFrames(
      7,
      block(hpack.sizeUpdate(100), ...get, hpack.literal('never', ':authority', bad, { huffmanName: true, huffmanValue: true }), hpack.indexed(63)),
      { endStream: true, split: [2, 9] },
    ),
    // then 62 :authority:http:__[::1]:2379, 63 x-a:two, 64 x-a:one
    headersFrames(9, block(hpack.sizeUpdate(4096), ...get, hpack.literal('incremental', 1, 'http://[::1]:2379', { huffmanValue: true })), { endStream: true }),
    headersFrames(11, block(...get, hpack.indexed(62), hpack.indexed(64)), { endStream: true }),
  ];
  client.socket.write(start);
  for (const r of requests) client.socket.write(r);
  const got = await f.streams(requests.length);
  assert.equal(
    got.map((r) => [r.streamId, r.headers[':authority'], r.headers['x-a']]),
    [
      [1, fixed, 'one'],
      [3, fixed, 'one'],
      [5, 'https:__h:1', 'two'],
      [7, fixed, 'one'],
      [9, 'http:__[::1]:2379', undefined],
      [11, 'http:__[::1]:2379', 'one'],
    ],
  );
  client.socket.destroy();
});

it('a header block that is not HPACK closes the connection', async () => {
  const f = await server(true);
  const client = await rawClient(f.port);
  client.socket.write(Buffer.concat([start, headersFrames(1, block(...get, hpack.indexed(99)), { endStream: true })]));
  await withTimeout(client.closed, waitMs, 'the connection to close');
  assert.equal(f.rejected.map((e) => e.kind), ['hpack']);
  assert.is(f.received.length, 0);
});

/** One request from node's own HTTP/2 client (nghttp2's encoder); resolves to status and echoed body. */
function nodeRequest(session: http2.ClientHttp2Session, authority: string, body: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': '/echo', ':authority': authority });
    const chunks: Buffer[] = [];
    let status = 0;
    req.on('response', (headers) => (status = Number(headers[':status'])));
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.end(body);
  });
}

it("node's HTTP/2 client: megabyte bodies echo through with flow control, bad and good authorities alike", async () => {
  const f = await server(true);
  const session = http2.connect(`http://127.0.0.1:${f.port}`);
  session.on('error', () => undefined);
  try {
    const body = Buffer.alloc(1 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff;
    const results = await Promise.all([
      nodeRequest(session, bad, body),
      nodeRequest(session, '127.0.0.1:2379', body.subarray(0, 1000)),
      nodeRequest(session, bad, body.subarray(5)),
    ]);
    assert.equal(results.map((r) => r.status), [200, 200, 200]);
    assert.ok(results[0]!.body.equals(body), 'first body echoed');
    assert.ok(results[1]!.body.equals(body.subarray(0, 1000)), 'second body echoed');
    assert.ok(results[2]!.body.equals(body.subarray(5)), 'third body echoed');
    assert.equal(f.received.map((r) => r.headers[':authority']).sort(), ['127.0.0.1:2379', fixed, fixed]);
  } finally {
    session.destroy();
  }
});

t.run();
