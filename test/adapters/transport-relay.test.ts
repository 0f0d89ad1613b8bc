// The transport workers' relay in pieces (src/adapters/transport-workers/): the batch format, the
// in-place growth of a call's opening, header sets, and the two server-side ends (a relayed gRPC
// call's stream, a relayed HTTP connection's socket) against a recording stand-in for the worker.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RelayCallStream, type RelayOut } from '../../src/adapters/transport-workers/relay-call-stream.js';
import { RelayedSocket } from '../../src/adapters/transport-workers/relayed-socket.js';
import { decodeHeaders, Down, encodeHeaders, readCallOpen, readCount, readRelayBatch, RelayWriter, Up } from '../../src/adapters/transport-workers/relay-wire.js';
import { H2Stream, type StreamHost } from '../../src/adapters/h2/h2-stream.js';

interface Op {
  op: number;
  id: number;
  payload: Buffer;
}

function ops(batch: Buffer): Op[] {
  const out: Op[] = [];
  readRelayBatch(batch, (op, id, b, start, end) => out.push({ op, id, payload: Buffer.from(b.subarray(start, end)) }));
  return out;
}

/** Stands in for the worker link: records operations, closes answered calls at once, tells consumption on demand. */
class Recorder implements RelayOut {
  readonly sent: { op: number; id: number; payload?: Buffer; n?: number }[] = [];
  readonly consuming: RelayCallStream[] = [];
  op(op: number, id: number, payload?: Buffer): void {
    this.sent.push({ op, id, ...(payload === undefined ? {} : { payload: Buffer.from(payload) }) });
  }
  opCount(op: number, id: number, n: number): void {
    this.sent.push({ op, id, n });
  }
  answered(call: RelayCallStream): void {
    queueMicrotask(() => call.close());
  }
  consumedSoon(call: RelayCallStream): void {
    this.consuming.push(call);
  }
  endOfTurn(): void {
    for (const c of this.consuming.splice(0)) c.tellConsumed();
  }
}

const wire = suite('relay wire');

wire('operations come back as written, with their ids and payloads', () => {
  const w = new RelayWriter();
  w.op(Up.callData, 7, Buffer.from('abc'));
  w.opCount(Up.callWritten, 8, 3);
  w.op(Up.callEnd, 0xffff_ffff);
  const got = ops(w.take());
  assert.equal(
    got.map((o) => [o.op, o.id, o.payload.length]),
    [
      [Up.callData, 7, 3],
      [Up.callWritten, 8, 4],
      [Up.callEnd, 0xffff_ffff, 0],
    ],
  );
  assert.is(readCount(got[1]!.payload, 0), 3);
  assert.ok(w.isEmpty);
});

wire("a call's opening takes its body and end while it is the last operation, across a buffer growth", () => {
  const w = new RelayWriter();
  w.openCall(5, 9, '10S');
  const big = Buffer.alloc(200 * 1024, 1); // more than the writer's first buffer
  assert.ok(w.extendOpen(5, Buffer.from('xy')));
  assert.ok(w.extendOpen(5, big));
  assert.not.ok(w.extendOpen(6, Buffer.from('other call')));
  assert.ok(w.endOpen(5));
  assert.not.ok(w.extendOpen(5, Buffer.from('after the end')), 'nothing is added after the end');
  w.openCall(6, 9, '');
  w.op(Up.callData, 1, Buffer.from('between'));
  assert.not.ok(w.extendOpen(6, Buffer.from('late')), 'an opening followed by another operation is closed');
  assert.not.ok(w.endOpen(6));
  const batch = w.take();
  assert.not.ok(w.extendOpen(6, Buffer.from('next batch')), 'nor in the next batch');
  const got = ops(batch);
  assert.equal(
    got.map((o) => [o.op, o.id]),
    [
      [Up.callOpen, 5],
      [Up.callOpen, 6],
      [Up.callData, 1],
    ],
  );
  const first = readCallOpen(got[0]!.payload, 0, got[0]!.payload.length);
  assert.equal([first.headerSet, first.ended, first.timeout], [9, true, '10S']);
  const body = got[0]!.payload.subarray(first.bodyStart);
  assert.is(body.length, 2 + big.length);
  assert.is(body.subarray(0, 2).toString(), 'xy');
  const second = readCallOpen(got[1]!.payload, 0, got[1]!.payload.length);
  assert.equal([second.ended, second.timeout, second.bodyStart], [false, undefined, got[1]!.payload.length]);
});

wire('framing that does not add up is refused before any operation is visited', () => {
  const w = new RelayWriter();
  w.op(Up.callData, 1, Buffer.from('abc'));
  w.op(Up.callData, 2, Buffer.from('def'));
  const batch = w.take();
  let visited = 0;
  assert.throws(() => readRelayBatch(batch.subarray(0, batch.length - 1), () => visited++), /truncated/);
  assert.throws(() => readRelayBatch(Buffer.concat([batch, Buffer.from([1, 2])]), () => visited++), /truncated/);
  assert.is(visited, 0);
  assert.throws(() => readCallOpen(Buffer.alloc(4), 0, 4), /truncated/);
  const lying = Buffer.alloc(9);
  lying.writeUInt32BE(100, 5); // a timeout longer than the payload
  assert.throws(() => readCallOpen(lying, 0, 9), /truncated/);
});

wire('header lists of any size and text survive the trip', () => {
  const headers = { ':path': '/etcdserverpb.KV/Range', 'user-agent': 'grpc-go/1.26 ünï', ['x'.repeat(70_000)]: 'v'.repeat(100_000), empty: '' };
  assert.equal(decodeHeaders(encodeHeaders(headers)), headers);
});

wire.run();

const call = suite('relayed call stream (server side)');

call('chunks held while paused come out in order, one at a time, also when the reader pauses again inside', () => {
  const out = new Recorder();
  const s = new RelayCallStream(out, 3);
  const seen: string[] = [];
  s.listen({
    requestData: (c) => {
      seen.push(c.toString());
      if (c.toString() === 'b') s.pause(); // a reader that stops after one message
    },
    requestEnded: () => seen.push('end'),
    streamClosed: () => seen.push('closed'),
  });
  s.pause();
  for (const c of ['a', 'b', 'c']) s.data(Buffer.from(c));
  s.end();
  assert.equal(seen, []);
  s.resume();
  assert.equal(seen, ['a', 'b']);
  s.data(Buffer.from('d')); // arriving behind held chunks: held too
  s.resume();
  assert.equal(seen, ['a', 'b', 'c', 'd', 'end']);
  assert.ok(s.requestEnded);
});

call('what the call took is told once per turn, and not for a call that closed', () => {
  const out = new Recorder();
  const s = new RelayCallStream(out, 4);
  s.listen({ requestData: () => undefined, requestEnded: () => undefined, streamClosed: () => undefined });
  s.data(Buffer.alloc(10));
  s.data(Buffer.alloc(5));
  out.endOfTurn();
  assert.equal(out.sent, [{ op: Down.callConsumed, id: 4, n: 15 }]);
  s.data(Buffer.alloc(7));
  s.close();
  out.endOfTurn();
  assert.is(out.sent.length, 1);
});

call('writes wait for the worker; a close releases the rest; a unary answer is one operation and closes the call', async () => {
  const out = new Recorder();
  const s = new RelayCallStream(out, 5);
  let closed = 0;
  s.listen({ requestData: () => undefined, requestEnded: () => undefined, streamClosed: () => closed++ });
  const written: number[] = [];
  s.sendHeaders();
  s.sendData(Buffer.from('one'), () => written.push(1));
  s.sendData(Buffer.from('two'), () => written.push(2));
  s.sendData(Buffer.from('three'), () => written.push(3));
  s.written(1);
  assert.equal(written, [1]);
  s.close();
  assert.equal(written, [1, 2, 3]);
  assert.is(closed, 1);
  s.close();
  assert.is(closed, 1, 'closed once');
  s.sendData(Buffer.from('late'), () => written.push(4));
  assert.equal(written, [1, 2, 3, 4], 'a write after the close is released at once');
  assert.equal(
    out.sent.map((o) => o.op),
    [Down.callHeaders, Down.callData, Down.callData, Down.callData],
  );

  const u = new RelayCallStream(out, 6);
  let uClosed = 0;
  u.listen({ requestData: () => undefined, requestEnded: () => undefined, streamClosed: () => uClosed++ });
  let uWritten = 0;
  u.sendUnary?.(Buffer.from('answer'), () => uWritten++);
  assert.is(uWritten, 1);
  assert.is(uClosed, 0, 'closed after the answering code returns');
  await Promise.resolve();
  assert.is(uClosed, 1);
  assert.equal(out.sent.at(-1), { op: Down.callUnary, id: 6, payload: Buffer.from('answer') });
});

call.run();

const socket = suite('relayed HTTP socket (server side)');

socket('a write completes when the worker says it left; corked writes go as one operation', async () => {
  const out = new Recorder();
  const s = new RelayedSocket(out, 9, { remoteAddress: '10.0.0.1', remotePort: 5 });
  assert.is(s.remoteAddress, '10.0.0.1');
  let done = 0;
  s.write('a', () => done++);
  await new Promise((r) => setImmediate(r));
  assert.is(done, 0);
  s.relayedWritten(1);
  await new Promise((r) => setImmediate(r));
  assert.is(done, 1);
  s.cork();
  s.write('b');
  s.write('c');
  s.write('d');
  s.uncork();
  await new Promise((r) => setImmediate(r));
  const writes = out.sent.filter((o) => o.op === Down.httpWrite);
  assert.equal(
    writes.map((o) => o.payload?.toString()),
    ['a', 'bcd'],
  );
  s.destroy();
});

socket('input is read, the end comes through, what was read is told, and a close from the worker destroys it', async () => {
  const out = new Recorder();
  const s = new RelayedSocket(out, 10, {});
  const chunks: string[] = [];
  s.on('data', (c: Buffer) => chunks.push(c.toString()));
  s.relayedData(Buffer.from('GET / HTTP/1.1\r\n'));
  s.relayedData(Buffer.alloc(300 * 1024, 0x61));
  await new Promise((r) => setImmediate(r));
  assert.is(chunks[0], 'GET / HTTP/1.1\r\n');
  const told = out.sent.filter((o) => o.op === Down.httpConsumed).reduce((n, o) => n + (o.n ?? 0), 0);
  assert.ok(told >= 300 * 1024, `told ${told} bytes taken`);
  const ended = new Promise((r) => s.once('end', r));
  s.relayedEnd();
  await ended;
  const closed = new Promise((r) => s.once('close', r));
  s.relayedClose();
  await closed;
  assert.ok(s.destroyed);
  assert.not.ok(
    out.sent.some((o) => o.op === Down.httpDestroy),
    'a close that came from the worker is not sent back',
  );
});

socket("setTimeout emits 'timeout' after the quiet time, and 0 turns it off", async () => {
  const s = new RelayedSocket(new Recorder(), 11, {});
  let emitted = 0;
  s.on('timeout', () => emitted++);
  let called = 0;
  const onTimeout = (): void => {
    called++;
  };
  s.setTimeout(20, onTimeout);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal([emitted, called], [1, 1]);
  s.setTimeout(0);
  await new Promise((r) => setTimeout(r, 60));
  assert.is(emitted, 1, 'no timeout once turned off');
  s.setTimeout(20, onTimeout);
  s.setTimeout(0, onTimeout);
  s.setTimeout(20);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal([emitted, called], [2, 1], 'the removed listener is not called');
  s.destroy();
});

socket.run();

const credit = suite('HTTP/2 stream whose body is credited later (a relayed call)');

/** A stream host that records what it was told was consumed. */
function creditHost(): { host: StreamHost; consumed: number[] } {
  const consumed: number[] = [];
  const host: StreamHost = {
    sendHeaders: () => undefined,
    schedule: () => undefined,
    consumed: (_s, n) => void consumed.push(n),
    reset: () => undefined,
  };
  return { host, consumed };
}

credit('delivered bytes are credited only as taken, never more than came, and the rest goes back when the stream closes', () => {
  const { host, consumed } = creditHost();
  const s = new H2Stream(1, {}, false, host, 65_535, 1 << 20);
  s.creditLater = true;
  const got: number[] = [];
  s.events = { data: (c) => void got.push(c.length), end: () => undefined, close: () => undefined };
  s.received(Buffer.alloc(100));
  s.received(Buffer.alloc(50));
  assert.equal(got, [100, 50]);
  assert.equal(consumed, [], 'nothing credited on delivery');
  s.credit(120);
  s.credit(500); // more than is left: only the 30 left
  assert.equal(consumed, [120, 30]);
  s.received(Buffer.alloc(70));
  s.pause();
  s.received(Buffer.alloc(40)); // held, not delivered
  assert.is(s.closedByConnection(), 110, 'the uncredited 70 and the held 40 go back to the connection');
  s.credit(10);
  assert.equal(consumed, [120, 30], 'nothing after the close');
});

credit('an answered call credits all it was given', () => {
  const { host, consumed } = creditHost();
  const s = new H2Stream(3, {}, false, host, 65_535, 1 << 20);
  s.creditLater = true;
  s.events = { data: () => undefined, end: () => undefined, close: () => undefined };
  s.received(Buffer.alloc(30));
  s.received(Buffer.alloc(12));
  s.creditAll();
  s.creditAll();
  assert.equal(consumed, [42]);
});

credit.run();
