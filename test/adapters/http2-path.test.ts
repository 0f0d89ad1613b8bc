// Which way an HTTP/2 connection goes: straight to the HTTP/2 server when its first request's
// :authority is acceptable, through the shim when it is not. Every connection gets an empty SETTINGS
// frame as server preface at once, and the client's ACK of it never reaches the server, whenever it
// comes (grpc-go may send it after its first request and a full window of body).
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { withAuthorityShim } from '../../src/adapters/http2/authority-shim.js';
import { chooseHttp2Path, defaultPrefaceAckLimitMs, serverPrefaceFrame, type Http2Path, type Http2PathOptions } from '../../src/adapters/http2/http2-path.js';
import { http2ClientPreface } from '../../src/adapters/http2/authority-frame-filter.js';
import { withTimeout } from '../helpers/spec.js';
import { block, frame, frameFlag, frameType, headersFrames, hpack, parseFrames } from './hpack-test-encoder.js';

interface Outcome {
  path: Http2Path;
  /** What the chosen path reads first: the bytes pushed back into the socket. */
  bytes: Buffer;
}

/** A listener that runs chooseHttp2Path on each connection (after the preface, as client-port does). */
async function listener(options: Http2PathOptions = {}): Promise<{ port: number; outcome: Promise<Outcome>; close(): void }> {
  let resolveOutcome: (o: Outcome) => void = () => undefined;
  const outcome = new Promise<Outcome>((resolve) => (resolveOutcome = resolve));
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.pause();
    chooseHttp2Path(socket, (path) => {
      const bytes = (socket.read() as Buffer | null) ?? Buffer.alloc(0);
      resolveOutcome({ path, bytes });
    }, options);
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

/** A first request's body that fills the initial flow-control window (65,535 bytes) in 16 KiB frames. */
const fullWindowBody = [16_384, 16_384, 16_384, 16_383].map((n, i, all) =>
  frame(frameType.data, i === all.length - 1 ? frameFlag.endStream : 0, 1, Buffer.alloc(n, 0x61)),
);
const withoutAck = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

const t = suite('HTTP/2 path: direct or through the :authority shim');

t('every connection gets an empty SETTINGS frame as server preface at once', async () =>
  connected(async (_l, c) => {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    assert.equal(parseFrames(c.received()).map((f) => [f.type, f.flags, f.payload.length]), [[frameType.settings, 0, 0]]);
    assert.ok(c.received().equals(serverPrefaceFrame));
  }));

t('a request with a good authority goes direct once the ACK is read; the ACK is taken out', async () =>
  connected(async (l, c) => {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    c.socket.write(Buffer.concat([settingsAck, request('127.0.0.1:2379')]));
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'direct');
    assert.ok(o.bytes.equals(withoutAck(http2ClientPreface, clientSettings, request('127.0.0.1:2379'))));
  }));

t('a request sent before the ACK goes direct when the ACK follows, without it', async () =>
  connected(async (l, c) => {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings, request('127.0.0.1:2379')]));
    await untilReceived(c, 9);
    c.socket.write(settingsAck);
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'direct');
    assert.ok(o.bytes.equals(withoutAck(http2ClientPreface, clientSettings, request('127.0.0.1:2379'))));
  }));

t('a first request with a full window of body ahead of the ACK (over 64 KiB) still goes direct, without the ACK', async () =>
  connected(async (l, c) => {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    c.socket.write(Buffer.concat([request('127.0.0.1:2379'), ...fullWindowBody, settingsAck]));
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'direct');
    assert.ok(o.bytes.equals(withoutAck(http2ClientPreface, clientSettings, request('127.0.0.1:2379'), ...fullWindowBody)));
  }));

t('a frame cut by the decision is handed on whole', async () =>
  connected(async (l, c) => {
    const second = headersFrames(3, block(hpack.indexed(3), hpack.indexed(6), hpack.literal('without', 4, '/etcdserverpb.KV/Put')), { endStream: true });
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    c.socket.write(Buffer.concat([settingsAck, request('127.0.0.1:2379'), second.subarray(0, 12)]));
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'direct');
    assert.ok(o.bytes.equals(withoutAck(http2ClientPreface, clientSettings, request('127.0.0.1:2379'), second.subarray(0, 12))));
  }));

t('an authority nghttp2 refuses (http://host:port) goes through the shim with every byte, ACK included', async () =>
  connected(async (l, c) => {
    const sent = Buffer.concat([http2ClientPreface, clientSettings, settingsAck, request('http://127.0.0.1:2379')]);
    c.socket.write(sent);
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'shim');
    assert.ok(o.bytes.equals(sent));
  }));

t('a quiet connection waits for its first request, here longer than the ACK limit, and goes direct', async () =>
  connected(async (l, c) => {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    c.socket.write(settingsAck);
    // the pause is the point of this test: a client that dials first and calls later
    await new Promise((r) => setTimeout(r, defaultPrefaceAckLimitMs + 200));
    c.socket.write(request('127.0.0.1:2379'));
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'direct');
    assert.ok(o.bytes.equals(withoutAck(http2ClientPreface, clientSettings, request('127.0.0.1:2379'))));
  }));

t('a PING before the first request sends the connection through the shim at once, for the server to answer', async () =>
  connected(async (l, c) => {
    const ping = frame(frameType.ping, 0, 0, Buffer.from('keepaliv'));
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    c.socket.write(Buffer.concat([settingsAck, ping]));
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'shim');
    assert.ok(o.bytes.equals(Buffer.concat([http2ClientPreface, clientSettings, settingsAck, ping])));
  }));

t('a PING read together with the first request and the ACK goes direct, for the server to answer', async () =>
  connected(async (l, c) => {
    const ping = frame(frameType.ping, 0, 0, Buffer.from('keepaliv'));
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    c.socket.write(Buffer.concat([settingsAck, ping, request('127.0.0.1:2379')]));
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'direct');
    assert.ok(o.bytes.equals(withoutAck(http2ClientPreface, clientSettings, ping, request('127.0.0.1:2379'))));
  }));

t('a client that has not ACKed the preface within the limit after its first request goes through the shim', async () => {
  const l = await listener({ prefaceAckLimitMs: 50 });
  const c = await connect(l.port);
  try {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings, request('127.0.0.1:2379')]));
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'shim');
  } finally {
    c.socket.destroy();
    l.close();
  }
});

t('a connection that sends more than a header block and a window before deciding goes through the shim', async () =>
  connected(async (l, c) => {
    const windowUpdate = frame(0x8, 0, 0, Buffer.from([0, 0, 1, 0]));
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings, ...Array.from({ length: 12_000 }, () => windowUpdate)]));
    const o = await withTimeout(l.outcome, 3000, 'a decision');
    assert.is(o.path, 'shim');
  }));

t.run();

// The same hand-over in front of node's own HTTP/2 server (nghttp2), with a raw client that behaves
// as grpc-go does at worst: its first request and a full window of body go out before the ACK; or
// as a quiet client with keepalive: a PING that must be answered before any request.
interface RawExchange {
  /** Frames the client read, in order, until the PING it sent after the response was answered or the connection closed. */
  frames: ReturnType<typeof parseFrames>;
  path: Http2Path;
}

type Opening = 'request before ACK' | 'PING first';

async function exchangeWithNode(authority: string, opening: Opening): Promise<RawExchange> {
  const h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.resume();
    stream.on('end', () => stream.respond({ ':status': 200 }, { endStream: true }));
  });
  h2.on('sessionError', () => undefined);
  let path: Http2Path | undefined;
  const sockets: net.Socket[] = [];
  const tcp = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.pause();
    chooseHttp2Path(socket, (chosen) => {
      path = chosen;
      h2.emit('connection', chosen === 'direct' ? socket : withAuthorityShim(socket, { serverPrefaceSent: true }));
    });
  });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const c = await connect((tcp.address() as net.AddressInfo).port);
  try {
    c.socket.write(Buffer.concat([http2ClientPreface, clientSettings]));
    await untilReceived(c, 9);
    const deadline = Date.now() + 5000;
    const pingAnswered = (payload: string): boolean =>
      parseFrames(c.received()).some((f) => f.type === frameType.ping && (f.flags & frameFlag.ack) !== 0 && f.payload.toString() === payload);
    if (opening === 'PING first') {
      c.socket.write(Buffer.concat([settingsAck, frame(frameType.ping, 0, 0, Buffer.from('keepaliv'))]));
      while (!pingAnswered('keepaliv')) {
        if (Date.now() > deadline) throw new Error('the PING before the first request was not answered');
        await new Promise((r) => setTimeout(r, 2));
      }
      c.socket.write(Buffer.concat([request(authority), ...fullWindowBody]));
    } else {
      c.socket.write(Buffer.concat([request(authority), ...fullWindowBody, settingsAck]));
    }
    // ACK every SETTINGS of the server (its own, after the preface); PING once the response is in
    let acked = 1;
    let pinged = false;
    for (;;) {
      const frames = parseFrames(c.received());
      const settings = frames.filter((f) => f.type === frameType.settings && (f.flags & frameFlag.ack) === 0).length;
      for (; acked < settings; acked++) c.socket.write(settingsAck);
      const responded = frames.some((f) => f.type === frameType.headers && f.streamId === 1);
      if (responded && !pinged && acked === settings) {
        c.socket.write(frame(frameType.ping, 0, 0, Buffer.from('pingpong')));
        pinged = true;
      }
      const done = frames.some((f) => f.type === frameType.goaway) || pingAnswered('pingpong');
      if (done || c.socket.closed) return { frames, path: path ?? 'shim' };
      if (Date.now() > deadline) throw new Error(`no PING answer; frames: ${JSON.stringify(frames.map((f) => [f.type, f.flags, f.streamId]))}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    c.socket.destroy();
    for (const s of sockets) s.destroy();
    tcp.close();
    h2.close();
  }
}

const e = suite('HTTP/2 path in front of node\'s HTTP/2 server');

const cases = [
  ['127.0.0.1:2379', 'request before ACK', 'direct'],
  ['http://127.0.0.1:2379', 'request before ACK', 'shim'],
  ['127.0.0.1:2379', 'PING first', 'shim'],
] as const;
for (const [authority, opening, expected] of cases) {
  e(`${opening}, authority ${authority}: a first request with 64 KiB of body is answered and the connection stays up (${expected})`, async () => {
    const x = await exchangeWithNode(authority, opening);
    assert.is(x.path, expected);
    assert.ok(x.frames.some((f) => f.type === frameType.headers && f.streamId === 1), 'the request is answered');
    assert.not.ok(x.frames.some((f) => f.type === frameType.goaway), 'no GOAWAY');
    assert.ok(x.frames.some((f) => f.type === frameType.ping && (f.flags & frameFlag.ack) !== 0 && f.payload.toString() === 'pingpong'), 'a later PING is answered');
  });
}

e.run();
