// PeerTransport (src/peer/) on real loopback sockets: ordering, batching, the handshake's refusals,
// malformed and stalled connections, queue overflow, a peer going down and coming back, snapshots
// streamed beside live traffic, and GET /members.
// Run: npx tsc -p tsconfig.json; node dist/test/peer/peer-transport.test.js (PEER_TEST_LOG=1 prints warnings)
import http2 from 'node:http2';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageType, type Message } from '../../src/raft/types.js';
import { fetchMembersFromPeers, MembersFetchError } from '../../src/peer/peer-transport.js';
import { encodeBatch } from '../../src/peer/message-codec.js';
import { writeFrameHeader } from '../../src/peer/frame-reader.js';
import { handshakeHeaders, memberRemovedText, peerPaths, revokeAuthHeaderFeature } from '../../src/peer/peer-protocol.js';
import { freePort, loopbackHost } from '../helpers/free-port.js';
import { withTimeout } from '../helpers/spec.js';
import { eventually, heartbeat, meshUp, message, seededRandom, startMember, type TestMember } from './peer-fixtures.js';

const testTimeoutMs = 60_000;
const clusterId = 0xc1n;

const started: TestMember[] = [];
async function member(id: bigint, extra: Parameters<typeof startMember>[1] = {}): Promise<TestMember> {
  const m = await startMember(id, extra);
  started.push(m);
  return m;
}
async function closeAll(): Promise<void> {
  await Promise.all(started.splice(0).map((m) => m.transport.close()));
}

const test = suite('peer transport');
/** PEER_TEST_ONLY=<words> runs only the tests whose name contains them (for debugging one). */
const only = process.env['PEER_TEST_ONLY'];
const it = (name: string, body: () => Promise<void>): void =>
  (only !== undefined && !name.includes(only) ? test.skip : test)(name, async () => {
    try {
      await withTimeout(body(), testTimeoutMs, name);
    } finally {
      await closeAll();
    }
  });

const fromPeer = (m: TestMember, peer: bigint): Message[] => m.received.filter((x) => x.from === peer);
const commits = (ms: readonly Message[]): number[] => ms.map((x) => x.commit);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// --- a raw peer, for speaking out of turn ---------------------------------------------------------

interface RawPeer {
  session: http2.ClientHttp2Session;
  stream: http2.ClientHttp2Stream;
  status: Promise<number>;
  closed: Promise<void>;
}

function rawPeer(url: string, from: bigint, to: bigint, path: string = peerPaths.messages, headers: Record<string, string> = {}): RawPeer {
  const session = http2.connect(url);
  session.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
  const stream = session.request(
    { ':method': 'POST', ':path': path, ...handshakeHeaders({ localId: from, clusterId }, to), ...headers },
    { endStream: false },
  );
  stream.on('error', () => undefined);
  const status = new Promise<number>((resolve) => {
    stream.once('response', (h) => resolve(h[':status'] ?? 0));
    stream.once('close', () => resolve(0));
  });
  return { session, stream, status, closed };
}

const frame = (payload: Uint8Array): Uint8Array => {
  const f = new Uint8Array(4 + payload.length);
  writeFrameHeader(f, payload.length);
  f.set(payload, 4);
  return f;
};

function readBody(stream: http2.ClientHttp2Stream): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    stream.on('data', (c: Buffer) => (text += c.toString()));
    stream.once('end', () => resolve(text.trim()));
    stream.once('close', () => resolve(text.trim()));
  });
}

// --- exchange -------------------------------------------------------------------------------------

it('two members exchange messages both ways, in order, and see each other active', async () => {
  const a = await member(1n);
  const b = await member(2n);
  meshUp([a, b]);
  for (const i of range(200)) {
    a.transport.send([heartbeat(1n, 2n, i)]);
    b.transport.send([heartbeat(2n, 1n, i)]);
    if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  await eventually(() => b.received.length === 200 && a.received.length === 200, 'all messages delivered');
  assert.equal(commits(b.received), range(200));
  assert.equal(commits(a.received), range(200));
  assert.ok(a.transport.isActive(2n) && b.transport.isActive(1n));
  assert.not.ok(a.transport.isActive(7n));
  // each stream's handshake said which log features its sender applies
  assert.ok(a.transport.peerAdvertises(2n, revokeAuthHeaderFeature) && b.transport.peerAdvertises(1n, revokeAuthHeaderFeature));
  assert.not.ok(a.transport.peerAdvertises(2n, 'unknown-feature') || a.transport.peerAdvertises(7n, revokeAuthHeaderFeature));
});

it('three members exchange messages, each sender in order at each receiver', async () => {
  const ms = [await member(1n), await member(2n), await member(3n)];
  meshUp(ms);
  const random = seededRandom(3);
  for (const i of range(300)) {
    for (const from of ms) {
      const tos = ms.filter((t) => t !== from && random() < 0.8);
      from.transport.send(tos.map((t) => heartbeat(from.id, t.id, i)));
    }
    if (i % 30 === 0) await new Promise((r) => setTimeout(r, 2));
  }
  const sentTo = new Map<string, number>();
  await eventually(() => ms.every((m) => m.received.length > 0) && ms.every((m) => ms.every((p) => p === m || m.transport.isActive(p.id))), 'traffic flows');
  await new Promise((r) => setTimeout(r, 300));
  for (const to of ms) {
    for (const from of ms) {
      if (from === to) continue;
      const seen = commits(fromPeer(to, from.id));
      sentTo.set(`${from.id}->${to.id}`, seen.length);
      assert.equal(seen, [...seen].sort((x, y) => x - y), `order ${from.id} -> ${to.id}`);
      assert.ok(seen.length > 150, `${from.id} -> ${to.id} delivered ${seen.length}`);
    }
  }
  for (const m of ms) assert.ok(m.received.every((x) => x.to === m.id));
});

it('many sends in one turn go out as a few frames', async () => {
  const a = await member(1n);
  const b = await member(2n);
  meshUp([a, b]);
  await eventually(() => a.transport.isActive(2n), 'a -> b active');
  const before = a.transport.linkStats(2n)?.framesSent ?? 0;
  for (const i of range(2000)) a.transport.send([heartbeat(1n, 2n, i)]);
  await eventually(() => b.received.length === 2000, 'all delivered');
  const frames = (a.transport.linkStats(2n)?.framesSent ?? 0) - before;
  assert.ok(frames <= 2, `2000 sends took ${frames} frames`);
  assert.equal(commits(b.received), range(2000));
  assert.ok(b.transport.inboundStats.framesReceived <= 2);
});

// --- refusals -------------------------------------------------------------------------------------

it('a peer from another cluster is refused with 412 cluster ID mismatch, logged on both sides', async () => {
  const a = await member(1n, { clusterId: 0xaaan });
  const b = await member(2n);
  meshUp([a, b]);
  await eventually(() => b.logs.some((l) => l.msg === 'refused a peer connection' && l.fields['reason'] === 'cluster ID mismatch'), 'b logs the refusal');
  await eventually(() => a.logs.some((l) => l.msg.includes('cluster ID mismatch')), 'a logs the refusal');
  await eventually(() => a.unreachable.includes(2n), 'a reports b unreachable');
  a.transport.send([heartbeat(1n, 2n, 1)]);
  await new Promise((r) => setTimeout(r, 200));
  assert.is(b.received.length, 0);
  assert.not.ok(a.transport.isActive(2n));

  const raw = rawPeer(b.url, 1n, 2n, peerPaths.messages, { 'x-etcd-cluster-id': 'aaa' });
  assert.is(await raw.status, 412);
  assert.is(await readBody(raw.stream), 'cluster ID mismatch');
  await withTimeout(raw.closed, 5_000, 'connection closed after the refusal');
});

it('an unknown sender is refused with 404 and gets no messages through', async () => {
  const a = await member(1n);
  const b = await member(2n);
  a.transport.addPeer(2n, [b.url]); // b does not know a
  await eventually(() => b.logs.some((l) => l.fields['reason'] === 'error sender not found'), 'b refuses a');
  const raw = rawPeer(b.url, 5n, 2n);
  assert.is(await raw.status, 404);
  assert.is(await readBody(raw.stream), 'error sender not found');
  assert.not.ok(a.transport.isActive(2n));
  assert.is(b.received.length, 0);
});

it('a removed member is refused with 410 and learns it was removed', async () => {
  const removedBy: bigint[] = [];
  const a = await member(1n, { onRemovedFromCluster: (peer) => removedBy.push(peer) });
  const b = await member(2n);
  b.removed.add(1n);
  meshUp([a, b]);
  await eventually(() => removedBy.includes(2n), 'a hears it was removed');
  assert.ok(a.logs.some((l) => l.level === 'error' && l.msg === memberRemovedText));
  const raw = rawPeer(b.url, 1n, 2n);
  assert.is(await raw.status, 410);
  assert.is(await readBody(raw.stream), 'removed member');
});

it('a handshake naming another member as the target is refused with 412', async () => {
  const b = await member(2n);
  b.transport.addPeer(1n, ['http://127.0.0.1:1']);
  const raw = rawPeer(b.url, 1n, 3n);
  assert.is(await raw.status, 412);
  assert.is(await readBody(raw.stream), 'to field mismatch');
});

// --- malformed and stalled connections ------------------------------------------------------------

async function withHealthyPair(body: (a: TestMember, b: TestMember) => Promise<void>): Promise<void> {
  const a = await member(1n);
  const b = await member(2n);
  meshUp([a, b]);
  b.transport.addPeer(9n, ['http://127.0.0.1:1']); // the raw peer's identity, known to b
  await eventually(() => a.transport.isActive(2n), 'a -> b active');
  await body(a, b);
  // b still serves a
  const n = b.received.length;
  a.transport.send([heartbeat(1n, 2n, 4242)]);
  await eventually(() => b.received.length === n + 1 && b.received.at(-1)?.commit === 4242, 'b still receives from a');
  assert.ok(a.transport.isActive(2n));
}

it('random bytes on a message stream drop that connection; the others keep working', async () => {
  await withHealthyPair(async (_a, b) => {
    const raw = rawPeer(b.url, 9n, 2n);
    assert.is(await raw.status, 200);
    const junk = new Uint8Array(64);
    const random = seededRandom(7);
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(random() * 256);
    // a plausible length so the reader gets to decode it
    writeFrameHeader(junk, 60);
    raw.stream.write(junk);
    await withTimeout(raw.closed, 5_000, 'malformed connection dropped');
    assert.ok(b.transport.inboundStats.connectionsDropped >= 1);
    assert.ok(b.logs.some((l) => l.msg === 'dropped peer connection'));
  });
});

it('a frame declaring more than the limit drops the connection at its header', async () => {
  await withHealthyPair(async (_a, b) => {
    const raw = rawPeer(b.url, 9n, 2n);
    assert.is(await raw.status, 200);
    const header = new Uint8Array(4);
    writeFrameHeader(header, 0xffffffff);
    raw.stream.write(header);
    await withTimeout(raw.closed, 5_000, 'oversized frame dropped');
    assert.ok(b.logs.some((l) => String(l.fields['reason']).includes('exceeds')));
  });
});

it('a truncated frame (stream ends mid-frame) drops the connection', async () => {
  await withHealthyPair(async (_a, b) => {
    const raw = rawPeer(b.url, 9n, 2n);
    assert.is(await raw.status, 200);
    const full = frame(encodeBatch([heartbeat(9n, 2n, 1)]));
    raw.stream.end(full.subarray(0, full.length - 3));
    await withTimeout(raw.closed, 5_000, 'truncated stream dropped');
    assert.is(b.received.filter((m) => m.from === 9n).length, 0);
  });
});

it('a well-formed message from someone other than the stream sender drops the connection', async () => {
  await withHealthyPair(async (_a, b) => {
    const raw = rawPeer(b.url, 9n, 2n);
    assert.is(await raw.status, 200);
    raw.stream.write(frame(encodeBatch([heartbeat(9n, 2n, 1)])));
    await eventually(() => b.received.some((m) => m.from === 9n), 'valid message from 9 delivered');
    raw.stream.write(frame(encodeBatch([heartbeat(1n, 2n, 2)])));
    await withTimeout(raw.closed, 5_000, 'spoofed sender dropped');
    raw.session.destroy();
    const hup = rawPeer(b.url, 9n, 2n);
    assert.is(await hup.status, 200);
    hup.stream.write(frame(encodeBatch([message({ type: MessageType.Hup, from: 9n, to: 2n })])));
    await withTimeout(hup.closed, 5_000, 'local-only message type dropped');
  });
});

it('a snapshot request that does not start with a MsgSnap for us drops the connection unseen by the app', async () => {
  await withHealthyPair(async (_a, b) => {
    let calls = 0;
    b.receiveSnapshot = async () => {
      calls++;
    };
    const notSnap = rawPeer(b.url, 9n, 2n, peerPaths.snapshot);
    notSnap.stream.write(frame(encodeBatch([heartbeat(9n, 2n, 1)]).subarray(1)));
    await withTimeout(notSnap.closed, 5_000, 'non-snapshot message dropped');
    const garbage = rawPeer(b.url, 9n, 2n, peerPaths.snapshot);
    garbage.stream.write(frame(new Uint8Array([0xff, 0xff, 0xff])));
    await withTimeout(garbage.closed, 5_000, 'garbage snapshot header dropped');
    assert.is(calls, 0);
  });
});

it('a peer that sends half a frame and stalls is dropped after the read timeout', async () => {
  await withHealthyPair(async (_a, b) => {
    const raw = rawPeer(b.url, 9n, 2n);
    assert.is(await raw.status, 200);
    const full = frame(encodeBatch([message({ type: MessageType.App, from: 9n, to: 2n, context: new Uint8Array(100_000) })]));
    raw.stream.write(full.subarray(0, 50_000));
    const t0 = Date.now();
    await withTimeout(raw.closed, 5_000, 'stalled connection dropped');
    const waited = Date.now() - t0;
    assert.ok(waited >= 600 && waited < 3_000, `dropped after ${waited} ms (read timeout 800 ms)`);
  });
});

it('a connection that never completes a handshake is closed after the handshake timeout', async () => {
  const b = await member(2n);
  const port = Number(new URL(b.url).port);
  const socket = net.connect(port, loopbackHost);
  socket.on('error', () => undefined);
  socket.resume(); // read, so the server's close is seen
  const t0 = Date.now();
  await withTimeout(new Promise<void>((resolve) => socket.once('close', () => resolve())), 5_000, 'silent connection closed');
  assert.ok(Date.now() - t0 < 3_000);
  // and one that speaks HTTP/2 but never asks for a stream
  const session = http2.connect(b.url);
  session.on('error', () => undefined);
  await withTimeout(new Promise<void>((resolve) => session.once('close', () => resolve())), 5_000, 'idle session closed');
});

// --- overflow and outages -------------------------------------------------------------------------

it('a full send queue drops messages and reports the peer unreachable', async () => {
  const downPort = await freePort();
  const a = await member(1n, { limits: { maxQueuedMessages: 10, dialTimeoutMs: 5_000, reconnectMinMs: 5_000 } });
  // a peer whose port has a listener that accepts but never answers: the link stays connecting
  const silentSockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    silentSockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(downPort, loopbackHost, () => r()));
  try {
    a.transport.addPeer(2n, [`http://${loopbackHost}:${downPort}`]);
    a.transport.send(range(50).map((i) => heartbeat(1n, 2n, i)));
    assert.ok(a.unreachable.includes(2n), 'unreachable reported at once');
    assert.is(a.transport.linkStats(2n)?.messagesDropped, 40);
    assert.ok(a.logs.some((l) => l.msg.startsWith('dropped internal Raft message since sending buffer is full')));
  } finally {
    await a.transport.close();
    for (const s of silentSockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

it('a peer that accepts the stream but stops reading is dropped after the write timeout', async () => {
  const port = await freePort();
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200 }); // and never read the body
  });
  server.on('session', (s) => s.on('error', () => undefined));
  await new Promise<void>((r) => server.listen(port, loopbackHost, () => r()));
  try {
    const a = await member(1n, { limits: { streamWriteTimeoutMs: 800 } });
    a.transport.addPeer(2n, [`http://${loopbackHost}:${port}`]);
    await eventually(() => a.transport.isActive(2n), 'stream accepted');
    const big = new Uint8Array(64 * 1024);
    for (let i = 0; i < 100; i++) a.transport.send([message({ type: MessageType.App, from: 1n, to: 2n, context: big })]);
    await eventually(() => !a.transport.isActive(2n) && a.unreachable.includes(2n), 'blocked stream dropped', 5_000);
    assert.ok(a.logs.some((l) => l.msg === 'peer became inactive (message send to peer failed)' && String(l.fields['reason']).includes('no progress')));
  } finally {
    await closeAll();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

it('a peer that is down is reported unreachable, and is reconnected when it comes back', async () => {
  const portB = await freePort();
  const a = await member(1n);
  a.transport.addPeer(2n, [`http://${loopbackHost}:${portB}`]);
  await eventually(() => a.unreachable.filter((p) => p === 2n).length >= 2, 'repeated dial failures reported');
  assert.not.ok(a.transport.isActive(2n));
  const b = await member(2n, { port: portB });
  b.transport.addPeer(1n, [a.url]);
  await eventually(() => a.transport.isActive(2n), 'a reconnects to b', 10_000);
  a.transport.send([heartbeat(1n, 2n, 77)]);
  await eventually(() => b.received.some((m) => m.commit === 77), 'message delivered after reconnect');

  // b goes away again: a notices, and comes back once more
  await b.transport.close();
  started.splice(started.indexOf(b), 1);
  const failuresBefore = a.unreachable.length;
  await eventually(() => !a.transport.isActive(2n) && a.unreachable.length > failuresBefore, 'a notices b is gone');
  // a peer not connected may come back on an older build: its log features are forgotten with its stream
  await eventually(() => !a.transport.peerAdvertises(2n, revokeAuthHeaderFeature), 'b\'s log features dropped with its stream');
  const b2 = await member(2n, { port: portB });
  b2.transport.addPeer(1n, [a.url]);
  await eventually(() => a.transport.isActive(2n), 'a reconnects to the restarted b');
  a.transport.send([heartbeat(1n, 2n, 78)]);
  await eventually(() => b2.received.some((m) => m.commit === 78), 'delivered to the restarted b');
});

it('a peer with several URLs is reached on the one that works; updatePeer moves it to new URLs', async () => {
  const a = await member(1n);
  const b = await member(2n);
  const c = await member(3n);
  meshUp([a, b, c]);
  const dead = `http://${loopbackHost}:${await freePort()}`;
  a.transport.updatePeer(2n, [dead, b.url]);
  a.transport.send([heartbeat(1n, 2n, 1)]);
  await eventually(() => a.transport.isActive(2n) && b.received.length > 0, 'b reached on its second URL');
  a.transport.updatePeer(3n, [dead]);
  await eventually(() => !a.transport.isActive(3n) && a.unreachable.includes(3n), 'c unreachable on a dead URL');
  a.transport.updatePeer(3n, [c.url]);
  await eventually(() => a.transport.isActive(3n), 'c reached after its URLs are updated');
});

it('removePeer closes the streams both ways and refuses the removed peer from then on', async () => {
  const a = await member(1n);
  const b = await member(2n);
  meshUp([a, b]);
  await eventually(() => a.transport.isActive(2n) && b.transport.isActive(1n), 'both active');
  b.transport.removePeer(1n);
  assert.not.ok(b.transport.isActive(1n));
  await eventually(() => !a.transport.isActive(2n), 'a loses its stream to b');
  await eventually(() => b.logs.filter((l) => l.fields['reason'] === 'error sender not found').length > 0, 'b refuses a redial');
  a.transport.send([heartbeat(1n, 2n, 1)]);
  b.transport.send([heartbeat(2n, 1n, 1)]);
  await new Promise((r) => setTimeout(r, 300));
  assert.is(b.received.length, 0);
  assert.is(a.received.length, 0);
});

// --- snapshots ------------------------------------------------------------------------------------

const snapMessage = (from: bigint, to: bigint, index: number): Message =>
  message({
    type: MessageType.Snap,
    from,
    to,
    term: 2,
    snapshot: { metadata: { index, term: 2, confState: { voters: [1n, 2n], learners: [] } }, data: new Uint8Array([1]) },
  });

async function* chunks(totalBytes: number, chunkBytes: number, seed: number): AsyncGenerator<Uint8Array> {
  const random = seededRandom(seed);
  for (let sent = 0; sent < totalBytes; sent += chunkBytes) {
    const c = new Uint8Array(Math.min(chunkBytes, totalBytes - sent));
    for (let i = 0; i < c.length; i += 4096) c[i] = Math.floor(random() * 256);
    yield c;
    // let the event loop run, as a real engine export would between reads
    await new Promise((r) => setImmediate(r));
  }
}

it('a 20 MiB snapshot streams in chunks while heartbeats keep flowing', async () => {
  const a = await member(1n);
  const b = await member(2n);
  meshUp([a, b]);
  await eventually(() => a.transport.isActive(2n), 'active');
  const total = 20 * 1024 * 1024;
  const expected = createHash('sha256');
  for await (const c of chunks(total, 256 * 1024, 11)) expected.update(c);

  let snapshotDone = false;
  let heartbeatsDuringSnapshot = 0;
  let receivedBytes = 0;
  let maxChunk = 0;
  const got = createHash('sha256');
  b.receiveSnapshot = async (m, state) => {
    assert.is(m.snapshot?.metadata.index, 1234);
    const before = b.received.length;
    let paused = false;
    for await (const c of state) {
      receivedBytes += c.length;
      maxChunk = Math.max(maxChunk, c.length);
      got.update(c);
      // a slow disk: the sender must wait, not buffer
      await new Promise((r) => setTimeout(r, 1));
      // Halfway, the disk stalls until heartbeats have arrived: they must not queue behind the snapshot.
      if (!paused && receivedBytes >= total / 2) {
        paused = true;
        await eventually(() => b.received.length - before >= 20, '20 heartbeats while the snapshot is held', 20_000);
      }
    }
    heartbeatsDuringSnapshot = b.received.length - before;
    // the MsgSnap itself is delivered only after this resolves
    assert.not.ok(b.received.some((x) => x.type === MessageType.Snap));
  };
  a.transport.sendSnapshot(snapMessage(1n, 2n, 1234), () => chunks(total, 256 * 1024, 11));
  let seq = 0;
  const ticker = setInterval(() => a.transport.send([heartbeat(1n, 2n, seq++)]), 5);
  try {
    await eventually(() => a.snapshotStatus.length > 0, 'snapshot status reported', 50_000);
    snapshotDone = true;
  } finally {
    clearInterval(ticker);
  }
  assert.ok(snapshotDone);
  assert.equal(a.snapshotStatus, [{ peer: 2n, ok: true }]);
  assert.is(receivedBytes, total);
  assert.is(got.digest('hex'), expected.digest('hex'));
  assert.ok(maxChunk <= 1024 * 1024, `largest chunk handed to the app: ${maxChunk}`);
  assert.ok(heartbeatsDuringSnapshot >= 20, `heartbeats delivered during the snapshot: ${heartbeatsDuringSnapshot}`);
  assert.ok(b.received.some((x) => x.type === MessageType.Snap && x.snapshot?.metadata.index === 1234));
  const hb = commits(b.received.filter((x) => x.type === MessageType.Heartbeat));
  assert.equal(hb, [...hb].sort((x, y) => x - y));
});

it('a snapshot the receiver fails to store reports failure and the peer unreachable', async () => {
  const a = await member(1n);
  const b = await member(2n);
  meshUp([a, b]);
  await eventually(() => a.transport.isActive(2n), 'active');
  b.receiveSnapshot = async (_m, state) => {
    let n = 0;
    for await (const c of state) {
      n += c.length;
      if (n > 3 * 1024 * 1024) throw new Error('disk full');
    }
  };
  a.transport.sendSnapshot(snapMessage(1n, 2n, 5), () => chunks(8 * 1024 * 1024, 64 * 1024, 1));
  await eventually(() => a.snapshotStatus.length > 0, 'status reported');
  assert.equal(a.snapshotStatus, [{ peer: 2n, ok: false }]);
  assert.ok(a.unreachable.includes(2n));
  assert.not.ok(b.received.some((x) => x.type === MessageType.Snap));
  assert.ok(b.logs.some((l) => l.msg === 'failed to save incoming database snapshot'));
  // the message stream was never disturbed
  a.transport.send([heartbeat(1n, 2n, 5)]);
  await eventually(() => b.received.some((x) => x.commit === 5), 'messages still flow');
});

it('a snapshot whose state source fails aborts the receiver and reports failure', async () => {
  const a = await member(1n);
  const b = await member(2n);
  meshUp([a, b]);
  let receiverError = '';
  b.receiveSnapshot = async (_m, state) => {
    try {
      for await (const _c of state) {
        // store
      }
    } catch (err) {
      receiverError = String(err);
      throw err;
    }
  };
  async function* broken(): AsyncGenerator<Uint8Array> {
    yield new Uint8Array(1024);
    // long enough for the receiver to be reading when the sender gives up
    await new Promise((r) => setTimeout(r, 300));
    throw new Error('export failed');
  }
  a.transport.sendSnapshot(snapMessage(1n, 2n, 6), broken);
  await eventually(() => a.snapshotStatus.length > 0, 'status reported');
  assert.equal(a.snapshotStatus, [{ peer: 2n, ok: false }]);
  await eventually(() => receiverError !== '', 'receiver saw the abort');
  assert.not.ok(b.received.some((x) => x.type === MessageType.Snap));
});

it('a second snapshot to the same peer while one is in flight fails at once', async () => {
  const a = await member(1n);
  const b = await member(2n);
  meshUp([a, b]);
  let release: () => void = () => undefined;
  b.receiveSnapshot = async (_m, state) => {
    for await (const _c of state) {
      // store
    }
    await new Promise<void>((r) => (release = r));
  };
  a.transport.sendSnapshot(snapMessage(1n, 2n, 7), () => chunks(1024, 1024, 1));
  a.transport.sendSnapshot(snapMessage(1n, 2n, 8), () => chunks(1024, 1024, 1));
  await eventually(() => a.snapshotStatus.length === 1, 'second refused');
  assert.equal(a.snapshotStatus, [{ peer: 2n, ok: false }]);
  await eventually(() => b.logs.some((l) => l.msg === 'receiving database snapshot'), 'first arrives');
  release();
  await eventually(() => a.snapshotStatus.length === 2, 'first finishes');
  assert.equal(a.snapshotStatus[1], { peer: 2n, ok: true });
});

// --- /members -------------------------------------------------------------------------------------

it('fetchMembersFromPeers reads GET /members from the first peer URL that answers', async () => {
  const b = await member(2n);
  const deadPort = await freePort();
  const members = await fetchMembersFromPeers([`http://${loopbackHost}:${deadPort}`, b.url], 2_000);
  assert.equal(members, { members: [{ id: '2', peerURLs: [b.url] }] });
  try {
    await fetchMembersFromPeers([`http://${loopbackHost}:${deadPort}`], 1_000);
    assert.unreachable('should fail');
  } catch (err) {
    assert.instance(err, MembersFetchError);
    assert.is((err as MembersFetchError).failures.length, 1);
  }
});

test.after(closeAll);
test.run();
