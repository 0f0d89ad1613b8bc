// The handshake checks (src/peer/peer-protocol.ts) and the bounded send queue
// (src/peer/outbound-queue.ts), without sockets.
// Run: npx tsc -p tsconfig.json; node dist/test/peer/peer-protocol.test.js
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkHandshake, handshakeHeaders, peerHeaders, refusalText, type HandshakeContext } from '../../src/peer/peer-protocol.js';
import { OutboundQueue } from '../../src/peer/outbound-queue.js';
import { encodedMessageSize } from '../../src/peer/message-codec.js';
import { heartbeat } from './peer-fixtures.js';

const bigId = 0x8e9e05c52164694dn;
const ctx: HandshakeContext = {
  localId: 2n,
  clusterId: bigId,
  isKnownPeer: (id) => id === 1n || id === 3n,
  isRemoved: (id) => id === 3n,
};
const from1 = handshakeHeaders({ localId: 1n, clusterId: bigId }, 2n);

const handshake = suite('handshake');

handshake('a known peer of the same cluster addressing us is accepted, ids in hex', () => {
  assert.equal(from1[peerHeaders.clusterId], '8e9e05c52164694d');
  assert.equal(checkHandshake(from1, ctx), { ok: true, from: 1n });
});

handshake('a protocol version mismatch is 412 incompatible version, checked first', () => {
  const v = checkHandshake({ ...from1, [peerHeaders.protocolVersion]: '2', [peerHeaders.clusterId]: 'ff' }, ctx);
  assert.ok(!v.ok && v.status === 412 && v.text === refusalText.incompatibleVersion);
});

handshake('another cluster id, or none, is 412 cluster ID mismatch', () => {
  for (const cluster of ['ff', '', 'not-hex', '18e9e05c52164694d']) {
    const v = checkHandshake({ ...from1, [peerHeaders.clusterId]: cluster }, ctx);
    assert.ok(!v.ok && v.status === 412 && v.text === 'cluster ID mismatch', cluster);
  }
});

handshake('a removed sender is 410 even though it is still known', () => {
  const v = checkHandshake(handshakeHeaders({ localId: 3n, clusterId: bigId }, 2n), ctx);
  assert.ok(!v.ok && v.status === 410 && v.text === 'removed member');
});

handshake('an unknown sender is 404 error sender not found; an unparsable one 404 invalid from', () => {
  let v = checkHandshake(handshakeHeaders({ localId: 9n, clusterId: bigId }, 2n), ctx);
  assert.ok(!v.ok && v.status === 404 && v.text === 'error sender not found');
  v = checkHandshake({ ...from1, [peerHeaders.from]: 'zz' }, ctx);
  assert.ok(!v.ok && v.status === 404 && v.text === 'invalid from');
});

handshake('a stream meant for another member is 412 to field mismatch', () => {
  const v = checkHandshake(handshakeHeaders({ localId: 1n, clusterId: bigId }, 5n), ctx);
  assert.ok(!v.ok && v.status === 412 && v.text === 'to field mismatch');
});

const queue = suite('outbound queue');

queue('refuses past its message bound and past its byte bound', () => {
  const hb = heartbeat(1n, 2n, 1);
  const size = encodedMessageSize(hb);
  const byCount = new OutboundQueue({ maxQueuedMessages: 3, maxQueuedBytes: 1 << 20, maxBatchBytes: 1 << 20 });
  assert.equal([1, 2, 3, 4].map(() => byCount.push(hb, size)), [true, true, true, false]);
  const byBytes = new OutboundQueue({ maxQueuedMessages: 100, maxQueuedBytes: 2 * size, maxBatchBytes: 1 << 20 });
  assert.equal([1, 2, 3].map(() => byBytes.push(hb, size)), [true, true, false]);
  assert.is(byBytes.bytes, 2 * size);
});

queue('batches keep order and are cut at maxBatchBytes, a larger message going alone', () => {
  const q = new OutboundQueue({ maxQueuedMessages: 100, maxQueuedBytes: 1 << 20, maxBatchBytes: 100 });
  for (let i = 0; i < 10; i++) q.push(heartbeat(1n, 2n, i), 30);
  q.push(heartbeat(1n, 2n, 10), 500);
  q.push(heartbeat(1n, 2n, 11), 30);
  const batches: number[][] = [];
  while (q.length > 0) batches.push(q.takeBatch().messages.map((m) => m.commit));
  assert.equal(batches, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9], [10], [11]]);
  assert.is(q.bytes, 0);
});

handshake.run();
queue.run();
