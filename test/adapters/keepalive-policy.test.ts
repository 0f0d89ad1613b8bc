// etcd's keepalive enforcement as grpc-go applies it (keepalive-policy.ts), step by step on a clock.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KeepalivePolicy, idlePingMinTimeMs } from '../../src/adapters/grpc/keepalive-policy.js';

const t = suite('keepalive policy');
const minTimeMs = 5_000;

t('on a connection with streams, pings 5 s apart are fine forever', () => {
  const p = new KeepalivePolicy(minTimeMs);
  p.streamOpened();
  for (let i = 0; i < 100; i++) assert.is(p.ping(i * minTimeMs), 'ok');
});

t('with streams, the third ping sooner than 5 s after the previous one is one too many', () => {
  const p = new KeepalivePolicy(minTimeMs);
  p.streamOpened();
  assert.is(p.ping(0), 'ok');
  assert.is(p.ping(1000), 'ok'); // strike 1
  assert.is(p.ping(2000), 'ok'); // strike 2
  assert.is(p.ping(3000), 'tooManyPings');
});

t('without streams, pings less than 2 h apart are strikes', () => {
  const p = new KeepalivePolicy(minTimeMs);
  assert.is(p.ping(0), 'ok');
  assert.is(p.ping(minTimeMs * 10), 'ok');
  assert.is(p.ping(minTimeMs * 20), 'ok');
  assert.is(p.ping(minTimeMs * 30), 'tooManyPings');
  const q = new KeepalivePolicy(minTimeMs);
  for (let i = 0; i < 5; i++) assert.is(q.ping(i * idlePingMinTimeMs), 'ok');
});

t('pings while data flows are never strikes (grpc-go clients answer data with BDP pings)', () => {
  const p = new KeepalivePolicy(minTimeMs);
  p.streamOpened();
  for (let i = 0; i < 1000; i++) {
    const wrote = i % 10 === 0; // one write, answered with many pings
    if (wrote) p.responded();
    assert.is(p.ping(i), wrote ? 'dataFlowing' : 'ok');
  }
});

t('pings while a write is still leaving are never strikes, however long it takes (a large answer to a slow reader)', () => {
  const p = new KeepalivePolicy(minTimeMs);
  p.streamOpened();
  p.responded();
  p.writeStarted();
  for (let i = 0; i < 100; i++) assert.is(p.ping(i * 1000), 'dataFlowing');
  p.writeFinished();
  assert.is(p.ping(100_000), 'ok'); // data left 1 s ago
});

t('strikes count again once no data was written or left for min-time', () => {
  const p = new KeepalivePolicy(minTimeMs);
  p.streamOpened();
  p.responded();
  p.writeStarted();
  p.writeFinished();
  assert.is(p.ping(0), 'dataFlowing');
  assert.is(p.ping(1000), 'ok'); // data flowed 1 s ago
  assert.is(p.ping(minTimeMs + 1), 'ok'); // strike 1
  assert.is(p.ping(minTimeMs + 2), 'ok'); // strike 2
  assert.is(p.ping(minTimeMs + 3), 'tooManyPings');
});

t('streams closing bring back the idle rule', () => {
  const p = new KeepalivePolicy(minTimeMs);
  p.streamOpened();
  p.streamClosed();
  assert.is(p.ping(0), 'ok');
  assert.is(p.ping(minTimeMs), 'ok');
  assert.is(p.ping(2 * minTimeMs), 'ok');
  assert.is(p.ping(3 * minTimeMs), 'tooManyPings');
});

t.run();
