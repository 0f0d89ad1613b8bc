// Which way an HTTP/2 connection goes: straight to the HTTP/2 server when its first request's
// :authority is acceptable, through the shim when it is not; a client that waits for the server
// preface (as Go gRPC does) gets an empty SETTINGS frame, and its ACK never reaches the server.
import net from 'node:net';
import { once } from 'node:events';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseHttp2Path, type Http2Path } from '../../src/adapters/http2/http2-path.js';
import { http2ClientPreface } from '../../src/adapters/http2/authority-frame-filter.js';
import { withTimeout } from '../helpers/spec.js';
import { block, frame, frameFlag, frameType, headersFrames, hpack, parseFrames } from './hpack-test-encoder.js';

interface Outcome {
  path: Http2Path;
  /** What the chosen path reads first: the bytes pushed back into the socket. */
  bytes: Buffer;
}

/** A listener that runs chooseHttp2Path on each connection (after the preface, as client-port does). */
async function listener(): Promise<{ port: number; outcome: Promise<Outcome>; close(): void }> {
  let resolveOutcome: (o: Outcome) => void = () => undefined;
  const outcome = new Promise<Outcome>((resolve) => (resolveOutcome = resolve));
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.pause();
    chooseHttp2Path(socket, (path) => {
      const bytes = (socket.read() as Buffer | null) ?? Buffer.alloc(0);
      resolveOutcome({ path, bytes });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    outcome,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

async function connect(port: number): Promise<{ socket: net.Socket; received: () => Buffer }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let bytes = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => (bytes = Buffer.concat([bytes, c])));
  socket.on('error', () => undefined);
  return { socket, received: () => bytes };
}

/** Waits until the client has read at least n bytes from the server. */
async function untilReceived(c: { received: () => Buffer }, n: number): Promise<void> {
  const deadline = Date.now() + 3000;
  while (c.received().length < n) {
    if (Date.now() > deadline) throw new Error(`the server sent ${c.received().length} bytes, expected ${n}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Runs body with a listener and one client connected to it; both are closed afterwards. */
async function connected(body: (l: Awaited<ReturnType<typeof listener>>, c: Awaited<ReturnType<typeof connect>>) => Promise<void>): Promise<void> {
  const l = await listener();
  const c = await connect(l.port);
  try {
    await body(l, c);
  } finally {
    c.socket.destroy();
    l.close();
  }
}

const clientSettings = frame(frameType.settings, 0, 0, Buffer.from([0, 2, 0, 0, 0, 0]));
const request = (authority: string): Buffer =>
  headersFrames(1, block(hpack.indexed(3), hpack.indexed(6), hpack.literal('without', 4, '/etcdserverpb.KV/Range'), hpack.literal('without', 1, authority)), { endStream: false });
const settingsAck = frame(frameType.settings, frameFlag.ack, 0);

const t = suite('HTTP/2 path: direct or through the :authority shim');

t('a client that sends its request at once, with a good authority, goes direct; nothing is sent to it', async () =>
  connected(async (l, c) => {
    const sent = Buffer.concat([http2ClientPreface, clientSettings, request('127.0.0.1:2379')]);
    c.socket.write(sent);
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'direct');
    assert.ok(o.bytes.equals(sent));
    assert.is(c.received().length, 0);
  }));

t('an authority nghttp2 refuses (http://host:port) goes through the shim', async () =>
  connected(async (l, c) => {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings, request('http://127.0.0.1:2379')]));
    assert.is((await withTimeout(l.outcome, 3000, 'a decision')).path, 'shim');
  }));

t('a client waiting for the server preface gets an empty SETTINGS; its ACK is taken out', async () =>
  connected(async (l, c) => {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    const frames = parseFrames(c.received());
    assert.equal(frames.map((f) => [f.type, f.flags, f.payload.length]), [[frameType.settings, 0, 0]]);
    c.socket.write(Buffer.concat([settingsAck, request('127.0.0.1:2379')]));
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'direct');
    assert.ok(o.bytes.equals(Buffer.concat([http2ClientPreface, clientSettings, request('127.0.0.1:2379')])));
  }));

t('a connection that sends no request goes through the shim after a while', async () =>
  connected(async (l, c) => {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    c.socket.write(settingsAck);
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'shim');
    assert.ok(o.bytes.equals(Buffer.concat([http2ClientPreface, clientSettings])));
  }));

t('a first request with a large body right behind the ACK still goes direct, without the ACK', async () =>
  connected(async (l, c) => {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    const body = Array.from({ length: 5 }, () => frame(frameType.data, 0, 1, Buffer.alloc(16_000)));
    c.socket.write(Buffer.concat([settingsAck, request('127.0.0.1:2379'), ...body]));
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'direct');
    assert.ok(o.bytes.subarray(0, http2ClientPreface.length + clientSettings.length + 9).equals(Buffer.concat([http2ClientPreface, clientSettings, request('127.0.0.1:2379').subarray(0, 9)])));
  }));

t('a connection that sends more than 64 KiB before any request goes through the shim', async () =>
  connected(async (l, c) => {
    const ping = frame(frameType.ping, 0, 0, Buffer.alloc(8));
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings, ...Array.from({ length: 8000 }, () => ping)]));
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'shim');
  }));

t('an ACK of the empty SETTINGS that comes after the idle limit is still taken out', async () =>
  connected(async (l, c) => {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    await new Promise((r) => setTimeout(r, 1200));
    c.socket.write(settingsAck);
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'shim');
    assert.ok(o.bytes.equals(Buffer.concat([http2ClientPreface, clientSettings])));
  }));

t.run();
