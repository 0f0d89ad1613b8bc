// A streaming call's tick of answers, framed into buffers that grow with it: every message comes out
// whole and in order, large messages get a buffer of their own, small batches take no pooled slab,
// a slab mostly empty is copied out so it pins nothing, and a slab goes back to its pool once, only
// when released.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FramedBatch } from '../../src/adapters/grpc/framed-batch.js';
import { EncodedMessage, eachFramedMessage, type FramedMessages } from '../../src/adapters/grpc/grpc-wire.js';
import { largeSlabs } from '../../src/adapters/slab-pool.js';

const t = suite('framed batch and slab pools');

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
const outstanding = (): number => largeSlabs.outstanding;

t('messages across several buffers come out whole and in order; released, no slab is left out', () => {
  const before = outstanding();
  const batch = new FramedBatch();
  const sizes = Array.from({ length: 400 }, (_, i) => 200 + ((i * 7919) % 3000));
  sizes.forEach((size, i) => batch.add(new EncodedMessage(payload(i, size))));
  const total = sizes.reduce((n, s) => n + 5 + s, 0);
  assert.is(batch.bytes, total);
  const chunks = batch.take();
  assert.ok(chunks.length > 1, 'more than one buffer');
  assert.is(batch.bytes, 0);
  assert.equal(unframe(Buffer.concat(chunks.map((c) => c.bytes))), sizes.map((size, i) => payload(i, size)));
  for (const c of chunks) c.release();
  assert.is(outstanding(), before);
});

t('a batch that grows through the sizes stays one chunk', () => {
  const batch = new FramedBatch();
  const sizes = [100, 600, 3000, 9000, 20000, 25000];
  sizes.forEach((size, i) => batch.add(new EncodedMessage(payload(i, size))));
  const chunks = batch.take();
  assert.is(chunks.length, 1);
  assert.equal(unframe(chunks[0]!.bytes), sizes.map((size, i) => payload(i, size)));
  chunks[0]!.release();
});

t('a message larger than a slab gets a buffer of its own, between slab chunks', () => {
  const batch = new FramedBatch();
  const big = largeSlabs.slabBytes * 2;
  batch.add(new EncodedMessage(payload(1, 30_000)));
  batch.add(new EncodedMessage(payload(2, big)));
  batch.add(new EncodedMessage(payload(3, 40_000)));
  const chunks = batch.take();
  assert.equal(unframe(Buffer.concat(chunks.map((c) => c.bytes))), [payload(1, 30_000), payload(2, big), payload(3, 40_000)]);
  assert.ok(chunks.some((c) => c.bytes.length === 5 + big));
  for (const c of chunks) c.release();
});

t('5,000 streams with a few small answers each in a tick take no slab', () => {
  const before = outstanding();
  const batches = Array.from({ length: 5000 }, () => new FramedBatch());
  for (let round = 0; round < 2; round++) {
    for (const b of batches) for (let i = 0; i < 8; i++) b.add(new EncodedMessage(payload(i, 200)));
    assert.is(outstanding(), before);
    for (const b of batches) assert.equal(unframe(b.take()[0]!.bytes), Array.from({ length: 8 }, (_, i) => payload(i, 200)));
  }
});

t('a slab mostly empty is copied out and back in its pool at once', () => {
  const before = outstanding();
  const batch = new FramedBatch();
  // a large batch first, so the next tick starts at a large slab
  batch.add(new EncodedMessage(payload(1, 40_000)));
  for (const c of batch.take()) c.release();
  batch.add(new EncodedMessage(Buffer.from('small')));
  const [chunk] = batch.take();
  assert.is(outstanding(), before);
  // the slab it was framed in is handed out again; writing it leaves the copy alone
  const slab = largeSlabs.take();
  slab.buf.fill(0xff);
  assert.equal(unframe(chunk!.bytes), [Buffer.from('small')]);
  slab.release();
});

t('a released slab is taken again; a second release does not hand it out twice', () => {
  const a = largeSlabs.take();
  a.release();
  a.release();
  const b = largeSlabs.take();
  const c = largeSlabs.take();
  assert.is(b, a);
  assert.is.not(c, a);
  b.release();
  c.release();
});

t('an unreleased slab is never handed out again', () => {
  const held = largeSlabs.take();
  for (let i = 0; i < 10; i++) {
    const s = largeSlabs.take();
    assert.is.not(s, held);
    s.release();
  }
  held.release();
});

t('clear releases what was framed', () => {
  const before = outstanding();
  const batch = new FramedBatch();
  batch.add(new EncodedMessage(payload(1, 40_000)));
  assert.is(outstanding(), before + 1);
  batch.clear();
  assert.is(batch.bytes, 0);
  assert.equal(batch.take(), []);
  assert.is(outstanding(), before);
});

/** A run of already-encoded messages, as the watch encoder's runs write themselves. */
function runOf(payloads: Buffer[]): FramedMessages {
  return {
    count: payloads.length,
    framedSize: payloads.reduce((n, p) => n + 5 + p.length, 0),
    writeFramed(buf: Buffer, at: number): void {
      for (const p of payloads) {
        buf[at] = 0;
        buf.writeUInt32BE(p.length, at + 1);
        buf.set(p, at + 5);
        at += 5 + p.length;
      }
    },
  };
}

t('runs and single messages mixed come out whole and in order, runs in pooled slabs', () => {
  const before = outstanding();
  const batch = new FramedBatch();
  const expected: Buffer[] = [];
  for (let i = 0; i < 60; i++) {
    if (i % 3 === 0) {
      const one = payload(i, 100 + i);
      batch.add(new EncodedMessage(one));
      expected.push(one);
    } else {
      const run = Array.from({ length: 1 + (i % 7) }, (_, k) => payload(i * 10 + k, 300 + ((i * 31 + k) % 900)));
      batch.addFramed(runOf(run));
      expected.push(...run);
    }
  }
  assert.is(batch.bytes, expected.reduce((n, p) => n + 5 + p.length, 0));
  const chunks = batch.take();
  assert.equal(unframe(Buffer.concat(chunks.map((c) => c.bytes))), expected);
  assert.ok(outstanding() > before, 'a batch this size is in slabs');
  for (const c of chunks) c.release();
  assert.is(outstanding(), before);
});

t('eachFramedMessage hands out every message of a run, unframed', () => {
  const payloads = [payload(1, 0), payload(2, 7), payload(3, 70_000)];
  const got: Buffer[] = [];
  eachFramedMessage(runOf(payloads), (bytes) => got.push(Buffer.from(bytes)));
  assert.equal(got, payloads);
});

t.run();
