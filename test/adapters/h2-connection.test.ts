// The HTTP/2 engine's connection on a real loopback socket: driven by node's own http2 client (bodies,
// trailers, concurrency, flow control both ways, resets, PING, GOAWAY), and by frames written by hand
// to check that each protocol error is answered as RFC 9113 says (GOAWAY or RST_STREAM, and which code).
// Run: npx tsc -p tsconfig.json; node test/run.js h2-connection
import { createHash, randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { clientPreface, ErrorCode, Flag, frame, FrameType, maxWindowSize, rstStreamFrame, Setting, settingsFrame, windowUpdateFrame } from '../../src/adapters/h2/frames.js';
import { defaultH2ServerSettings, H2Connection, pingAckHoldMs, type H2ServerSettings } from '../../src/adapters/h2/h2-connection.js';
import type { H2Stream, H2StreamEvents } from '../../src/adapters/h2/h2-stream.js';
import { encodeHeaderBlock } from '../../src/adapters/h2/hpack-encoder.js';
import { errorName, RawH2Client } from '../helpers/h2-raw-client.js';
import { withTimeout } from '../helpers/spec.js';
import { block, hpack } from './hpack-test-encoder.js';

const testTimeoutMs = 20_000;
const pollMs = 5;

/**
 * Closers of the servers and clients a test opened and has not closed yet. A test closes its own in
 * `finally`; the test wrapper runs what is left, which matters when a test timed out (its body is
 * still waiting, so its `finally` has not run) and would otherwise keep the process alive.
 */
const stillOpen = new Set<() => Promise<void>>();

/** Registers `close`; the returned function closes once and unregisters. */
function track(close: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = (): Promise<void> => {
    stillOpen.delete(once);
    return (done ??= close());
  };
  stillOpen.add(once);
  return once;
}

/** Polls `cond` until it holds; fails after `waitMs`. */
async function until(cond: () => boolean, what: string, waitMs = 5_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${waitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** What a stream told its owner, in order. */
class Recorder implements H2StreamEvents {
  readonly chunks: Buffer[] = [];
  readonly order: string[] = [];
  ended = false;
  closes = 0;

  constructor(readonly stream: H2Stream) {
    stream.events = this;
  }

  data(chunk: Buffer): void {
    if (this.ended) this.order.push('data after end');
    this.chunks.push(Buffer.from(chunk));
    if (this.order[this.order.length - 1] !== 'data') this.order.push('data');
  }

  end(): void {
    this.ended = true;
    this.order.push('end');
  }

  close(): void {
    this.closes++;
    this.order.push('close');
  }

  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

interface Server {
  readonly port: number;
  readonly connections: H2Connection[];
  readonly recorders: Recorder[];
  /** Connection errors reported through events.error. */
  readonly errors: string[];
  readonly pings: number[];
  connectionCloses: number;
  close(): Promise<void>;
}

type Handler = (rec: Recorder, conn: H2Connection) => void;

async function startServer(handler: Handler, settings: Partial<H2ServerSettings> = {}): Promise<Server> {
  const sockets = new Set<net.Socket>();
  const server: Server = {
    port: 0,
    connections: [],
    recorders: [],
    errors: [],
    pings: [],
    connectionCloses: 0,
    close: track(
      () =>
        new Promise<void>((resolve) => {
          for (const c of server.connections) c.destroy();
          for (const s of sockets) s.destroy();
          listener.close(() => resolve());
        }),
    ),
  };
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const index = server.connections.length;
    const conn: H2Connection = new H2Connection(
      socket,
      {
        stream: (stream) => {
          const rec = new Recorder(stream);
          server.recorders.push(rec);
          handler(rec, conn);
        },
        ping: () => server.pings.push(index),
        goaway: () => undefined,
        error: (why) => server.errors.push(why),
        close: () => server.connectionCloses++,
      },
      { ...defaultH2ServerSettings, ...settings },
    );
    server.connections.push(conn);
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const addr = listener.address();
  (server as { port: number }).port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return server;
}

const okHeaders = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/octet-stream'],
]);
const trailers = (fields: Record<string, string>): Buffer => encodeHeaderBlock(Object.entries(fields));

/** Answers once the request has ended: headers, `body` in `pieces` writes, trailers. */
function answerAtEnd(body: (rec: Recorder) => Buffer, pieces = 1, trailerFields: Record<string, string> = { 'x-done': 'yes' }): (rec: Recorder) => void {
  return (rec) => {
    const answer = (): void => {
      const bytes = body(rec);
      rec.stream.respond(okHeaders, false);
      const step = Math.ceil(bytes.length / pieces);
      for (let at = 0; at < bytes.length; at += step) rec.stream.write(bytes.subarray(at, at + step));
      rec.stream.endWithTrailers(trailers(trailerFields));
    };
    const events = rec.stream.events!;
    rec.stream.events = {
      data: (c) => events.data(c),
      end: () => {
        events.end();
        answer();
      },
      close: () => events.close(),
    };
  };
}

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders;
  rstCode: number | undefined;
}

/** One request on a node client session; resolves when its stream closes. */
function request(session: http2.ClientHttp2Session, path: string, body?: Buffer | 'leave open', setup?: (req: http2.ClientHttp2Stream) => void): Promise<Answer> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': path }, { endStream: body === undefined });
    const answer: Answer = { status: 0, headers: {}, body: Buffer.alloc(0), trailers: {}, rstCode: undefined };
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      answer.headers = h;
      answer.status = Number(h[':status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('trailers', (t) => (answer.trailers = t));
    req.on('error', () => undefined);
    req.on('close', () => {
      answer.body = Buffer.concat(chunks);
      answer.rstCode = req.rstCode;
      resolve(answer);
    });
    if (body instanceof Buffer) req.end(body);
    setup?.(req);
  });
}

function connect(port: number, options: http2.ClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`, options);
    track(() => closeSession(session));
    session.on('error', () => undefined);
    session.once('connect', () => resolve(session));
    session.once('close', () => reject(new Error('the session closed before connecting')));
  });
}

function closeSession(session: http2.ClientHttp2Session | undefined): Promise<void> {
  if (session === undefined || session.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    session.once('close', () => resolve());
    session.destroy();
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A test with a deadline (uvu has none). */
function test(s: ReturnType<typeof suite>, name: string, body: () => Promise<void>): void {
  s(name, async () => {
    try {
      await withTimeout(body(), testTimeoutMs, name);
    } finally {
      await Promise.all([...stillOpen].map((close) => close()));
    }
  });
}

// ---------------------------------------------------------------------------------------------------

const withNode = suite('H2Connection with node:http2 as the client');

test(withNode, 'a request with a body gets an answer with trailers; the server stream ends, then closes once', async () => {
  const server = await startServer(answerAtEnd((rec) => Buffer.concat([Buffer.from('echo:'), rec.body])));
  let session: http2.ClientHttp2Session | undefined;
  try {
    session = await connect(server.port);
    const answer = await request(session, '/echo', Buffer.from('hello, world'));
    assert.is(answer.status, 200);
    assert.is(answer.headers['content-type'], 'application/octet-stream');
    assert.is(answer.body.toString(), 'echo:hello, world');
    assert.is(answer.trailers['x-done'], 'yes');
    assert.is(answer.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    const rec = server.recorders[0]!;
    assert.is(rec.stream.headers[':path'], '/echo');
    assert.is(rec.stream.headers[':method'], 'POST');
    assert.is(rec.stream.headers[':scheme'], 'http');
    await until(() => rec.closes > 0, 'the server stream closes');
    assert.equal(rec.order, ['data', 'end', 'close']);
    assert.is(server.connections[0]!.openStreams, 0);
    assert.equal(server.errors, []);
  } finally {
    await closeSession(session);
    await server.close();
  }
});

test(withNode, '100 concurrent streams each get their own answer', async () => {
  const server = await startServer(answerAtEnd((rec) => Buffer.from(`answer to ${rec.stream.headers[':path']}:${rec.body.toString()}`)));
  let session: http2.ClientHttp2Session | undefined;
  try {
    session = await connect(server.port);
    const s = session;
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => request(s, `/n/${i}`, Buffer.from(`body ${i}`))));
    answers.forEach((a, i) => {
      assert.is(a.status, 200);
      assert.is(a.body.toString(), `answer to /n/${i}:body ${i}`);
      assert.is(a.trailers['x-done'], 'yes');
    });
    assert.is(server.recorders.length, 100);
    await until(() => server.recorders.every((r) => r.closes === 1), 'every server stream closes');
    assert.equal(server.errors, []);
  } finally {
    await closeSession(session);
    await server.close();
  }
});

test(withNode, 'with maxConcurrentStreams 8, 40 requests from node\'s client are all answered, never more than 8 open at once', async () => {
  let open = 0;
  let most = 0;
  const server = await startServer((rec) => {
    most = Math.max(most, ++open);
    const events = rec.stream.events!;
    rec.stream.events = { ...events, data: (c) => events.data(c), end: () => events.end(), close: () => (open--, events.close()) };
    // answered a little later, so streams overlap
    setTimeout(() => {
      rec.stream.respond(okHeaders, false);
      rec.stream.write(Buffer.from(rec.stream.headers[':path']!));
      rec.stream.endWithTrailers(trailers({ 'x-done': 'yes' }));
    }, 2);
  }, { maxConcurrentStreams: 8 });
  let session: http2.ClientHttp2Session | undefined;
  try {
    session = await connect(server.port);
    const s = session;
    // the limit holds once the client has our SETTINGS (a stream sent before would be refused, as §5.1.2 allows)
    if (s.remoteSettings.maxConcurrentStreams !== 8) await new Promise((resolve) => s.once('remoteSettings', resolve));
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => request(s, `/c/${i}`)));
    answers.forEach((a, i) => assert.is(a.body.toString(), `/c/${i}`));
    assert.ok(most <= 8, `${most} open at once`);
    assert.equal(server.errors, []);
  } finally {
    await closeSession(session);
    await server.close();
  }
});

test(withNode, 'a 1 MiB answer to a client with the default 65,535 window arrives whole and in order; every write callback runs', async () => {
  const payload = randomBytes(1 << 20);
  let written = 0;
  const server = await startServer((rec) => {
    rec.stream.respond(okHeaders, false);
    for (let at = 0; at < payload.length; at += 50_000) rec.stream.write(payload.subarray(at, at + 50_000), () => written++);
    rec.stream.endWithTrailers(trailers({ 'x-done': 'yes' }));
  });
  let session: http2.ClientHttp2Session | undefined;
  try {
    session = await connect(server.port);
    const answer = await request(session, '/big');
    assert.is(answer.body.length, payload.length);
    assert.is(sha(answer.body), sha(payload));
    assert.is(answer.trailers['x-done'], 'yes');
    await until(() => written === Math.ceil(payload.length / 50_000), 'every write callback');
    assert.equal(server.errors, []);
  } finally {
    await closeSession(session);
    await server.close();
  }
});

test(withNode, 'a client that stops reading holds the answer back (the window is honoured) until it reads again', async () => {
  const payload = randomBytes(2 << 20);
  const server = await startServer((rec) => {
    rec.stream.respond(okHeaders, false);
    rec.stream.write(payload);
    rec.stream.endWithTrailers(trailers({ 'x-done': 'yes' }));
  });
  let session: http2.ClientHttp2Session | undefined;
  try {
    session = await connect(server.port);
    let client: http2.ClientHttp2Stream | undefined;
    const answer = request(session, '/big', undefined, (req) => {
      client = req;
      req.pause();
    });
    await until(() => server.recorders.length === 1, 'the stream reaches the server');
    const stream = server.recorders[0]!.stream;
    // blocked: the stream's window is spent and most of the answer is still queued
    await until(() => stream.sendWindow <= 0 && stream.queuedBytes > 0, 'the server stops at the window');
    const queued = stream.queuedBytes;
    const s = session;
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve, reject) => s.ping((err) => (err ? reject(err) : resolve())));
    assert.is(stream.queuedBytes, queued, 'nothing more is sent while the client does not read');
    client!.resume();
    const a = await answer;
    assert.is(sha(a.body), sha(payload));
    assert.is(a.trailers['x-done'], 'yes');
  } finally {
    await closeSession(session);
    await server.close();
  }
});

for (const initialWindowSize of [defaultH2ServerSettings.initialWindowSize, 16 * 1024]) {
  test(withNode, `a 3 MiB request body arrives whole (server initial window ${initialWindowSize}): the server's WINDOW_UPDATEs keep it flowing`, async () => {
    const body = randomBytes(3 << 20);
    const server = await startServer(answerAtEnd((rec) => Buffer.from(sha(rec.body))), { initialWindowSize });
    let session: http2.ClientHttp2Session | undefined;
    try {
      session = await connect(server.port);
      const answer = await request(session, '/upload', body);
      assert.is(answer.status, 200);
      assert.is(answer.body.toString(), sha(body));
      assert.is(answer.rstCode, http2.constants.NGHTTP2_NO_ERROR);
      assert.equal(server.errors, []);
    } finally {
      await closeSession(session);
      await server.close();
    }
  });
}

test(withNode, 'a small connection window (65,535) is topped up as bodies on several streams arrive', async () => {
  const server = await startServer(answerAtEnd((rec) => Buffer.from(sha(rec.body))), { connectionWindowSize: 65_535, initialWindowSize: 65_535 });
  let session: http2.ClientHttp2Session | undefined;
  try {
    session = await connect(server.port);
    const s = session;
    const bodies = Array.from({ length: 4 }, () => randomBytes(512 * 1024));
    const answers = await Promise.all(bodies.map((b, i) => request(s, `/up/${i}`, b)));
    answers.forEach((a, i) => assert.is(a.body.toString(), sha(bodies[i]!)));
  } finally {
    await closeSession(session);
    await server.close();
  }
});

test(withNode, 'a paused server stream holds the body; resume delivers the rest, then the end, in order', async () => {
  const body = randomBytes(200 * 1024);
  const server = await startServer((rec) => rec.stream.pause(), { initialWindowSize: 64 * 1024 });
  let session: http2.ClientHttp2Session | undefined;
  try {
    session = await connect(server.port);
    const answer = request(session, '/paused', body);
    await until(() => server.recorders.length === 1, 'the stream reaches the server');
    const rec = server.recorders[0]!;
    // the client spends the whole window, and no more comes while nothing is consumed
    await until(() => rec.stream.receiveWindow <= 0, 'the client fills the window');
    assert.is(rec.chunks.length, 0);
    assert.not.ok(rec.stream.remoteEnded);
    // each resume delivers what is held; the handler pauses again after every chunk at first
    let repauses = 3;
    rec.stream.events = {
      data: (c) => {
        rec.data(c);
        if (repauses-- > 0) {
          rec.stream.pause();
          setImmediate(() => rec.stream.resume());
        }
      },
      end: () => {
        rec.end();
        rec.stream.respond(okHeaders, false);
        rec.stream.write(Buffer.from(sha(rec.body)));
        rec.stream.endWithTrailers(trailers({ 'x-done': 'yes' }));
      },
      close: () => rec.close(),
    };
    rec.stream.resume();
    const a = await answer;
    assert.is(a.body.toString(), sha(body));
    assert.equal(rec.order, ['data', 'end', 'close']);
    assert.is(rec.body.length, body.length);
  } finally {
    await closeSession(session);
    await server.close();
  }
});

test(withNode, 'a client RST_STREAM closes the server stream once and releases its queued writes', async () => {
  let released = 0;
  const writes = 16;
  const server = await startServer((rec) => {
    rec.stream.respond(okHeaders, false);
    for (let i = 0; i < writes; i++) rec.stream.write(randomBytes(64 * 1024), () => released++);
  });
  let session: http2.ClientHttp2Session | undefined;
  try {
    session = await connect(server.port);
    let client: http2.ClientHttp2Stream | undefined;
    const answer = request(session, '/cancel', undefined, (req) => {
      client = req;
      req.pause();
    });
    await until(() => server.recorders.length === 1, 'the stream reaches the server');
    const rec = server.recorders[0]!;
    await until(() => rec.stream.sendWindow <= 0, 'the server fills the window');
    assert.ok(released < writes, 'some writes wait for the window');
    client!.close(http2.constants.NGHTTP2_CANCEL);
    await answer;
    await until(() => rec.closes > 0, 'the server stream closes');
    await until(() => released === writes, 'every queued write callback runs');
    // a later round trip on the connection: the close was not repeated
    const s = session;
    await new Promise<void>((resolve, reject) => s.ping((err) => (err ? reject(err) : resolve())));
    assert.is(rec.closes, 1);
    assert.is(rec.stream.queuedBytes, 0);
    assert.is(server.connections[0]!.openStreams, 0);
    // writes after the reset are released at once
    let late = false;
    rec.stream.write(Buffer.from('late'), () => (late = true));
    assert.ok(late);
  } finally {
    await closeSession(session);
    await server.close();
  }
});

test(withNode, "a client PING is answered and reported; the server's ping() resolves on the ACK", async () => {
  const server = await startServer(() => undefined);
  let session: http2.ClientHttp2Session | undefined;
  try {
    session = await connect(server.port);
    const s = session;
    const payload = Buffer.from('12345678');
    const echoed = await new Promise<Buffer>((resolve, reject) => s.ping(payload, (err, _ms, p) => (err ? reject(err) : resolve(p))));
    assert.ok(echoed.equals(payload));
    assert.equal(server.pings, [0]);
    const acked = await new Promise<Error | null>((resolve) => assert.ok(server.connections[0]!.ping(resolve)));
    assert.is(acked, null);
  } finally {
    await closeSession(session);
    await server.close();
  }
});

test(withNode, 'a ping outstanding when the connection goes gets an error', async () => {
  const server = await startServer(() => undefined);
  const raw = await RawH2Client.connect(server.port);
  track(async () => raw.close());
  try {
    // a client that never answers PINGs
    raw.write(clientPreface, settingsFrame([]));
    await until(() => server.connections.length === 1, 'the connection');
    const conn = server.connections[0]!;
    const result = new Promise<Error | null>((resolve) => conn.ping(resolve));
    await raw.next((f) => f.type === FrameType.ping && (f.flags & Flag.ack) === 0, 'the server PING');
    conn.destroy();
    const err = await result;
    assert.instance(err, Error);
    assert.not.ok(conn.ping(() => undefined), 'no ping on a closed connection');
  } finally {
    raw.close();
    await server.close();
  }
});

test(withNode, 'goaway() lets an open stream finish, refuses nothing it had accepted, then closes the socket', async () => {
  let finish: (() => void) | undefined;
  const server = await startServer((rec) => {
    finish = () => {
      rec.stream.respond(okHeaders, false);
      rec.stream.write(Buffer.from('finished'));
      rec.stream.endWithTrailers(trailers({ 'x-done': 'yes' }));
    };
  });
  let session: http2.ClientHttp2Session | undefined;
  try {
    session = await connect(server.port);
    const sessionClosed = new Promise<void>((resolve) => session!.once('close', () => resolve()));
    const goaway = new Promise<number>((resolve) => session!.once('goaway', (code) => resolve(code)));
    const answer = request(session, '/slow', Buffer.from('x'));
    await until(() => finish !== undefined && server.recorders[0]!.ended, 'the request reaches the server');
    const conn = server.connections[0]!;
    conn.goaway();
    assert.is(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    assert.not.ok(conn.isClosed, 'the connection stays while a stream is open');
    finish!();
    const a = await answer;
    assert.is(a.body.toString(), 'finished');
    assert.is(a.trailers['x-done'], 'yes');
    await sessionClosed;
    await until(() => server.connectionCloses === 1, 'the server connection closes');
    assert.ok(conn.isClosed);
  } finally {
    await closeSession(session);
    await server.close();
  }
});

test(withNode, 'destroy() closes every open stream once, then the connection', async () => {
  let released = 0;
  const server = await startServer((rec) => {
    rec.stream.respond(okHeaders, false);
    rec.stream.write(Buffer.from('sent'));
    rec.stream.write(Buffer.from('sent after the other'), () => released++);
  });
  let session: http2.ClientHttp2Session | undefined;
  try {
    session = await connect(server.port);
    const s = session;
    const answers = [1, 2, 3].map((i) => request(s, `/open/${i}`, 'leave open', (req) => req.write('x')));
    await until(() => server.recorders.length === 3, 'three streams reach the server');
    server.connections[0]!.destroy();
    server.connections[0]!.destroy();
    await Promise.all(answers);
    for (const rec of server.recorders) assert.is(rec.closes, 1);
    assert.is(server.connectionCloses, 1);
    await until(() => released === 3, 'every write callback runs');
    assert.is(server.connections[0]!.openStreams, 0);
  } finally {
    await closeSession(session);
    await server.close();
  }
});

// ---------------------------------------------------------------------------------------------------

const raw = suite('H2Connection: protocol errors answered as RFC 9113 says (frames written by hand)');

const requestBlock = (path = '/x', extra: ReadonlyArray<readonly [string, string]> = []): Buffer =>
  encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'localhost'], ...extra]);

const headersFrame = (stream: number, blockBytes: Buffer, endStream = true, endHeaders = true): Buffer =>
  frame(FrameType.headers, (endStream ? Flag.endStream : 0) | (endHeaders ? Flag.endHeaders : 0), stream, blockBytes);

const dataFrame = (stream: number, bytes: Buffer, endStream = false): Buffer => frame(FrameType.data, endStream ? Flag.endStream : 0, stream, bytes);

/** Answers every stream at once with 200 and `x-seen` set to the request's x-id header (or "-"). */
const answerNow = (rec: Recorder): void => {
  rec.stream.respond(encodeHeaderBlock([[':status', '200'], ['x-seen', rec.stream.headers['x-id'] ?? '-']]), true);
};

/** Starts a server and a raw client; runs `body`; closes both whatever happens. */
async function withRaw(settings: Partial<H2ServerSettings>, handler: Handler, body: (c: RawH2Client, server: Server) => Promise<void>): Promise<void> {
  const server = await startServer(handler, settings);
  let client: RawH2Client | undefined;
  try {
    client = await RawH2Client.connect(server.port);
    const c = client;
    track(async () => c.close());
    await body(client, server);
  } finally {
    client?.close();
    await server.close();
  }
}

/** The GOAWAY's code is `code`, and the server then closes the connection. */
async function expectGoaway(c: RawH2Client, code: number): Promise<void> {
  const g = await c.goaway();
  assert.is(errorName(g.code), errorName(code), `GOAWAY code (debug: ${g.debug})`);
  await c.closedByServer();
}

/** The stream is answered 200; returns the answer's headers. */
async function expectAnswered(c: RawH2Client, stream: number): Promise<Record<string, string>> {
  const h = await c.responseHeaders(stream);
  assert.is(h[':status'], '200');
  return h;
}

async function expectRst(c: RawH2Client, stream: number, code: number): Promise<void> {
  assert.is(errorName(await c.rstStream(stream)), errorName(code), `RST_STREAM code on stream ${stream}`);
}

test(raw, 'a bad preface gets GOAWAY PROTOCOL_ERROR and the connection is closed', () =>
  withRaw({}, answerNow, async (c, server) => {
    c.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await expectGoaway(c, ErrorCode.protocolError);
    await until(() => server.connectionCloses === 1, 'the server connection closes');
  }));

test(raw, 'a preface arriving a few bytes at a time is accepted', () =>
  withRaw({}, answerNow, async (c) => {
    const bytes = Buffer.concat([clientPreface, settingsFrame([]), headersFrame(1, requestBlock())]);
    for (let at = 0; at < bytes.length; at += 5) {
      c.write(bytes.subarray(at, at + 5));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await expectAnswered(c, 1);
  }));

test(raw, 'a first frame other than SETTINGS gets GOAWAY PROTOCOL_ERROR', () =>
  withRaw({}, answerNow, async (c) => {
    c.write(clientPreface, frame(FrameType.ping, 0, 0, Buffer.alloc(8)));
    await expectGoaway(c, ErrorCode.protocolError);
  }));

test(raw, 'a frame longer than 16,384 octets gets GOAWAY FRAME_SIZE_ERROR', () =>
  withRaw({}, (rec) => rec.stream.pause(), async (c) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock(), false), dataFrame(1, Buffer.alloc(16_385)));
    await expectGoaway(c, ErrorCode.frameSizeError);
  }));

test(raw, 'a frame of exactly 16,384 octets is accepted', () =>
  withRaw({}, answerAtEnd((rec) => Buffer.from(String(rec.body.length))), async (c) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock(), false), dataFrame(1, Buffer.alloc(16_384), true));
    await expectAnswered(c, 1);
    const data = await c.next((f) => f.type === FrameType.data && f.stream === 1, 'DATA');
    assert.is(data.payload.toString(), '16384');
  }));

test(raw, 'HEADERS on an even stream id gets GOAWAY PROTOCOL_ERROR', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    c.write(headersFrame(2, requestBlock()));
    await expectGoaway(c, ErrorCode.protocolError);
  }));

test(raw, 'HEADERS on a lower stream id than an earlier stream gets GOAWAY (PROTOCOL_ERROR or STREAM_CLOSED)', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    c.write(headersFrame(5, requestBlock()));
    await expectAnswered(c, 5);
    c.write(headersFrame(3, requestBlock()));
    const g = await c.goaway();
    assert.ok(g.code === ErrorCode.protocolError || g.code === ErrorCode.streamClosed, errorName(g.code));
    assert.is(g.lastStream, 5);
    await c.closedByServer();
  }));

test(raw, 'a frame between HEADERS without END_HEADERS and its CONTINUATION gets GOAWAY PROTOCOL_ERROR', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    const b = requestBlock();
    c.write(headersFrame(1, b.subarray(0, 4), true, false), frame(FrameType.ping, 0, 0, Buffer.alloc(8)), frame(FrameType.continuation, Flag.endHeaders, 1, b.subarray(4)));
    await expectGoaway(c, ErrorCode.protocolError);
  }));

test(raw, 'a CONTINUATION on another stream than its HEADERS gets GOAWAY PROTOCOL_ERROR', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    const b = requestBlock();
    c.write(headersFrame(1, b.subarray(0, 4), true, false), frame(FrameType.continuation, Flag.endHeaders, 3, b.subarray(4)));
    await expectGoaway(c, ErrorCode.protocolError);
  }));

test(raw, 'a header block split over HEADERS and two CONTINUATIONs is accepted', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    const b = requestBlock('/x', [['x-id', 'split']]);
    c.write(headersFrame(1, b.subarray(0, 3), true, false), frame(FrameType.continuation, 0, 1, b.subarray(3, 9)), frame(FrameType.continuation, Flag.endHeaders, 1, b.subarray(9)));
    const h = await expectAnswered(c, 1);
    assert.is(h['x-seen'], 'split');
  }));

test(raw, 'a connection WINDOW_UPDATE of 0 gets GOAWAY PROTOCOL_ERROR', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    c.write(windowUpdateFrame(0, 0));
    await expectGoaway(c, ErrorCode.protocolError);
  }));

test(raw, 'a connection window past 2^31-1 gets GOAWAY FLOW_CONTROL_ERROR', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    c.write(windowUpdateFrame(0, maxWindowSize));
    await expectGoaway(c, ErrorCode.flowControlError);
  }));

test(raw, 'a stream window past 2^31-1 gets RST_STREAM FLOW_CONTROL_ERROR on that stream only', () =>
  withRaw({}, () => undefined, async (c, server) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock()), windowUpdateFrame(1, maxWindowSize));
    await expectRst(c, 1, ErrorCode.flowControlError);
    await until(() => server.recorders[0]?.closes === 1, 'the stream closes');
    c.write(headersFrame(3, requestBlock()));
    await until(() => server.recorders.length === 2, 'the next stream is served');
    assert.not.ok(c.closed);
  }));

for (const [what, fields] of [
  ['an upper-case header name', [['X-Upper', 'v']]],
  ['connection: keep-alive', [['connection', 'keep-alive']]],
  ['te other than trailers', [['te', 'gzip']]],
  ['a pseudo-header after a regular one', [['x-a', '1'], [':status', '200']]],
] as const) {
  test(raw, `${what} gets RST_STREAM PROTOCOL_ERROR on that stream only; the HPACK table stays in step`, () =>
    withRaw({}, answerNow, async (c, server) => {
      await c.handshake();
      // the refused block adds x-id: first to the table, then the bad field (itself indexed)
      const bad = Buffer.concat([
        requestBlock(),
        block(hpack.literal('incremental', 'x-id', 'first'), ...fields.map(([n, v]) => hpack.literal('incremental', n, v))),
      ]);
      c.write(headersFrame(1, bad));
      await expectRst(c, 1, ErrorCode.protocolError);
      // the next stream names the entries by index: 62 is the bad field (or the last of them), 62+n is x-id
      c.write(headersFrame(3, Buffer.concat([requestBlock(), block(hpack.indexed(62 + fields.length))])));
      const h = await expectAnswered(c, 3);
      assert.is(h['x-seen'], 'first');
      assert.is(server.recorders.length, 1, 'the refused stream never reached the handler');
    }));
}

test(raw, 'a request without :path gets RST_STREAM PROTOCOL_ERROR; the next stream is served', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    c.write(headersFrame(1, encodeHeaderBlock([[':method', 'GET'], [':scheme', 'http'], ['x-id', 'a']])));
    await expectRst(c, 1, ErrorCode.protocolError);
    c.write(headersFrame(3, requestBlock('/y', [['x-id', 'b']])));
    assert.is((await expectAnswered(c, 3))['x-seen'], 'b');
  }));

test(raw, 'DATA beyond the stream window gets RST_STREAM FLOW_CONTROL_ERROR; the connection goes on', () =>
  withRaw({ initialWindowSize: 16 * 1024 }, (rec) => rec.stream.pause(), async (c, server) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock(), false), dataFrame(1, Buffer.alloc(16 * 1024)));
    await c.roundTrip();
    assert.equal(c.untaken(FrameType.rstStream), [], 'a full window is allowed');
    c.write(dataFrame(1, Buffer.alloc(1)));
    await expectRst(c, 1, ErrorCode.flowControlError);
    await until(() => server.recorders[0]?.closes === 1, 'the stream closes');
    c.write(headersFrame(3, requestBlock()));
    await until(() => server.recorders.length === 2, 'the next stream is served');
  }));

test(raw, 'DATA sent within the default window before the client acknowledged a smaller SETTINGS_INITIAL_WINDOW_SIZE is accepted (§6.9.2)', () =>
  withRaw({ initialWindowSize: 16 * 1024 }, (rec) => {
    // a handler that does not read yet: nothing of the window is given back
    answerAtEnd((r) => Buffer.from(String(r.body.length)))(rec);
    rec.stream.pause();
  }, async (c, server) => {
    // no SETTINGS ACK yet: the client still counts on 65,535 octets per stream
    const body = Buffer.alloc(60_000);
    const frames = [clientPreface, settingsFrame([]), headersFrame(1, requestBlock(), false)];
    for (let at = 0; at < body.length; at += 16_384) frames.push(dataFrame(1, body.subarray(at, at + 16_384), at + 16_384 >= body.length));
    c.write(...frames);
    await c.roundTrip();
    assert.equal(c.untaken(FrameType.rstStream), []);
    server.recorders[0]!.stream.resume();
    await expectAnswered(c, 1);
    const data = await c.next((f) => f.type === FrameType.data && f.stream === 1, 'DATA');
    assert.is(data.payload.toString(), '60000');
    assert.equal(c.untaken(FrameType.rstStream), []);
    assert.equal(server.errors, []);
  }));

test(raw, 'a client that uses a larger SETTINGS_INITIAL_WINDOW_SIZE before it sends the ACK is not reset (it applied the settings on receipt)', () =>
  withRaw({ initialWindowSize: 256 * 1024 }, (rec) => rec.stream.pause(), async (c, server) => {
    c.write(clientPreface, settingsFrame([]));
    await c.next((f) => f.type === FrameType.settings && (f.flags & Flag.ack) === 0, 'the server SETTINGS');
    // 200 KB on one stream, past the default 65,535 but within the announced window, then the ACK
    const frames = [headersFrame(1, requestBlock(), false)];
    for (let i = 0; i < 12; i++) frames.push(dataFrame(1, Buffer.alloc(16_384, i)));
    c.write(...frames, frame(FrameType.settings, Flag.ack, 0));
    await c.roundTrip();
    assert.equal(c.untaken(FrameType.rstStream), []);
    assert.is(server.recorders[0]!.stream.receiveWindow, 256 * 1024 - 12 * 16_384);
    // and the window is what the client counts on: the rest of it is accepted, one octet more is not
    c.write(...Array.from({ length: 4 }, () => dataFrame(1, Buffer.alloc(16_384))));
    await c.roundTrip();
    assert.equal(c.untaken(FrameType.rstStream), []);
    c.write(dataFrame(1, Buffer.alloc(1)));
    await expectRst(c, 1, ErrorCode.flowControlError);
  }));

test(raw, 'DATA on a half-closed (remote) stream gets RST_STREAM STREAM_CLOSED; on a closed one it is ignored and costs no reset', () =>
  withRaw({}, (rec) => (rec.stream.headers[':path'] === '/answer' ? answerNow(rec) : undefined), async (c, server) => {
    await c.handshake();
    // stream 1: the client ended, the server has not answered
    c.write(headersFrame(1, requestBlock('/wait')), dataFrame(1, Buffer.from('late')));
    await expectRst(c, 1, ErrorCode.streamClosed);
    // stream 3: both sides ended, the stream is closed
    c.write(headersFrame(3, requestBlock('/answer')));
    await expectAnswered(c, 3);
    c.write(dataFrame(3, Buffer.from('late')));
    c.write(headersFrame(5, requestBlock('/answer')));
    await expectAnswered(c, 5);
    assert.equal(c.untaken(FrameType.rstStream).filter((f) => f.stream === 3), [], 'no reset for DATA on a closed stream');
    assert.equal(server.errors, []);
  }));

test(raw, "requests refused at their headers with their DATA still on the way cost no reset tokens (grpc-go's HEADERS and DATA come together)", () =>
  withRaw({ resetBurst: 3, resetRatePerSecond: 1 }, (rec) => {
    rec.stream.resetWhenAnswered = true;
    answerNow(rec);
  }, async (c) => {
    await c.handshake();
    for (let i = 0; i < 10; i++) {
      const id = 1 + 2 * i;
      c.write(headersFrame(id, requestBlock('/x'), false), dataFrame(id, Buffer.from('body'), true));
      await expectAnswered(c, id);
    }
    await c.roundTrip();
    assert.equal(c.untaken(FrameType.goaway), []);
  }));

test(raw, 'empty CONTINUATION frames that do not end the block get GOAWAY ENHANCE_YOUR_CALM', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    const blockBytes = requestBlock();
    c.write(headersFrame(1, blockBytes.subarray(0, 3), true, false));
    for (let i = 0; i < 5; i++) c.write(frame(FrameType.continuation, 0, 1));
    await expectGoaway(c, ErrorCode.enhanceYourCalm);
  }));

test(raw, 'DATA on an idle stream gets GOAWAY PROTOCOL_ERROR', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    c.write(dataFrame(7, Buffer.from('x')));
    await expectGoaway(c, ErrorCode.protocolError);
  }));

test(raw, 'more client resets than the burst get GOAWAY ENHANCE_YOUR_CALM', () =>
  withRaw({ resetBurst: 5, resetRatePerSecond: 1 }, () => undefined, async (c) => {
    await c.handshake();
    for (let i = 0; i < 5; i++) c.write(headersFrame(1 + 2 * i, requestBlock(), false), rstStreamFrame(1 + 2 * i, ErrorCode.cancel));
    await c.roundTrip();
    assert.equal(c.untaken(FrameType.goaway), [], 'the burst itself is allowed');
    c.write(headersFrame(11, requestBlock(), false), rstStreamFrame(11, ErrorCode.cancel));
    await expectGoaway(c, ErrorCode.enhanceYourCalm);
  }));

test(raw, 'an HPACK error gets GOAWAY COMPRESSION_ERROR', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    c.write(headersFrame(1, Buffer.from([0x80])));
    await expectGoaway(c, ErrorCode.compressionError);
  }));

test(raw, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 gets GOAWAY FLOW_CONTROL_ERROR', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    c.write(settingsFrame([[Setting.initialWindowSize, 2 ** 31]]));
    await expectGoaway(c, ErrorCode.flowControlError);
  }));

test(raw, 'a SETTINGS_INITIAL_WINDOW_SIZE raise unblocks a stream held at a zero window; data comes before trailers', () =>
  withRaw({}, answerAtEnd(() => Buffer.from('held back'), 1), async (c) => {
    await c.handshake([[Setting.initialWindowSize, 0]]);
    c.write(headersFrame(1, requestBlock()));
    await expectAnswered(c, 1);
    await c.roundTrip();
    assert.equal(c.untaken(FrameType.data), [], 'no DATA on a zero window');
    assert.equal(c.untaken(FrameType.headers), [], 'no trailers before the DATA');
    c.write(settingsFrame([[Setting.initialWindowSize, 65_535]]));
    const data = await c.next((f) => f.type === FrameType.data && f.stream === 1, 'DATA');
    assert.is(data.payload.toString(), 'held back');
    const t = await c.next((f) => f.type === FrameType.headers && f.stream === 1, 'trailers');
    assert.ok((t.flags & Flag.endStream) !== 0);
    assert.is(c.decode(t)['x-done'], 'yes');
    assert.ok(c.frames.indexOf(data) < c.frames.indexOf(t));
  }));

test(raw, 'a connection WINDOW_UPDATE unblocks an answer held by the connection window', () =>
  withRaw({}, answerAtEnd(() => Buffer.alloc(100_000, 7), 1), async (c) => {
    await c.handshake([[Setting.initialWindowSize, 1 << 20]]);
    c.write(headersFrame(1, requestBlock()));
    await expectAnswered(c, 1);
    await until(() => c.untaken(FrameType.data).reduce((n, f) => n + f.payload.length, 0) === 65_535, 'the first 65,535 octets');
    await c.roundTrip();
    assert.is(c.untaken(FrameType.data).reduce((n, f) => n + f.payload.length, 0), 65_535, 'no more than the connection window');
    c.write(windowUpdateFrame(0, 100_000));
    await until(() => c.untaken(FrameType.data).reduce((n, f) => n + f.payload.length, 0) === 100_000, 'the rest');
    await c.next((f) => f.type === FrameType.headers && f.stream === 1, 'trailers');
  }));

for (const maxFrameSize of [16_384, 65_536]) {
  test(raw, `SETTINGS_MAX_FRAME_SIZE ${maxFrameSize}: no DATA or HEADERS frame from the server is larger`, () =>
    withRaw({}, (rec) => {
      rec.stream.respond(encodeHeaderBlock([[':status', '200'], ['x-big', 'h'.repeat(20_000)]]), false);
      rec.stream.write(randomBytes(300_000));
      rec.stream.endWithTrailers(trailers({ 'x-done': 'yes' }));
    }, async (c) => {
      await c.handshake([[Setting.maxFrameSize, maxFrameSize], [Setting.initialWindowSize, 1 << 20]]);
      c.write(windowUpdateFrame(0, 1 << 20));
      c.write(headersFrame(1, requestBlock()));
      await c.next((f) => f.type === FrameType.headers && (f.flags & Flag.endStream) !== 0, 'trailers');
      const data = c.frames.filter((f) => f.type === FrameType.data);
      assert.is(data.reduce((n, f) => n + f.payload.length, 0), 300_000);
      const largest = Math.max(...c.frames.map((f) => f.payload.length));
      assert.ok(largest <= maxFrameSize, `largest frame ${largest}`);
      if (maxFrameSize > 16_384) assert.ok(largest > 16_384, 'the larger size is used');
      // the 20 KB header block is split into HEADERS and CONTINUATION when it does not fit
      if (maxFrameSize === 16_384) assert.ok(c.frames.some((f) => f.type === FrameType.continuation));
    }));
}

test(raw, 'PUSH_PROMISE from a client gets GOAWAY PROTOCOL_ERROR', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock(), false));
    const payload = Buffer.concat([Buffer.from([0, 0, 0, 2]), requestBlock()]);
    c.write(frame(FrameType.pushPromise, Flag.endHeaders, 1, payload));
    await expectGoaway(c, ErrorCode.protocolError);
  }));

test(raw, 'padded HEADERS (with a priority) and padded DATA are accepted; the padding is not part of the body', () =>
  withRaw({}, answerAtEnd((rec) => rec.body), async (c) => {
    await c.handshake();
    const b = requestBlock();
    const headersPayload = Buffer.concat([Buffer.from([7]), Buffer.from([0, 0, 0, 0, 16]), b, Buffer.alloc(7)]);
    c.write(frame(FrameType.headers, Flag.endHeaders | Flag.padded | Flag.priority, 1, headersPayload));
    c.write(frame(FrameType.data, Flag.padded, 1, Buffer.concat([Buffer.from([3]), Buffer.from('body'), Buffer.alloc(3)])));
    c.write(frame(FrameType.data, Flag.padded | Flag.endStream, 1, Buffer.from([0])));
    await expectAnswered(c, 1);
    const data = await c.next((f) => f.type === FrameType.data && f.stream === 1, 'DATA');
    assert.is(data.payload.toString(), 'body');
  }));

test(raw, 'a stream that depends on itself (HEADERS or PRIORITY) gets RST_STREAM PROTOCOL_ERROR; the HPACK table stays in step (§5.3.1)', () =>
  withRaw({}, answerAtEnd(() => Buffer.from('ok')), async (c, server) => {
    await c.handshake();
    const selfOn1 = Buffer.from([0, 0, 0, 1, 16]);
    const b = Buffer.concat([requestBlock(), block(hpack.literal('incremental', 'x-id', 'kept'))]);
    c.write(frame(FrameType.headers, Flag.endHeaders | Flag.priority, 1, Buffer.concat([selfOn1, b])));
    await expectRst(c, 1, ErrorCode.protocolError);
    c.write(headersFrame(3, requestBlock(), false), frame(FrameType.priority, 0, 3, Buffer.from([0, 0, 0, 3, 16])));
    await expectRst(c, 3, ErrorCode.protocolError);
    // a dependency on another stream is fine, and the refused block's entry is in the table
    c.write(frame(FrameType.priority, 0, 5, Buffer.from([0, 0, 0, 3, 16])));
    c.write(headersFrame(5, Buffer.concat([requestBlock(), block(hpack.indexed(62))])));
    await expectAnswered(c, 5);
    assert.is(server.recorders.length, 2, 'stream 1 never reached the handler');
    assert.is(server.recorders[1]!.stream.headers['x-id'], 'kept');
  }));

test(raw, 'a content-length that the DATA does not add up to gets RST_STREAM PROTOCOL_ERROR (§8.1.1); a matching one is served', () =>
  withRaw({}, answerAtEnd((rec) => Buffer.from(String(rec.body.length))), async (c, server) => {
    await c.handshake();
    // more than announced: refused as soon as it is seen
    c.write(headersFrame(1, requestBlock('/x', [['content-length', '3']]), false), dataFrame(1, Buffer.from('ab')), dataFrame(1, Buffer.from('cd'), true));
    await expectRst(c, 1, ErrorCode.protocolError);
    // less than announced, at END_STREAM
    c.write(headersFrame(3, requestBlock('/x', [['content-length', '5']]), false), dataFrame(3, Buffer.from('abc'), true));
    await expectRst(c, 3, ErrorCode.protocolError);
    // no DATA at all, the HEADERS ending the stream
    c.write(headersFrame(5, requestBlock('/x', [['content-length', '1']])));
    await expectRst(c, 5, ErrorCode.protocolError);
    // not a number
    c.write(headersFrame(7, requestBlock('/x', [['content-length', '1x']])));
    await expectRst(c, 7, ErrorCode.protocolError);
    // exact, over two frames; and trailers ending it
    c.write(headersFrame(9, requestBlock('/x', [['content-length', '4']]), false), dataFrame(9, Buffer.from('ab')), dataFrame(9, Buffer.from('cd'), true));
    await expectAnswered(c, 9);
    c.write(headersFrame(11, requestBlock('/x', [['content-length', '2']]), false), dataFrame(11, Buffer.from('ab')), headersFrame(11, encodeHeaderBlock([['x-t', '1']])));
    await expectAnswered(c, 11);
    for (const rec of server.recorders.slice(0, 2)) assert.not.ok(rec.ended, `stream ${rec.stream.id} never ended for the handler`);
    assert.is(server.recorders.length, 4, 'streams 5 and 7 never reached the handler');
  }));

test(raw, 'resetWhenAnswered: RST_STREAM NO_ERROR only for a request still open, never after the client ended (even on its HEADERS)', () =>
  withRaw({}, (rec) => {
    rec.stream.resetWhenAnswered = true;
    // answered at once, inside the stream event, as a refused gRPC call is
    rec.stream.respond(encodeHeaderBlock([[':status', '200'], ['grpc-status', '12']]), true);
  }, async (c, server) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock()));
    await expectAnswered(c, 1);
    c.write(headersFrame(3, requestBlock(), false));
    await expectAnswered(c, 3);
    await expectRst(c, 3, ErrorCode.noError);
    await c.roundTrip();
    assert.equal(c.untaken(FrameType.rstStream), [], 'no RST_STREAM on stream 1, which both sides had ended');
    assert.equal(server.recorders.map((r) => r.closes), [1, 1]);
    assert.equal(server.recorders[0]!.order, ['end', 'close']);
  }));

test(raw, 'a handler that pauses and resumes inside data (synchronously) gets the held chunks, then the end, in order', () =>
  withRaw({}, (rec) => rec.stream.pause(), async (c, server) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock(), false), dataFrame(1, Buffer.from('a')), dataFrame(1, Buffer.from('b')), dataFrame(1, Buffer.from('c'), true));
    await c.roundTrip();
    const rec = server.recorders[0]!;
    const seen: string[] = [];
    rec.stream.events = {
      data: (chunk) => {
        seen.push(chunk.toString());
        rec.stream.pause();
        rec.stream.resume();
      },
      end: () => seen.push('end'),
      close: () => seen.push('close'),
    };
    rec.stream.resume();
    assert.equal(seen, ['a', 'b', 'c', 'end']);
  }));

test(raw, 'an END_STREAM arriving while the stream is paused (nothing else held) is delivered on resume', () =>
  withRaw({}, () => undefined, async (c, server) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock(), false), dataFrame(1, Buffer.from('a')));
    await c.roundTrip();
    const rec = server.recorders[0]!;
    rec.stream.pause();
    c.write(dataFrame(1, Buffer.alloc(0), true));
    await c.roundTrip();
    assert.ok(rec.stream.remoteEnded);
    assert.equal(rec.order, ['data'], 'no end while paused');
    rec.stream.resume();
    assert.equal(rec.order, ['data', 'end']);
  }));

test(raw, "a PING's ACK waits for the answer of a call in progress and goes out in the same write", () =>
  withRaw({}, (rec) => setImmediate(() => answerNow(rec)), async (c) => {
    await c.handshake();
    await c.roundTrip(); // the SETTINGS ACK is out of the way
    // the request and the PING in one read: at its end only the ACK is queued, the call still open
    c.write(headersFrame(1, requestBlock(), true), frame(FrameType.ping, 0, 0, Buffer.from('bdp-ping')));
    const ack = await c.next((f) => f.type === FrameType.ping && (f.flags & Flag.ack) !== 0, 'the PING ACK');
    const answer = await c.next((f) => f.type === FrameType.headers && f.stream === 1, 'the answer');
    assert.ok(ack.payload.equals(Buffer.from('bdp-ping')));
    assert.is(ack.chunk, answer.chunk, 'one write');
  }));

test(raw, 'a PING held for a call that does not answer is acknowledged after pingAckHoldMs', () =>
  withRaw({}, () => undefined, async (c) => {
    await c.handshake();
    c.write(frame(FrameType.ping, 0, 0, Buffer.from('no-calls')));
    await c.next((f) => f.type === FrameType.ping && (f.flags & Flag.ack) !== 0, 'the first ACK');
    c.write(headersFrame(1, requestBlock(), true));
    await c.roundTrip();
    const held = performance.now();
    c.write(frame(FrameType.ping, 0, 0, Buffer.from('one-call')));
    const ack = await c.next((f) => f.type === FrameType.ping && (f.flags & Flag.ack) !== 0, 'the held ACK', 1_000);
    assert.ok(ack.payload.equals(Buffer.from('one-call')));
    assert.ok(performance.now() - held >= pingAckHoldMs - 1, 'held');
  }));

test(raw, 'a client that floods PINGs without reading the ACKs is dropped once too many answers wait for the socket', () =>
  withRaw({}, answerNow, async (c, server) => {
    await c.handshake();
    c.socket.pause();
    const batch = Buffer.concat(Array.from({ length: 5_000 }, () => frame(FrameType.ping, 0, 0, Buffer.alloc(8))));
    // each batch is 85 KB of PINGs; the kernel buffers hold a few MB of ACKs before the server's socket blocks
    for (let sent = 0; sent < 400 && server.connectionCloses === 0 && !c.socket.destroyed; sent++) {
      if (!c.socket.write(batch)) await new Promise((resolve) => c.socket.once('drain', resolve).once('close', resolve));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await until(() => server.connectionCloses === 1, 'the server drops the connection');
    assert.ok(server.errors.some((e) => /control frames/.test(e)), server.errors.join('; '));
  }));

test(raw, 'padding longer than the frame gets GOAWAY PROTOCOL_ERROR', () =>
  withRaw({}, answerNow, async (c) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock(), false), frame(FrameType.data, Flag.padded, 1, Buffer.from([5, 1, 2])));
    await expectGoaway(c, ErrorCode.protocolError);
  }));

test(raw, 'a stream past maxConcurrentStreams gets RST_STREAM REFUSED_STREAM; the HPACK table stays in step', () =>
  withRaw({ maxConcurrentStreams: 1 }, (rec) => {
    if (rec.stream.headers[':path'] !== '/hold') answerNow(rec);
  }, async (c, server) => {
    const settings = await c.handshake();
    assert.ok(settings.payload.includes(Buffer.from([0, Setting.maxConcurrentStreams, 0, 0, 0, 1])), 'MAX_CONCURRENT_STREAMS 1 announced');
    c.write(headersFrame(1, requestBlock('/hold'), false));
    c.write(headersFrame(3, Buffer.concat([requestBlock(), block(hpack.literal('incremental', 'x-id', 'from-refused'))])));
    await expectRst(c, 3, ErrorCode.refusedStream);
    // end stream 1 by resetting it, then a new stream names the refused block's entry
    c.write(rstStreamFrame(1, ErrorCode.cancel));
    await until(() => server.recorders[0]?.closes === 1, 'stream 1 closes');
    c.write(headersFrame(5, Buffer.concat([requestBlock(), block(hpack.indexed(62))])));
    assert.is((await expectAnswered(c, 5))['x-seen'], 'from-refused');
  }));

test(raw, 'client trailers end the request; a second header block without END_STREAM is a stream error', () =>
  withRaw({}, answerAtEnd((rec) => rec.body), async (c, server) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock(), false), dataFrame(1, Buffer.from('abc')), headersFrame(1, encodeHeaderBlock([['x-t', '1']])));
    await expectAnswered(c, 1);
    c.write(headersFrame(3, requestBlock(), false), dataFrame(3, Buffer.from('abc')), headersFrame(3, encodeHeaderBlock([['x-t', '1']]), false));
    await expectRst(c, 3, ErrorCode.protocolError);
    assert.equal(server.recorders[0]!.order, ['data', 'end', 'close']);
  }));

test(raw, 'after goaway() a new stream is refused (REFUSED_STREAM, above the GOAWAY\'s last stream) while the open one finishes; then the socket closes', () =>
  withRaw({}, () => undefined, async (c, server) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock()));
    await until(() => server.recorders.length === 1, 'stream 1 reaches the server');
    server.connections[0]!.goaway();
    const g = await c.goaway();
    assert.is(g.code, ErrorCode.noError);
    assert.is(g.lastStream, 1);
    c.write(headersFrame(3, requestBlock()));
    await expectRst(c, 3, ErrorCode.refusedStream);
    assert.is(server.recorders.length, 1);
    answerNow(server.recorders[0]!);
    await expectAnswered(c, 1);
    await c.closedByServer();
    await until(() => server.connectionCloses === 1, 'the server connection closes');
  }));

test(raw, 'a client GOAWAY with a stream open lets it finish, then the connection closes', () =>
  withRaw({}, () => undefined, async (c, server) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock()), frame(FrameType.goaway, 0, 0, Buffer.alloc(8)));
    await c.roundTrip();
    assert.not.ok(c.closed);
    answerNow(server.recorders[0]!);
    await expectAnswered(c, 1);
    await c.closedByServer();
  }));

test(raw, 'a client GOAWAY with no open stream closes the connection', () =>
  withRaw({}, answerNow, async (c, server) => {
    await c.handshake();
    c.write(frame(FrameType.goaway, 0, 0, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])));
    await c.closedByServer();
    await until(() => server.connectionCloses === 1, 'the server connection closes');
  }));

test(raw, 'paused streams hold the connection window: past it the client gets GOAWAY FLOW_CONTROL_ERROR', () =>
  withRaw({ connectionWindowSize: 65_535, initialWindowSize: 65_535 }, (rec) => rec.stream.pause(), async (c) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock(), false), dataFrame(1, Buffer.alloc(16_384)), dataFrame(1, Buffer.alloc(16_384)));
    c.write(headersFrame(3, requestBlock(), false), dataFrame(3, Buffer.alloc(16_384)), dataFrame(3, Buffer.alloc(16_383)));
    await c.roundTrip();
    assert.equal(c.untaken(FrameType.windowUpdate), [], 'nothing taken, nothing credited');
    assert.equal(c.untaken(FrameType.goaway), [], 'a full connection window is allowed');
    c.write(dataFrame(3, Buffer.alloc(1)));
    await expectGoaway(c, ErrorCode.flowControlError);
  }));

test(raw, "a paused stream's held body is credited back to the connection when the stream is reset", () =>
  withRaw({ connectionWindowSize: 65_535, initialWindowSize: 65_535 }, (rec) => rec.stream.pause(), async (c) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock(), false), dataFrame(1, Buffer.alloc(16_384)), dataFrame(1, Buffer.alloc(16_384)), dataFrame(1, Buffer.alloc(16_384)));
    await c.roundTrip();
    assert.equal(c.untaken(FrameType.windowUpdate), [], 'held, not credited');
    c.write(rstStreamFrame(1, ErrorCode.cancel));
    const update = await c.next((f) => f.type === FrameType.windowUpdate && f.stream === 0, 'a connection WINDOW_UPDATE');
    assert.is(update.payload.readUInt32BE(0), 3 * 16_384);
  }));

test(raw, 'a handler that throws ends its connection with GOAWAY INTERNAL_ERROR, not the process', () =>
  withRaw(
    {},
    () => {
      throw new Error('handler fault');
    },
    async (c, server) => {
      await c.handshake();
      c.write(headersFrame(1, requestBlock()));
      await expectGoaway(c, ErrorCode.internalError);
      assert.ok(server.errors.some((e) => /handler fault/.test(e)), server.errors.join('; '));
    },
  ));

test(raw, 'malformed requests count with resets: past the burst the client gets GOAWAY ENHANCE_YOUR_CALM', () =>
  withRaw({ resetBurst: 3, resetRatePerSecond: 1 }, answerNow, async (c) => {
    await c.handshake();
    for (let i = 0; i < 3; i++) c.write(headersFrame(1 + 2 * i, requestBlock('/x', [['Upper', 'x']])));
    await c.roundTrip();
    assert.equal(c.untaken(FrameType.goaway), [], 'the burst itself is answered with resets');
    c.write(headersFrame(7, requestBlock('/x', [['Upper', 'x']])));
    await expectGoaway(c, ErrorCode.enhanceYourCalm);
  }));

test(raw, 'a small answer queued behind 70 large ones goes out within the first flushes (round robin across flushes)', () =>
  withRaw(
    {},
    (rec) => {
      const big = rec.stream.headers[':path'] === '/big';
      rec.stream.respond(okHeaders, false);
      rec.stream.write(Buffer.alloc(big ? 256 * 1024 : 100, big ? 1 : 2));
      rec.stream.endWithTrailers(trailers({ 'x-done': 'yes' }));
    },
    async (c) => {
      await c.handshake([[Setting.initialWindowSize, maxWindowSize]]);
      c.write(windowUpdateFrame(0, maxWindowSize - 65_535));
      const requests: Buffer[] = [];
      for (let i = 0; i < 70; i++) requests.push(headersFrame(1 + 2 * i, requestBlock('/big')));
      requests.push(headersFrame(141, requestBlock('/small')));
      c.write(Buffer.concat(requests));
      const small = await c.next((f) => f.type === FrameType.data && f.stream === 141, 'the small answer', 10_000);
      const before = c.frames.slice(0, c.frames.indexOf(small)).filter((f) => f.type === FrameType.data).reduce((n, f) => n + f.payload.length, 0);
      assert.ok(before < 4 * 1024 * 1024, `${before} bytes of large answers went before the small one`);
    },
  ));

test(raw, 'paused calls holding part of the connection window do not stall the rest: WINDOW_UPDATE once less than half is left', () =>
  withRaw(
    { connectionWindowSize: 1024 * 1024, initialWindowSize: 256 * 1024 },
    (rec) => {
      if (rec.stream.headers[':path'] === '/hold') rec.stream.pause();
    },
    async (c) => {
      await c.handshake();
      const opening = await c.next((f) => f.type === FrameType.windowUpdate && f.stream === 0, "the server's opening WINDOW_UPDATE");
      assert.is(opening.payload.readUInt32BE(0), 1024 * 1024 - 65_535);
      const chunk = Buffer.alloc(16_000);
      const frames: Buffer[] = [];
      for (const id of [1, 3, 5]) {
        frames.push(headersFrame(id, requestBlock('/hold'), false));
        for (let i = 0; i < 12; i++) frames.push(dataFrame(id, chunk));
      }
      frames.push(headersFrame(7, requestBlock('/take'), false));
      for (let i = 0; i < 20; i++) frames.push(dataFrame(7, chunk));
      c.write(Buffer.concat(frames));
      // held 576,000 and taken 320,000 of 1 MiB: under half is left, so what was taken is credited
      // (in sixteenths of the window) though the held part stays out
      let credited = 0;
      while (credited < 320_000) {
        const update = await c.next((f) => f.type === FrameType.windowUpdate && f.stream === 0, `connection WINDOW_UPDATEs (${credited} so far)`);
        credited += update.payload.readUInt32BE(0);
      }
      assert.is(credited, 320_000);
    },
  ));

test(raw, 'a client that does not take its answers has new streams refused (REFUSED_STREAM) past maxPendingOutputBytes', () =>
  withRaw({ maxPendingOutputBytes: 64 * 1024 }, answerAtEnd(() => Buffer.alloc(100 * 1024, 3)), async (c) => {
    await c.handshake();
    c.write(headersFrame(1, requestBlock()));
    await expectAnswered(c, 1);
    c.write(headersFrame(3, requestBlock()));
    await expectAnswered(c, 3);
    await c.roundTrip();
    c.write(headersFrame(5, requestBlock()));
    await expectRst(c, 5, ErrorCode.refusedStream);
  }));

withNode.run();
raw.run();
