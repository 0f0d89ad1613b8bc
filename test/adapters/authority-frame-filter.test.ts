// The frame-level half of the HTTP/2 :authority shim: which bytes pass untouched, how a HEADERS
// sequence with a bad :authority is rebuilt, and the bounds. Pure, no sockets.
// Run: npx tsc -p tsconfig.json; node dist/test/adapters/authority-frame-filter.test.js
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AuthorityFrameFilter,
  defaultMaxHeaderSequenceBytes,
  http2ClientPreface,
  rebuiltFramePayloadBytes,
} from '../../src/adapters/http2/authority-frame-filter.js';
import { block, frame, frameFlag, frameType, headersFrames, hpack, parseFrames, throwsKind } from './hpack-test-encoder.js';

const settings = frame(frameType.settings, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]));
const windowUpdate = frame(0x8, 0, 0, Buffer.from([0, 1, 0, 0]));
const ping = frame(frameType.ping, 0, 0, Buffer.alloc(8, 7));
const data = (streamId: number, bytes: number): Buffer =>
  frame(frameType.data, frameFlag.endStream, streamId, Buffer.alloc(bytes, streamId));

const request = (authority: number[], ...extra: number[][]): Buffer =>
  block(hpack.indexed(3), hpack.indexed(6), hpack.literal('incremental', 4, '/etcdserverpb.KV/Range', { huffmanValue: true }), authority, ...extra);

const bad = 'http://127.0.0.1:2379';
const fixed = 'http:__127.0.0.1:2379';

/** A connection's worth of client bytes: valid and bad authorities, padding, priority, CONTINUATION. */
const mixedStream = (): Buffer =>
  Buffer.concat([
    http2ClientPreface,
    settings,
    windowUpdate,
    headersFrames(1, request(hpack.literal('incremental', 1, '127.0.0.1:2379', { huffmanValue: true }))),
    data(1, 40),
    headersFrames(3, request(hpack.literal('incremental', 1, bad, { huffmanValue: true }))),
    data(3, 300),
    ping,
    headersFrames(5, request(hpack.indexed(62)), { endStream: true }),
    headersFrames(7, request(hpack.literal('without', 1, bad)), { padding: 7, priority: Buffer.from([0, 0, 0, 3, 15]) }),
    data(7, 16_384),
    headersFrames(9, request(hpack.literal('never', ':authority', bad, { huffmanName: true, huffmanValue: true })), { split: [3, 10, 0] }),
    headersFrames(11, request(hpack.indexed(63)), { split: [2] }),
    data(11, 1),
  ]);

const filterAll = (chunks: Buffer[]): Buffer => {
  const filter = new AuthorityFrameFilter();
  return Buffer.concat(chunks.flatMap((c) => filter.push(c)));
};

/** Deterministic pseudo-random chunk sizes (xorshift), so a failure can be replayed from the seed. */
function randomSplit(bytes: Buffer, seed: number, maxChunk: number): Buffer[] {
  let x = seed || 1;
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const n = 1 + ((x >>> 0) % maxChunk);
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}


const pass = suite('frames that pass untouched');

pass('a chunk without a bad :authority comes back as the same buffer', () => {
  const chunk = Buffer.concat([
    http2ClientPreface,
    settings,
    headersFrames(1, request(hpack.literal('incremental', 1, '127.0.0.1:2379'))),
    data(1, 16_384),
    ping,
    headersFrames(3, request(hpack.indexed(62)), { split: [4], padding: 2, priority: Buffer.alloc(5) }),
  ]);
  const out = new AuthorityFrameFilter().push(chunk);
  assert.is(out.length, 1);
  assert.ok(out[0] === chunk, 'the very chunk, not a copy');
});

pass('DATA split across chunks is passed as views of each chunk', () => {
  const bytes = Buffer.concat([http2ClientPreface, data(1, 1000)]);
  const filter = new AuthorityFrameFilter();
  const chunks = [bytes.subarray(0, 40), bytes.subarray(40, 500), bytes.subarray(500)];
  for (const chunk of chunks) {
    const out = filter.push(chunk);
    assert.is(out.length, 1);
    assert.is(out[0]!.buffer, chunk.buffer);
  }
});

pass('a frame header split across chunks is held back until complete, then passed with the rest', () => {
  const bytes = Buffer.concat([http2ClientPreface, data(1, 100)]);
  const filter = new AuthorityFrameFilter();
  assert.equal(filter.push(bytes.subarray(0, 28)), [http2ClientPreface]);
  const out = filter.push(bytes.subarray(28));
  assert.equal(out.map((b) => b.length), [9, 100]);
  assert.equal(Buffer.concat(out), bytes.subarray(24));
});

pass('the preface may arrive in pieces and must be the HTTP/2 client preface', () => {
  const filter = new AuthorityFrameFilter();
  assert.equal(Buffer.concat([...filter.push(http2ClientPreface.subarray(0, 5)), ...filter.push(http2ClientPreface.subarray(5))]), http2ClientPreface);
  throwsKind(() => new AuthorityFrameFilter().push(Buffer.from('GET / HTTP/1.1\r\n\r\n')), 'frame', /preface/);
});

pass.run();

const rebuild = suite('HEADERS with a bad :authority');

rebuild('are rebuilt as one unpadded HEADERS frame, keeping END_STREAM and PRIORITY', () => {
  const priority = Buffer.from([0x80, 0, 0, 1, 200]);
  const headerBlock = request(hpack.literal('without', 1, bad, { huffmanValue: true }));
  const input = Buffer.concat([http2ClientPreface, headersFrames(5, headerBlock, { endStream: true, padding: 9, priority, split: [5, 5] })]);
  const frames = parseFrames(filterAll([input]).subarray(http2ClientPreface.length));
  assert.is(frames.length, 1);
  const [f] = frames;
  assert.is(f!.type, frameType.headers);
  assert.is(f!.streamId, 5);
  assert.is(f!.flags, frameFlag.endStream | frameFlag.endHeaders | frameFlag.priority);
  assert.equal(f!.payload.subarray(0, 5), priority);
  assert.equal(f!.payload.subarray(5), request(hpack.literal('without', 1, fixed)));
});

rebuild('frames around the rebuilt one are kept byte for byte', () => {
  const input = mixedStream();
  const output = filterAll([input]);
  const inFrames = parseFrames(input.subarray(http2ClientPreface.length));
  const outFrames = parseFrames(output.subarray(http2ClientPreface.length));
  const kept = (frames: typeof inFrames) =>
    frames.filter((f) => f.type !== frameType.headers && f.type !== frameType.continuation).map((f) => [f.type, f.flags, f.streamId, f.payload.toString('hex')]);
  assert.equal(kept(outFrames), kept(inFrames));
  const headerBlocks = outFrames.filter((f) => f.type === frameType.headers);
  assert.equal(headerBlocks.map((f) => f.streamId), [1, 3, 5, 7, 9, 11]);
  const authorities = outFrames.flatMap((f) => (f.payload.includes(Buffer.from(fixed)) ? [f.streamId] : []));
  assert.equal(authorities, [3, 7, 9]);
  assert.not.ok(output.includes(Buffer.from(bad)), 'no raw bad authority left');
});

rebuild('any split of the input into chunks gives the same output', () => {
  const input = mixedStream();
  const expected = filterAll([input]);
  for (let cut = 0; cut <= input.length; cut++) {
    const got = filterAll([input.subarray(0, cut), input.subarray(cut)]);
    if (!got.equals(expected)) assert.unreachable(`split at ${cut} differs`);
  }
  for (let seed = 1; seed <= 200; seed++) {
    const got = filterAll(randomSplit(input, seed, seed % 2 === 0 ? 12 : 700));
    if (!got.equals(expected)) assert.unreachable(`random split with seed ${seed} differs`);
  }
  assert.equal(filterAll([...input].map((b) => Buffer.from([b]))), expected, 'one byte at a time');
});

rebuild(`a rebuilt block over ${rebuiltFramePayloadBytes} octets is split into CONTINUATION frames`, () => {
  const big = 'v'.repeat(40_000);
  const headerBlock = request(hpack.literal('never', 1, bad), hpack.literal('without', 'x-big', big));
  const input = Buffer.concat([http2ClientPreface, headersFrames(1, headerBlock, { split: [16_000, 16_000], priority: Buffer.alloc(5) })]);
  const frames = parseFrames(filterAll([input]).subarray(http2ClientPreface.length));
  assert.equal(frames.map((f) => f.type), [frameType.headers, frameType.continuation, frameType.continuation]);
  assert.equal(frames.map((f) => f.flags), [frameFlag.priority, 0, frameFlag.endHeaders]);
  assert.ok(frames.every((f) => f.payload.length <= rebuiltFramePayloadBytes && f.streamId === 1));
  const rebuilt = Buffer.concat([frames[0]!.payload.subarray(5), ...frames.slice(1).map((f) => f.payload)]);
  assert.equal(rebuilt, request(hpack.literal('never', 1, fixed), hpack.literal('without', 'x-big', big)));
});

rebuild.run();

const bounds = suite('bounds and malformed input');

bounds(`a header sequence over ${defaultMaxHeaderSequenceBytes} octets is refused as soon as its frame header says so`, () => {
  const filter = new AuthorityFrameFilter();
  filter.push(http2ClientPreface);
  const header = frame(frameType.headers, 0, 1, Buffer.alloc(16_000)).subarray(0, 9);
  throwsKind(() => {
    for (let i = 0; i < 5; i++) {
      filter.push(header);
      filter.push(Buffer.alloc(16_000));
      header[3] = frameType.continuation;
    }
  }, 'too-large');
});

bounds('the bound is configurable', () => {
  const filter = new AuthorityFrameFilter({ maxHeaderSequenceBytes: 100 });
  throwsKind(() => filter.push(Buffer.concat([http2ClientPreface, headersFrames(1, Buffer.alloc(92, 0x82))])), 'too-large');
  const ok = new AuthorityFrameFilter({ maxHeaderSequenceBytes: 100 });
  ok.push(Buffer.concat([http2ClientPreface, headersFrames(1, Buffer.alloc(91, 0x82))]));
});

bounds('CONTINUATION without HEADERS, or another frame inside a header sequence, is a frame error', () => {
  throwsKind(() => filterAll([http2ClientPreface, frame(frameType.continuation, frameFlag.endHeaders, 1, Buffer.from([0x82]))]), 'frame', /without HEADERS/);
  const open = frame(frameType.headers, 0, 1, Buffer.from([0x82]));
  throwsKind(() => filterAll([http2ClientPreface, open, data(1, 1)]), 'frame', /CONTINUATION/);
  throwsKind(() => filterAll([http2ClientPreface, open, frame(frameType.continuation, frameFlag.endHeaders, 3, Buffer.from([0x82]))]), 'frame', /same stream/);
});

bounds('padding longer than the frame, or a frame too short for its priority, is a frame error', () => {
  const padded = frame(frameType.headers, frameFlag.endHeaders | frameFlag.padded, 1, Buffer.from([5, 0x82, 0, 0]));
  throwsKind(() => filterAll([http2ClientPreface, padded]), 'frame', /padding/);
  const noPadLength = frame(frameType.headers, frameFlag.endHeaders | frameFlag.padded, 1);
  throwsKind(() => filterAll([http2ClientPreface, noPadLength]), 'frame', /pad length/);
  const shortPriority = frame(frameType.headers, frameFlag.endHeaders | frameFlag.priority, 1, Buffer.from([0, 0, 0]));
  throwsKind(() => filterAll([http2ClientPreface, shortPriority]), 'frame', /priority/);
});

bounds('a header block that is not HPACK is an hpack error', () => {
  throwsKind(() => filterAll([http2ClientPreface, headersFrames(1, block(hpack.indexed(70)))]), 'hpack');
});

bounds.run();

const preface = suite('taking out the ACK of a server preface sent ahead of the server');

const settingsAck = frame(frameType.settings, frameFlag.ack, 0);
/** A client's bytes with the ACK of the server preface in the middle of a request body, and one more ACK later. */
const withAcks = (): { sent: Buffer; expected: Buffer } => {
  const before = Buffer.concat([http2ClientPreface, settings, headersFrames(1, request(hpack.literal('without', 1, '127.0.0.1:2379'))), data(1, 300)]);
  const after = Buffer.concat([data(1, 20), ping, settingsAck, headersFrames(3, request(hpack.indexed(62)), { endStream: true })]);
  return { sent: Buffer.concat([before, settingsAck, after]), expected: Buffer.concat([before, after]) };
};

preface('the first SETTINGS ACK is taken out and every later one passes, however the bytes are split', () => {
  const { sent, expected } = withAcks();
  for (let seed = 1; seed <= 300; seed++) {
    const filter = new AuthorityFrameFilter({ serverPrefaceSent: true });
    const out = Buffer.concat(randomSplit(sent, seed, 40).flatMap((c) => filter.push(c)));
    assert.ok(out.equals(expected), `seed ${seed}`);
    assert.ok(filter.prefaceAckTaken, `seed ${seed}`);
  }
});

preface('without a server preface sent ahead every ACK passes', () => {
  const { sent } = withAcks();
  const filter = new AuthorityFrameFilter();
  assert.ok(Buffer.concat(filter.push(sent)).equals(sent));
  assert.ok(filter.prefaceAckTaken);
});

preface('an ACK carrying a payload is not taken for the preface ACK: it passes, for the server to refuse', () => {
  const malformed = frame(frameType.settings, frameFlag.ack, 0, Buffer.from([0, 3, 0, 0, 0, 1]));
  const sent = Buffer.concat([http2ClientPreface, malformed, settingsAck]);
  const filter = new AuthorityFrameFilter({ serverPrefaceSent: true });
  assert.ok(Buffer.concat(filter.push(sent)).equals(Buffer.concat([http2ClientPreface, malformed])));
});

preface('the ACK is owed until it comes; a header sequence cut short is held back as read', () => {
  const filter = new AuthorityFrameFilter({ serverPrefaceSent: true });
  const headers = headersFrames(1, request(hpack.literal('without', 1, '127.0.0.1:2379')));
  const out = filter.push(Buffer.concat([http2ClientPreface, settings, headers.subarray(0, 15)]));
  assert.not.ok(filter.prefaceAckTaken);
  assert.ok(Buffer.concat(out).equals(Buffer.concat([http2ClientPreface, settings])));
  assert.ok(filter.heldBack?.equals(headers.subarray(0, 15)));
});

preface('PINGs are counted (each waits for the server\'s answer), PING ACKs are not', () => {
  const pingAck = frame(frameType.ping, frameFlag.ack, 0, Buffer.alloc(8));
  const sent = Buffer.concat([http2ClientPreface, settings, ping, pingAck, ping]);
  for (let seed = 1; seed <= 50; seed++) {
    const filter = new AuthorityFrameFilter({ serverPrefaceSent: true });
    const out = Buffer.concat(randomSplit(sent, seed, 7).flatMap((c) => filter.push(c)));
    assert.ok(out.equals(sent), `seed ${seed}`);
    assert.is(filter.pings, 2, `seed ${seed}`);
  }
});

preface.run();
