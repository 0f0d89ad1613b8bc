// The hand-written PutRequest decoder (put-request-decoder.ts) against ts-proto's generated one: the
// same request for every encoding a client makes, and the same request or the same error for
// non-canonical and malformed bytes (those it hands to the generated decoder).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodePutRequest } from '../../src/adapters/grpc/put-request-decoder.js';
import { PutRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { seededRandom } from '../helpers/seeded-random.js';

const s = suite('PutRequest decoder against the generated one');

type Outcome = { ok: true; req: PutRequest } | { ok: false; error: string };
const outcome = (decode: () => PutRequest): Outcome => {
  try {
    return { ok: true, req: decode() };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
};
const same = (bytes: Buffer, what: string): void => {
  assert.equal(outcome(() => decodePutRequest(bytes)), outcome(() => PutRequest.decode(bytes)), `${what}: ${bytes.toString('hex')}`);
};

const leases = [0n, 1n, 127n, 128n, 2n ** 31n, 2n ** 48n - 1n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 53n + 1n, 2n ** 63n - 1n, -1n, -(2n ** 63n), 7587870315340000000n];

s('every request a client encodes decodes to the same fields', () => {
  const random = seededRandom(20261207);
  const bytesOf = (max: number): Buffer => Buffer.from(Array.from({ length: Math.floor(random() * max) }, () => Math.floor(random() * 256)));
  for (let i = 0; i < 5000; i++) {
    const req = PutRequest.fromPartial({
      key: bytesOf(i % 10 === 0 ? 300 : 20),
      value: bytesOf(i % 7 === 0 ? 20_000 : 200),
      lease: leases[i % leases.length],
      prevKv: random() < 0.5,
      ignoreValue: random() < 0.2,
      ignoreLease: random() < 0.2,
    });
    const bytes = Buffer.from(PutRequest.encode(req).finish());
    assert.equal(decodePutRequest(bytes), req, `request ${i}`);
    same(bytes, `request ${i}`);
  }
});

s('non-canonical and malformed bytes decode, or fail, as the generated decoder has them', () => {
  const cases: [string, number[]][] = [
    ['empty', []],
    ['fields out of order, repeated', [0x12, 1, 0x76, 0x0a, 1, 0x6b, 0x0a, 2, 0x6b, 0x32, 0x20, 1]],
    ['an empty key field', [0x0a, 0]],
    ['bool as 2', [0x20, 2]],
    ['bool as a long varint', [0x20, 0x81, 0x00]],
    ['unknown field', [0x0a, 1, 0x6b, 0x38, 5]],
    ['known field, other wire type', [0x08, 1]],
    ['truncated length', [0x0a, 5, 0x6b]],
    ['truncated varint', [0x18, 0x80]],
    ['tag 0', [0x00]],
    ['group end', [0x0c]],
    ['a length past 2^28', [0x0a, 0x80, 0x80, 0x80, 0x80, 0x01]],
    ['lease of 8 bytes', [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]],
    ['bool field ends the message', [0x20]],
  ];
  for (const [what, bytes] of cases) same(Buffer.from(bytes), what);
  const random = seededRandom(7);
  for (let i = 0; i < 20_000; i++) {
    const junk = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 12) }, () => (random() < 0.5 ? [0x0a, 0x12, 0x18, 0x20, 0x28, 0x30][Math.floor(random() * 6)]! : Math.floor(random() * 256))));
    same(junk, `junk ${i}`);
  }
});

s.run();
