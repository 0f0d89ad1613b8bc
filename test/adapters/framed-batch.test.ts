// A streaming call's tick of answers, framed into pooled slabs: every message comes out whole and in
// order across slab boundaries, large messages get a buffer of their own, small batches are copied
// out so they pin no slab, and a slab goes back to the pool once, only when released.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FramedBatch } from '../../src/adapters/grpc/framed-batch.js';
import { EncodedMessage } from '../../src/adapters/grpc/grpc-wire.js';
import { Slab, slabBytes } from '../../src/adapters/slab-pool.js';

const t = suite('framed batch and slab pool');

/** Splits framed bytes back into message payloads (5-byte prefix: flag 0, big-endian length). */
function unframe(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    assert.is(bytes[at], 0);
    const n = bytes.readUInt32BE(at + 1);
    out.push(bytes.subarray(at + 5, at + 5 + n));
    at += 5 + n;
  }
  return out;
}

const payload = (i: number, size: number): Buffer => Buffer.alloc(size, i % 251);

t('messages across several slabs come out whole and in order', () => {
  const batch = new FramedBatch();
  const sizes = Array.from({ length: 400 }, (_, i) => 200 + ((i * 7919) % 3000));
  sizes.forEach((size, i) => batch.add(new EncodedMessage(payload(i, size))));
  const total = sizes.reduce((n, s) => n + 5 + s, 0);
  assert.is(batch.bytes, total);
  const chunks = batch.take();
  assert.ok(chunks.length > 1, 'more than one slab');
  assert.is(batch.bytes, 0);
  const messages = unframe(Buffer.concat(chunks.map((c) => c.bytes)));
  assert.equal(messages, sizes.map((size, i) => payload(i, size)));
  for (const c of chunks) c.release();
});

t('a message larger than a slab gets a buffer of its own, between slab chunks', () => {
  const batch = new FramedBatch();
  batch.add(new EncodedMessage(payload(1, 30_000)));
  batch.add(new EncodedMessage(payload(2, slabBytes * 2)));
  batch.add(new EncodedMessage(payload(3, 40_000)));
  const chunks = batch.take();
  assert.equal(unframe(Buffer.concat(chunks.map((c) => c.bytes))), [payload(1, 30_000), payload(2, slabBytes * 2), payload(3, 40_000)]);
  assert.ok(chunks.some((c) => c.bytes.length === 5 + slabBytes * 2));
  for (const c of chunks) c.release();
});

t('a small batch is copied out: the slab it was framed in is free at once', () => {
  const batch = new FramedBatch();
  batch.add(new EncodedMessage(Buffer.from('small')));
  const [chunk] = batch.take();
  assert.equal(unframe(chunk!.bytes), [Buffer.from('small')]);
  // the next slab taken reuses the one the copy came from, and writing it leaves the copy alone
  const slab = Slab.take();
  slab.buf.fill(0xff);
  assert.equal(unframe(chunk!.bytes), [Buffer.from('small')]);
  slab.release();
});

t('a released slab is taken again; a second release does not hand it out twice', () => {
  const a = Slab.take();
  a.release();
  a.release();
  const b = Slab.take();
  const c = Slab.take();
  assert.is(b, a);
  assert.is.not(c, a);
  b.release();
  c.release();
});

t('an unreleased slab is never handed out again', () => {
  const held = Slab.take();
  for (let i = 0; i < 10; i++) {
    const s = Slab.take();
    assert.is.not(s, held);
    s.release();
  }
  held.release();
});

t('clear releases what was framed', () => {
  const batch = new FramedBatch();
  batch.add(new EncodedMessage(payload(1, 40_000)));
  const [first] = batch.take();
  first!.release();
  // framed into the slab just released (the pool hands out the last one back first), then dropped
  batch.add(new EncodedMessage(payload(2, 40_000)));
  batch.clear();
  assert.is(batch.bytes, 0);
  assert.equal(batch.take(), []);
  const s = Slab.take();
  assert.is(s.buf.buffer, first!.bytes.buffer);
  s.release();
});

t.run();
