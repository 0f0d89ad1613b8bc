// The peer message codec (src/peer/message-codec.ts) and the frame reader (src/peer/frame-reader.ts):
// exact round trips, and malformed input of every kind coming back as an error value, never a throw.
// Run: npx tsc -p tsconfig.json; node dist/test/peer/message-codec.test.js
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EntryType, MessageType, type Message } from '../../src/raft/types.js';
import {
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodedBatchSize,
  encodedMessageSize,
  encodeMessage,
} from '../../src/peer/message-codec.js';
import { FrameReader, writeFrameHeader } from '../../src/peer/frame-reader.js';
import { message, seededRandom } from './peer-fixtures.js';

const maxId = (1n << 64n) - 1n;

const samples: Message[] = [
  message({ type: MessageType.Heartbeat, to: 2n, from: 1n, term: 3, commit: 9 }),
  message({
    type: MessageType.App,
    to: maxId,
    from: 0x8e9e05c52164694dn,
    term: 2 ** 40,
    logTerm: 7,
    index: Number.MAX_SAFE_INTEGER,
    commit: 12,
    entries: [
      { term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(0) },
      { term: 2, index: 2, type: EntryType.ConfChange, data: new Uint8Array([1, 2, 3]) },
      { term: 2, index: 3, type: EntryType.Normal, data: new Uint8Array(70_000).fill(0xab) },
    ],
  }),
  message({ type: MessageType.AppResp, to: 1n, from: 2n, reject: true, rejectHint: 44, index: 45 }),
  message({ type: MessageType.ReadIndex, to: 1n, from: 3n, context: new Uint8Array([9, 8, 7]) }),
  message({
    type: MessageType.Snap,
    to: 3n,
    from: 1n,
    term: 5,
    snapshot: {
      metadata: { index: 1000, term: 4, confState: { voters: [1n, 2n, maxId], learners: [4n] } },
      data: new Uint8Array([42, 43]),
    },
  }),
  message({ type: MessageType.PreVoteResp, to: 1n, from: 2n, term: 0 }),
];

const codec = suite('message codec');

codec('every message round-trips exactly, with encodedMessageSize equal to the encoding length', () => {
  for (const m of samples) {
    const bytes = encodeMessage(m);
    assert.is(bytes.length, encodedMessageSize(m));
    const decoded = decodeMessage(bytes);
    assert.ok(decoded.ok, `decode ${m.type}`);
    if (decoded.ok) assert.equal(decoded.value, m);
  }
});

codec('a heartbeat encodes in a dozen bytes', () => {
  assert.ok(encodeMessage(samples[0] as Message).length <= 14);
});

codec('a batch round-trips in order, and leaves room for a frame header when asked', () => {
  const bytes = encodeBatch(samples, 4);
  assert.is(bytes.length, 4 + encodedBatchSize(samples));
  const decoded = decodeBatch(bytes.subarray(4));
  assert.ok(decoded.ok);
  if (decoded.ok) assert.equal(decoded.value, samples);
  const empty = decodeBatch(encodeBatch([]));
  assert.ok(empty.ok && empty.value.length === 0);
});

codec('every truncation of a valid batch is an error value, never a throw', () => {
  const bytes = encodeBatch(samples.filter((m) => m.type !== MessageType.App));
  for (let n = 0; n < bytes.length; n++) {
    const r = decodeBatch(bytes.subarray(0, n));
    assert.not.ok(r.ok, `prefix of ${n} bytes decoded`);
  }
});

codec('trailing bytes after the last message are refused', () => {
  const bytes = encodeBatch([samples[0] as Message]);
  const longer = new Uint8Array(bytes.length + 1);
  longer.set(bytes);
  const r = decodeBatch(longer);
  assert.ok(!r.ok && r.error.kind === 'trailingBytes');
});

codec('an unknown message type, entry type or flag bit is badEnum', () => {
  const hb = encodeMessage(samples[0] as Message);
  const badType = hb.slice();
  badType[0] = 19;
  let r = decodeMessage(badType);
  assert.ok(!r.ok && r.error.kind === 'badEnum' && r.error.field === 'type');

  const withEntry = encodeMessage(message({ type: MessageType.App, to: 2n, from: 1n, entries: [{ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(0) }] }));
  // the entry's type byte sits just before its (empty) data length at the end
  const badEntry = withEntry.slice();
  badEntry[badEntry.length - 2] = 2;
  r = decodeMessage(badEntry);
  assert.ok(!r.ok && r.error.kind === 'badEnum' && r.error.field === 'entry.type');

  // flags byte of a heartbeat: type, to, from, 5 numbers (term 3, commit 9, others 0: one byte each)
  const badFlags = hb.slice();
  badFlags[8] = 0x80;
  r = decodeMessage(badFlags);
  assert.ok(!r.ok && r.error.kind === 'badEnum' && r.error.field === 'flags');
});

codec('a term beyond 2^53 and an id beyond 2^64 are outOfRange', () => {
  // type, to=1, from=1, then term as a 9-byte varint of 2^56
  const bigTerm = new Uint8Array([MessageType.App, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
  let r = decodeMessage(bigTerm);
  assert.ok(!r.ok && r.error.kind === 'outOfRange' && r.error.field === 'term');
  const bigId = new Uint8Array([MessageType.App, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
  r = decodeMessage(bigId);
  assert.ok(!r.ok && r.error.kind === 'outOfRange' && r.error.field === 'to');
});

codec('a huge declared count or length is refused before anything is allocated', () => {
  // a batch claiming 2^40 messages in 6 bytes
  const r = decodeBatch(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]));
  assert.ok(!r.ok && r.error.kind === 'tooLarge' && r.error.field === 'count');
  // a heartbeat whose context claims 2^35 bytes
  const hb = encodeMessage(samples[0] as Message);
  const head = hb.subarray(0, 9);
  const bogus = new Uint8Array([...head, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0]);
  const m = decodeMessage(bogus);
  assert.ok(!m.ok && m.error.kind === 'tooLarge' && m.error.field === 'context');
  const limited = decodeBatch(encodeBatch(samples), 2);
  assert.ok(!limited.ok && limited.error.kind === 'tooLarge');
});

codec('fuzzed garbage and mutated encodings never throw (seeded)', () => {
  const seed = 0x5eed;
  const random = seededRandom(seed);
  const valid = encodeBatch(samples.filter((m) => m.type !== MessageType.App));
  let decodedSome = 0;
  for (let i = 0; i < 20_000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = new Uint8Array(Math.floor(random() * 200));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    } else {
      bytes = valid.slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    }
    try {
      const r = decodeBatch(bytes);
      if (r.ok) decodedSome++;
      decodeMessage(bytes);
    } catch (err) {
      assert.unreachable(`seed ${seed} iteration ${i}: threw ${String(err)}`);
    }
  }
  // mutations that land in payload bytes still decode: the fuzz reached past the headers
  assert.ok(decodedSome > 0);
});

const frames = suite('frame reader');

const frameOf = (payload: Uint8Array): Uint8Array => {
  const f = new Uint8Array(4 + payload.length);
  writeFrameHeader(f, payload.length);
  f.set(payload, 4);
  return f;
};

frames('frames split at every byte boundary come out whole and in order, heartbeats as empty frames', () => {
  const stream = new Uint8Array([...frameOf(new Uint8Array([1, 2, 3])), ...frameOf(new Uint8Array(0)), ...frameOf(new Uint8Array([4]))]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const reader = new FrameReader(100);
    const a = reader.push(stream.subarray(0, cut));
    const b = reader.push(stream.subarray(cut));
    assert.ok(a.ok && b.ok);
    if (a.ok && b.ok) {
      assert.equal([...a.frames, ...b.frames].map((f) => [...f]), [[1, 2, 3], [], [4]]);
    }
    assert.ok(reader.atFrameBoundary);
  }
});

frames('a length over the limit fails at the header, holding nothing', () => {
  const reader = new FrameReader(10);
  const header = new Uint8Array(4);
  writeFrameHeader(header, 11);
  const r = reader.push(header);
  assert.ok(!r.ok && r.error.kind === 'oversized' && r.error.length === 11);
  assert.is(reader.bufferedBytes, 0);
  assert.not.ok(reader.push(new Uint8Array([0])).ok);
});

frames('a partial frame holds only the bytes that arrived', () => {
  const reader = new FrameReader(1 << 20);
  const header = new Uint8Array(4);
  writeFrameHeader(header, 1 << 20);
  reader.push(header);
  reader.push(new Uint8Array(10));
  assert.is(reader.bufferedBytes, 10);
});

frames('maxFrames stops after the first frame and leaves the rest as the remainder', () => {
  const reader = new FrameReader(100);
  const r = reader.push(new Uint8Array([...frameOf(new Uint8Array([7])), 0xff, 0xff, 0xff, 0xff, 1]), 1);
  assert.ok(r.ok && r.frames.length === 1);
  const rest = reader.drainRemainder();
  assert.equal(rest.map((c) => [...c]), [[0xff, 0xff, 0xff, 0xff, 1]]);
});

codec('member ids on either side of 2^49, 2^53 and 2^64 round-trip as standard LEB128 varints', () => {
  const ids = [0n, 127n, 128n, (1n << 49n) - 1n, 1n << 49n, (1n << 53n) - 1n, 1n << 53n, 0xf693f74fd84ada81n, maxId];
  for (const id of ids) {
    const bytes = encodeMessage(message({ type: MessageType.Heartbeat, to: id, from: 1n }));
    const decoded = decodeMessage(bytes);
    assert.ok(decoded.ok);
    if (decoded.ok) assert.equal(decoded.value.to, id);
    // The id starts right after the type byte: 7 bits per byte, continuation bit on all but the last.
    let expected = id;
    for (let at = 1; ; at++) {
      const group = Number(expected & 0x7fn);
      expected >>= 7n;
      assert.is(bytes[at], expected === 0n ? group : group | 0x80, `id ${id}, byte ${at}`);
      if (expected === 0n) break;
    }
  }
});

codec.run();
frames.run();
