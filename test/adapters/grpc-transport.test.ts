// The gRPC layer's protocol edges (src/adapters/grpc/server-call.ts, grpc-server.ts), driven with a
// raw node:http2 client that can split, truncate and mislabel frames, and with grpc-js where a real
// client's view matters. Test-only services (`lattice.test.Probe`) exercise what etcd's services
// cannot show on their own: cancellation signals, flow control on a flood, shutdown with calls in flight.
// Run: npx tsc -p tsconfig.json; node dist/test/adapters/grpc-transport.test.js
import http2 from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, credentials, Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { startClientPort, type ClientPort } from '../../src/adapters/client-port.js';
import { defaultGrpcServices } from '../../src/adapters/grpc/grpc-server.js';
import {
  bidi,
  serverStream,
  serviceMethods,
  streamBacklogHighWaterBytes,
  unary,
  type GrpcServiceModule,
  type MethodDefinition,
} from '../../src/adapters/grpc/service-module.js';
import { drained } from '../../src/adapters/grpc/stream-drained.js';
import { maxQueuedRequests, queuedRequestsPeak, requestQueue } from '../../src/adapters/grpc/request-stream.js';
import { PutRequest, PutResponse, WatchRequest, WatchResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { withTimeout } from '../helpers/spec.js';
import { FakeServerApi, fakeMember } from './fake-server-api.js';

const maxRequestBytes = 4096;
const receiveLimitBytes = maxRequestBytes + 512 * 1024;
const testTimeoutMs = 30_000;
const floodMessageBytes = 64 * 1024;

// --- a test-only service ----------------------------------------------------------------------------

const raw = (path: string, requestStream: boolean, responseStream: boolean): MethodDefinition<Buffer, Buffer> => ({
  path: `/lattice.test.Probe/${path}`,
  requestStream,
  responseStream,
  requestDeserialize: (b) => b,
  responseSerialize: (b) => b,
});
const ProbeService = {
  echoMetadata: raw('EchoMetadata', false, false),
  waitForCancel: raw('WaitForCancel', false, false),
  slow: raw('Slow', false, false),
  fail: raw('Fail', false, false),
  flood: raw('Flood', false, true),
  hold: raw('Hold', true, true),
  drainTwice: raw('DrainTwice', false, true),
  big: raw('Big', false, false),
  queued: raw('Queued', true, true),
  badEncode: {
    ...raw('BadEncode', false, false),
    responseSerialize: (): Buffer => {
      throw new Error('cannot encode');
    },
  },
};

interface ProbeLog {
  aborted: number;
  holdEnded: Array<{ cancelled: boolean }>;
  floodSentBytes: number;
  floodMaxBacklogBytes: number;
  /** Request loops (Queued) started and ended: a loop left waiting after its call ended is a leak. */
  queueLoopsStarted: number;
  queueLoopsEnded: number;
}
const probe: ProbeLog = { aborted: 0, holdEnded: [], floodSentBytes: 0, floodMaxBacklogBytes: 0, queueLoopsStarted: 0, queueLoopsEnded: 0 };

const probeModule: GrpcServiceModule = {
  name: 'lattice.test.Probe',
  methods: () =>
    serviceMethods(ProbeService, {
      echoMetadata: unary(ProbeService.echoMetadata, (_req, call) =>
        Buffer.from(JSON.stringify({ token: call.metadata.token, hasleader: call.metadata.hasleader, deadline: call.deadline !== undefined })),
      ),
      waitForCancel: unary(ProbeService.waitForCancel, (_req, call) => {
        call.signal.addEventListener('abort', () => probe.aborted++);
        return new Promise<Buffer>(() => undefined);
      }),
      slow: unary(ProbeService.slow, async () => {
        await sleep(300);
        return Buffer.from('done');
      }),
      fail: unary(ProbeService.fail, () => {
        throw new Error('bad % ünïcode\nsecond line');
      }),
      flood: serverStream(ProbeService.flood, async (req, call, out) => {
        const total = req.readUInt32BE(0);
        const chunk = Buffer.alloc(floodMessageBytes, 0x66);
        for (let i = 0; i < total; i++) {
          probe.floodSentBytes += chunk.length;
          const more = out.send(chunk);
          probe.floodMaxBacklogBytes = Math.max(probe.floodMaxBacklogBytes, out.backlogBytes);
          if (!more) await drained(out, call.signal);
        }
      }),
      badEncode: unary(ProbeService.badEncode, () => Buffer.alloc(0)),
      queued: bidi(ProbeService.queued, (call, out) => {
        // a lease keepalive loop in small: each request answered in turn, waiting while the client does not read
        const queue = requestQueue<Buffer>(call);
        probe.queueLoopsStarted++;
        void (async () => {
          for await (const req of queue.requests) if (!out.send(req)) await drained(out, call.signal);
          out.end();
        })().finally(() => probe.queueLoopsEnded++);
        return queue;
      }),
      big: unary(ProbeService.big, (req) => Buffer.alloc(req.readUInt32BE(0), 0x62)),
      drainTwice: serverStream(ProbeService.drainTwice, async (_req, call, out) => {
        // a handler's own drain listener, then stream-drained.ts waiting too: both must hear the drain
        let heard = 0;
        out.onDrained(() => heard++);
        const chunk = Buffer.alloc(floodMessageBytes, 0x64);
        while (out.send(chunk));
        await drained(out, call.signal);
        out.send(Buffer.from(`heard ${heard}`));
      }),
      hold: bidi(ProbeService.hold, (_call, out) => {
        out.onEnd((cancelled) => probe.holdEnded.push({ cancelled }));
        return { message: (req) => out.send(req) };
      }),
    }),
};

/** The whole suite, served in process (0) or by transport workers that relay every call. */
function defineSuite(transportWorkers: number): void {
  // --- fixture ----------------------------------------------------------------------------------------

  const t = suite(`gRPC layer: protocol edges${transportWorkers > 0 ? `, ${transportWorkers} transport workers` : ''}`);
  let port: ClientPort | undefined;
  let addr = '';
  const sessions: http2.ClientHttp2Session[] = [];
  const clients: Client[] = [];

  t.before(async () => {
    Object.assign(probe, { aborted: 0, holdEnded: [], floodSentBytes: 0, floodMaxBacklogBytes: 0, queueLoopsStarted: 0, queueLoopsEnded: 0 });
    port = await startClientPort({
      transportWorkers,
      listenUrls: ['http://127.0.0.1:0'],
      api: new FakeServerApi(),
      maxRequestBytes,
      grpcServices: [...defaultGrpcServices, probeModule],
      log: () => undefined,
    });
    const a = port.addresses[0];
    addr = `${a?.host}:${a?.port}`;
  });

  t.after(async () => {
    for (const s of sessions) s.destroy();
    for (const c of clients) c.close();
    await port?.close();
  });

  const it = (name: string, body: () => Promise<void>): void => {
    t(name, () => withTimeout(body(), testTimeoutMs, name));
  };

  const frame = (message: Uint8Array, flag = 0): Buffer => {
    const out = Buffer.alloc(5 + message.length);
    out[0] = flag;
    out.writeUInt32BE(message.length, 1);
    out.set(message, 5);
    return out;
  };

  function connectRaw(target = addr): http2.ClientHttp2Session {
    const s = http2.connect(`http://${target}`);
    s.on('error', () => undefined);
    sessions.push(s);
    return s;
  }

  interface RawOutcome {
    headers: http2.IncomingHttpHeaders;
    /** The status headers: the trailers, or the headers of a Trailers-Only answer. */
    status: http2.IncomingHttpHeaders;
    data: Buffer;
  }

  /** One request: `chunks` written one per event-loop turn, then END_STREAM unless `end` is false. */
  function rawCall(
    path: string,
    chunks: readonly Buffer[],
    extraHeaders: http2.OutgoingHttpHeaders = {},
    options: { end?: boolean; session?: http2.ClientHttp2Session } = {},
  ): Promise<RawOutcome> {
    const session = options.session ?? connectRaw();
    return new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extraHeaders });
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | undefined;
      const data: Buffer[] = [];
      req.on('response', (h) => (headers = h));
      req.on('trailers', (h) => (trailers = h));
      req.on('data', (d: Buffer) => data.push(d));
      req.on('error', reject);
      req.on('close', () => resolve({ headers, status: trailers ?? headers, data: Buffer.concat(data) }));
      void (async () => {
        for (const c of chunks) {
          if (req.destroyed) return;
          req.write(c);
          await new Promise((r) => setImmediate(r));
        }
        if (options.end !== false && !req.destroyed) req.end();
      })();
    });
  }

  const statusOf = (o: RawOutcome): { code: number; message: string } => ({
    code: Number(o.status['grpc-status']),
    message: decodeURIComponent(String(o.status['grpc-message'] ?? '')),
  });

  const putPath = '/etcdserverpb.KV/Put';
  const putBytes = (key: string, value: Buffer | string = 'v'): Uint8Array =>
    PutRequest.encode(PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) })).finish();

  /** Splits a buffer into pieces of `size` bytes. */
  const pieces = (buf: Buffer, size: number): Buffer[] => {
    const out: Buffer[] = [];
    for (let at = 0; at < buf.length; at += size) out.push(buf.subarray(at, at + size));
    return out;
  };

  // --- framing ------------------------------------------------------------------------------------------

  it('a request message split across many DATA frames is reassembled', async () => {
    const o = await rawCall(putPath, pieces(frame(putBytes('split', 'x'.repeat(1000))), 7));
    assert.equal(statusOf(o), { code: 0, message: '' });
    const res = PutResponse.decode(o.data.subarray(5));
    assert.is(res.header?.memberId, fakeMember.memberId);
    assert.is(o.data.readUInt32BE(1), o.data.length - 5);
  });

  it('two watch requests in one DATA frame are two messages', async () => {
    const create = (key: string): Buffer => frame(WatchRequest.encode({ createRequest: { key: Buffer.from(key), rangeEnd: Buffer.alloc(0), startRevision: 0n, progressNotify: false, filters: [], prevKv: false, watchId: 0n, fragment: false } }).finish());
    const session = connectRaw();
    const req = session.request({ ':method': 'POST', ':path': '/etcdserverpb.Watch/Watch', 'content-type': 'application/grpc', te: 'trailers' });
    req.write(Buffer.concat([create('a'), create('b')]));
    let buf = Buffer.alloc(0);
    const created: bigint[] = [];
    await new Promise<void>((resolve) => {
      req.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
          const n = buf.readUInt32BE(1);
          const res = WatchResponse.decode(buf.subarray(5, 5 + n));
          if (res.created) created.push(res.watchId);
          buf = buf.subarray(5 + n);
        }
        if (created.length === 2) resolve();
      });
    });
    assert.equal(created, [0n, 1n]);
    req.close();
  });

  it('a request that ends inside a message fails with UNKNOWN unexpected EOF; one with no message with EOF', async () => {
    const whole = frame(putBytes('truncated'));
    assert.equal(statusOf(await rawCall(putPath, [whole.subarray(0, whole.length - 3)])), { code: Status.UNKNOWN, message: 'unexpected EOF' });
    assert.equal(statusOf(await rawCall(putPath, [whole.subarray(0, 3)])), { code: Status.UNKNOWN, message: 'unexpected EOF' });
    assert.equal(statusOf(await rawCall(putPath, [])), { code: Status.UNKNOWN, message: 'EOF' });
  });

  it('a message longer than the receive limit is refused on its prefix with Go gRPC text, before its body is sent', async () => {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(receiveLimitBytes + 1, 1);
    const o = await rawCall(putPath, [prefix], {}, { end: false });
    assert.equal(statusOf(o), {
      code: Status.RESOURCE_EXHAUSTED,
      message: `grpc: received message larger than max (${receiveLimitBytes + 1} vs. ${receiveLimitBytes})`,
    });
  });

  it('a request that does not decode fails with INTERNAL grpc: error unmarshalling request', async () => {
    const o = await rawCall(putPath, [frame(Buffer.from([0x0a, 0x7f]))]);
    assert.is(statusOf(o).code, Status.INTERNAL);
    assert.match(statusOf(o).message, /^grpc: error unmarshalling request: /);
  });

  // --- routing --------------------------------------------------------------------------------------------

  it('an unknown service and an unknown method get grpc-go texts', async () => {
    assert.equal(statusOf(await rawCall('/etcdserverpb.Nope/Range', [frame(Buffer.alloc(0))])), {
      code: Status.UNIMPLEMENTED,
      message: 'unknown service etcdserverpb.Nope',
    });
    assert.equal(statusOf(await rawCall('/etcdserverpb.KV/Nope', [frame(Buffer.alloc(0))])), {
      code: Status.UNIMPLEMENTED,
      message: 'unknown method Nope for service etcdserverpb.KV',
    });
    // (a path without a slash, grpc-go's "malformed method name", never gets past nghttp2's own checks)
  });

  it('grpc-js sees unknown service text too', async () => {
    const client = new Client(addr, credentials.createInsecure());
    clients.push(client);
    const err = await new Promise<ServiceError | null>((resolve) => {
      client.makeUnaryRequest('/etcdserverpb.Nope/Nope', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), new Metadata(), {}, (e) => resolve(e));
    });
    assert.is(err?.code, Status.UNIMPLEMENTED);
    assert.is(err?.details, 'unknown service etcdserverpb.Nope');
  });

  // --- compression ----------------------------------------------------------------------------------------

  it('a request compressed with gzip is refused with UNIMPLEMENTED and grpc-accept-encoding: identity', async () => {
    const o = await rawCall(putPath, [frame(putBytes('gz'), 1)], { 'grpc-encoding': 'gzip' });
    assert.equal(statusOf(o), { code: Status.UNIMPLEMENTED, message: 'grpc: Decompressor is not installed for grpc-encoding "gzip"' });
    assert.is(o.status['grpc-accept-encoding'], 'identity');
  });

  it('grpc-encoding identity is accepted; a compressed flag without an encoding is INTERNAL', async () => {
    assert.is(statusOf(await rawCall(putPath, [frame(putBytes('id'))], { 'grpc-encoding': 'identity' })).code, 0);
    assert.equal(statusOf(await rawCall(putPath, [frame(putBytes('id'), 1)])), {
      code: Status.INTERNAL,
      message: 'grpc: compressed flag set with identity or empty encoding',
    });
  });

  // --- metadata, status text --------------------------------------------------------------------------------

  it('handlers see metadata (token, hasleader) and the deadline', async () => {
    const o = await rawCall(ProbeService.echoMetadata.path, [frame(Buffer.alloc(0))], { token: 'abc', hasleader: 'true', 'grpc-timeout': '5S' });
    assert.equal(JSON.parse(o.data.subarray(5).toString()), { token: 'abc', hasleader: 'true', deadline: true });
  });

  it('a handler failure becomes UNKNOWN with its message percent-encoded, which clients decode', async () => {
    const o = await rawCall(ProbeService.fail.path, [frame(Buffer.alloc(0))]);
    assert.is(o.status['grpc-message'], 'bad %25 %C3%BCn%C3%AFcode%0Asecond line');
    assert.equal(statusOf(o), { code: Status.UNKNOWN, message: 'bad % ünïcode\nsecond line' });
    const client = new Client(addr, credentials.createInsecure());
    clients.push(client);
    const err = await new Promise<ServiceError | null>((resolve) => {
      client.makeUnaryRequest(ProbeService.fail.path, (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), new Metadata(), {}, (e) => resolve(e));
    });
    assert.is(err?.details, 'bad % ünïcode\nsecond line');
  });

  it('a response that does not encode fails the call with INTERNAL instead of crashing the server', async () => {
    assert.equal(statusOf(await rawCall(ProbeService.badEncode.path, [frame(Buffer.alloc(0))])), {
      code: Status.INTERNAL,
      message: 'grpc: error while marshaling: cannot encode',
    });
    assert.is(statusOf(await rawCall(putPath, [frame(putBytes('still-up'))])).code, 0);
  });

  // --- deadlines and cancellation ---------------------------------------------------------------------

  it('a call past its grpc-timeout ends with DEADLINE_EXCEEDED and its handler is signalled', async () => {
    const before = probe.aborted;
    const started = Date.now();
    const o = await rawCall(ProbeService.waitForCancel.path, [frame(Buffer.alloc(0))], { 'grpc-timeout': '200m' });
    assert.equal(statusOf(o), { code: Status.DEADLINE_EXCEEDED, message: 'context deadline exceeded' });
    assert.ok(Date.now() - started < 3000);
    assert.is(probe.aborted, before + 1);
  });

  it('a grpc-timeout past 24.8 days (setTimeout\'s limit) does not expire at once', async () => {
    for (const timeout of ['2592000S', '99999999H']) {
      const o = await rawCall(ProbeService.slow.path, [frame(Buffer.alloc(0))], { 'grpc-timeout': timeout });
      assert.equal(statusOf(o), { code: 0, message: '' }, timeout);
      assert.is(o.data.subarray(5).toString(), 'done');
    }
  });

  it('a unary client still sending after its answer is reset with RST_STREAM NO_ERROR', async () => {
    const session = connectRaw();
    const req = session.request({ ':method': 'POST', ':path': putPath, 'content-type': 'application/grpc', te: 'trailers' });
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('trailers', (h) => (trailers = h));
    req.on('error', () => undefined);
    req.resume();
    req.write(frame(putBytes('still-sending'))); // no END_STREAM
    await new Promise((resolve) => req.on('close', resolve));
    assert.is(trailers['grpc-status'], '0');
    assert.is(req.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  });

  it('drain listeners add up: waiting for a drain does not remove the handler\'s own listener', async () => {
    const o = await rawCall(ProbeService.drainTwice.path, [frame(Buffer.alloc(0))]);
    assert.is(statusOf(o).code, 0);
    let last: Buffer = Buffer.alloc(0);
    for (let at = 0; at < o.data.length; at += 5 + o.data.readUInt32BE(at + 1)) last = o.data.subarray(at + 5, at + 5 + o.data.readUInt32BE(at + 1));
    assert.is(last.toString(), 'heard 1');
  });

  it('a malformed grpc-timeout fails the call with INTERNAL', async () => {
    const o = await rawCall(putPath, [frame(putBytes('t'))], { 'grpc-timeout': '12X' });
    assert.equal(statusOf(o), { code: Status.INTERNAL, message: 'malformed time-out: transport: timeout unit is not recognized: "12X"' });
  });

  const until = async (what: string, ok: () => boolean, limitMs = 5000): Promise<void> => {
    const deadline = Date.now() + limitMs;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  };

  it('RST_STREAM from the client cancels a unary handler and ends a bidi stream mid-way', async () => {
    const session = connectRaw();
    const beforeAborted = probe.aborted;
    const unaryReq = session.request({ ':method': 'POST', ':path': ProbeService.waitForCancel.path, 'content-type': 'application/grpc' });
    unaryReq.end(frame(Buffer.alloc(0)));
    unaryReq.on('error', () => undefined);
    await sleep(50);
    unaryReq.close(http2.constants.NGHTTP2_CANCEL);
    await until('the unary handler to be signalled', () => probe.aborted === beforeAborted + 1);

    const ended = probe.holdEnded.length;
    const stream = session.request({ ':method': 'POST', ':path': ProbeService.hold.path, 'content-type': 'application/grpc' });
    stream.on('error', () => undefined);
    stream.write(frame(Buffer.from('ping')));
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await until('the bidi call to end', () => probe.holdEnded.length === ended + 1);
    assert.equal(probe.holdEnded.at(-1), { cancelled: true });
  });

  it('a client that closes its connection mid-stream ends the call', async () => {
    const session = connectRaw();
    const ended = probe.holdEnded.length;
    const stream = session.request({ ':method': 'POST', ':path': ProbeService.hold.path, 'content-type': 'application/grpc' });
    stream.on('error', () => undefined);
    stream.write(frame(Buffer.from('ping')));
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    session.destroy();
    await until('the bidi call to end', () => probe.holdEnded.length === ended + 1);
    assert.equal(probe.holdEnded.at(-1), { cancelled: true });
  });

  // --- flow control -------------------------------------------------------------------------------------

  it('a server stream to a client that does not read stays within its bound, then delivers everything', async () => {
    const messages = 400; // 25 MiB
    probe.floodSentBytes = 0;
    probe.floodMaxBacklogBytes = 0;
    const session = connectRaw();
    const req = session.request({ ':method': 'POST', ':path': ProbeService.flood.path, 'content-type': 'application/grpc', te: 'trailers' });
    const count = Buffer.alloc(4);
    count.writeUInt32BE(messages);
    req.end(frame(count));
    req.pause();
    await sleep(500);
    const sentWhilePaused = probe.floodSentBytes;
    await sleep(500);
    assert.is(probe.floodSentBytes, sentWhilePaused, 'the handler waits while the client does not read');
    assert.ok(sentWhilePaused < 8 * 1024 * 1024, `queued ${sentWhilePaused} bytes for a client that reads nothing`);
    assert.ok(probe.floodMaxBacklogBytes <= streamBacklogHighWaterBytes + floodMessageBytes + 5);
    let received = 0;
    const status = await new Promise<http2.IncomingHttpHeaders>((resolve) => {
      req.on('data', (d: Buffer) => (received += d.length));
      req.on('trailers', resolve);
      req.resume();
    });
    assert.is(status['grpc-status'], '0');
    assert.is(received, messages * (floodMessageBytes + 5));
  });

  it('a burst of 100,000 requests from a client that does not read answers queues no more than the bound, and all are answered in order', async () => {
    const session = connectRaw();
    const req = session.request({ ':method': 'POST', ':path': ProbeService.queued.path, 'content-type': 'application/grpc', te: 'trailers' });
    req.on('error', () => undefined);
    req.pause();
    const requests = 100_000;
    const perWrite = 1_000;
    for (let at = 0; at < requests; at += perWrite) {
      const batch: Buffer[] = [];
      for (let i = at; i < at + perWrite; i++) {
        const body = Buffer.alloc(4);
        body.writeUInt32BE(i);
        batch.push(frame(body));
      }
      req.write(Buffer.concat(batch));
    }
    req.end();
    // the server reads until its queue and its response backlog are full, then holds the client back
    await sleep(500);
    assert.ok(queuedRequestsPeak() <= maxQueuedRequests, `${queuedRequestsPeak()} requests were queued`);
    let buf: Buffer = Buffer.alloc(0);
    let next = 0;
    let inOrder = true;
    req.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      let at = 0;
      while (buf.length - at >= 9) {
        if (buf.readUInt32BE(at + 5) !== next) inOrder = false;
        next++;
        at += 9;
      }
      buf = buf.subarray(at);
    });
    req.resume();
    await new Promise((resolve) => req.on('close', resolve));
    assert.is(next, requests);
    assert.ok(inOrder, 'answers came out of order');
    assert.ok(queuedRequestsPeak() <= maxQueuedRequests, `${queuedRequestsPeak()} requests were queued`);
  });

  it('2,000 keepalive-like streams cancelled mid-message or half-closed after one answer leave no call and no request loop behind', async () => {
    // a relayed call closes here once its worker says so, after its client saw it close
    await until('the calls of earlier tests to close on the server', () => port?.openGrpcCalls === 0);
    const openBefore = port?.openGrpcCalls ?? -1;
    const session = connectRaw();
    const streams = 2_000;
    const closed: Array<Promise<unknown>> = [];
    for (let i = 0; i < streams; i++) {
      const req = session.request({ ':method': 'POST', ':path': ProbeService.queued.path, 'content-type': 'application/grpc', te: 'trailers' });
      req.on('error', () => undefined);
      closed.push(new Promise((resolve) => req.on('close', resolve)));
      req.once('data', () => {
        // even: cancelled in the middle of a message (not taken for a half-close); odd: half-closed
        if (i % 2 === 0) req.write(frame(Buffer.from('ka')).subarray(0, 3), () => req.close(http2.constants.NGHTTP2_CANCEL));
        else req.end();
      });
      req.resume();
      req.write(frame(Buffer.from('ka')));
      if (i % 100 === 99) await Promise.all(closed.slice(-100)); // below the rapid-reset limit of node 20
    }
    await Promise.all(closed);
    await until('every call to close on the server', () => port?.openGrpcCalls === openBefore);
    await until('every request loop to end', () => probe.queueLoopsEnded === probe.queueLoopsStarted);
    session.close();
  });

  // plain-text connections are Lattice's own HTTP/2, whose reset limit (10,000, then 1,000/s) holds on every node
  it('2,000 calls cancelled fast on one connection do not close it (grpc-go resets every cancelled call)', async () => {
    const session = connectRaw();
    let goaway: number | undefined;
    session.on('goaway', (code: number) => (goaway = code));
    await new Promise<void>((resolve) => session.once('connect', () => resolve()));
    for (let i = 0; i < 2000 && !session.destroyed; i++) {
      const req = session.request({ ':method': 'POST', ':path': ProbeService.waitForCancel.path, 'content-type': 'application/grpc', te: 'trailers' });
      req.on('error', () => undefined);
      req.end(frame(Buffer.alloc(0)));
      req.close(http2.constants.NGHTTP2_CANCEL);
      if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
    }
    const o = await rawCall(putPath, [frame(putBytes('after-cancels'))], {}, { session });
    assert.is(goaway, undefined, 'the server sent GOAWAY');
    assert.is(statusOf(o).code, 0);
  });

  // --- keepalive --------------------------------------------------------------------------------------------

  it('a client pinging too often on an idle connection gets GOAWAY ENHANCE_YOUR_CALM too_many_pings', async () => {
    const session = connectRaw();
    await new Promise<void>((resolve) => session.once('connect', () => resolve()));
    const goaway = new Promise<{ code: number; data: string }>((resolve) =>
      session.once('goaway', (code: number, _last: number, data?: Buffer) => resolve({ code, data: data?.toString() ?? '' })),
    );
    for (let i = 0; i < 4 && !session.destroyed; i++) {
      await new Promise<void>((resolve) => {
        if (!session.ping(() => resolve())) resolve();
      });
    }
    assert.equal(await goaway, { code: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, data: 'too_many_pings' });
  });

  it('a client that pings after every message it receives (grpc-go BDP pings) keeps its connection', async () => {
    const session = connectRaw();
    let goaway = false;
    session.on('goaway', () => (goaway = true));
    const stream = session.request({ ':method': 'POST', ':path': ProbeService.hold.path, 'content-type': 'application/grpc' });
    stream.on('error', () => undefined);
    for (let i = 0; i < 10; i++) {
      stream.write(frame(Buffer.from(`m${i}`)));
      await new Promise<void>((resolve) => stream.once('data', () => resolve()));
      await new Promise<void>((resolve) => {
        if (!session.ping(() => resolve())) resolve();
      });
    }
    assert.not.ok(goaway, 'the server sent GOAWAY');
    assert.not.ok(session.destroyed);
    stream.close();
  });

  it('a client reading one large unary answer slowly, pinging after each chunk, keeps its connection', async () => {
    // min-time short, so that the one write of the answer takes many min-times to leave
    const keepaliveMinTimeMs = 100;
    const p = await startClientPort({
      transportWorkers,
      listenUrls: ['http://127.0.0.1:0'],
      api: new FakeServerApi(),
      grpcServices: [...defaultGrpcServices, probeModule],
      keepaliveMinTimeMs,
      log: () => undefined,
    });
    try {
      const a = p.addresses[0];
      const session = connectRaw(`${a?.host}:${a?.port}`);
      let goaway: number | undefined;
      session.on('goaway', (code: number) => (goaway = code));
      const answerBytes = 1024 * 1024;
      const size = Buffer.alloc(4);
      size.writeUInt32BE(answerBytes);
      const req = session.request({ ':method': 'POST', ':path': ProbeService.big.path, 'content-type': 'application/grpc', te: 'trailers' });
      req.on('error', () => undefined);
      let received = 0;
      let trailers: http2.IncomingHttpHeaders = {};
      const started = Date.now();
      req.on('trailers', (h) => (trailers = h));
      req.on('data', (d: Buffer) => {
        received += d.length;
        // read slowly, answering each chunk with a ping as grpc-go's BDP estimator does
        req.pause();
        if (!session.destroyed) session.ping(() => undefined);
        setTimeout(() => req.resume(), 20);
      });
      req.end(frame(size));
      await new Promise((resolve) => req.on('close', resolve));
      assert.is(goaway, undefined, 'the server sent GOAWAY');
      assert.ok(Date.now() - started > 5 * keepaliveMinTimeMs, 'the answer took several min-times to read');
      assert.is(trailers['grpc-status'], '0');
      assert.is(received, answerBytes + 5);
    } finally {
      await p.close();
    }
  });

  // --- shutdown -----------------------------------------------------------------------------------------------

  it('close() sends GOAWAY and lets calls in flight finish; new calls do not start', async () => {
    const p = await startClientPort({
      transportWorkers,
      listenUrls: ['http://127.0.0.1:0'],
      api: new FakeServerApi(),
      grpcServices: [...defaultGrpcServices, probeModule],
      closeGraceMs: 3000,
      log: () => undefined,
    });
    const a = p.addresses[0];
    const target = `${a?.host}:${a?.port}`;
    const session = connectRaw(target);
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
    const inFlight = rawCall(ProbeService.slow.path, [frame(Buffer.alloc(0))], {}, { session });
    await sleep(100);
    const closed = p.close();
    assert.is(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    const o = await inFlight;
    assert.equal(statusOf(o), { code: 0, message: '' });
    assert.is(o.data.subarray(5).toString(), 'done');
    await closed;
    const refused = await new Promise<boolean>((resolve) => {
      const s = http2.connect(`http://${target}`);
      s.on('error', () => resolve(true));
      s.on('connect', () => resolve(false));
    });
    assert.ok(refused, 'the port no longer accepts connections');
  });
  t.run();
}

defineSuite(0);
defineSuite(2);
