// The exact-size Range serializer must produce the generated encoder's bytes, for every field shape.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RangeResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { encodeRangeResponse } from '../../src/adapters/grpc/range-response-encoder.js';

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const interesting = [0n, 1n, 127n, 128n, 16383n, 16384n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, -1n, -(2n ** 63n)];

test('encodes the same bytes as the generated encoder for random responses', () => {
  const rnd = random(7);
  const pick = (): bigint => (rnd() < 0.5 ? interesting[Math.floor(rnd() * interesting.length)]! : BigInt(Math.floor(rnd() * 1e6)));
  // uint64 fields (cluster, member, term) are never negative; int64 ones may be.
  const pickUnsigned = (): bigint => (rnd() < 0.1 ? 2n ** 64n - 1n : BigInt.asUintN(64, pick() < 0n ? 0n : pick()));
  const bytes = (max: number): Buffer => Buffer.from(Array.from({ length: Math.floor(rnd() * max) }, () => Math.floor(rnd() * 256)));
  for (let i = 0; i < 500; i++) {
    const res = RangeResponse.create({
      header: rnd() < 0.9 ? { clusterId: pickUnsigned(), memberId: pickUnsigned(), revision: pick(), raftTerm: pickUnsigned() } : undefined,
      kvs: Array.from({ length: Math.floor(rnd() * 5) }, () => ({
        key: bytes(300),
        value: bytes(rnd() < 0.1 ? 70_000 : 200),
        createRevision: pick(),
        modRevision: pick(),
        version: pick(),
        lease: pick(),
      })),
      more: rnd() < 0.5,
      count: pick(),
    });
    const expected = Buffer.from(RangeResponse.encode(res).finish());
    assert.equal(encodeRangeResponse(res), expected, `response ${i} differs`);
  }
});

test('an empty response with no header encodes to nothing', () => {
  assert.is(encodeRangeResponse(RangeResponse.create({})).length, 0);
});

test.run();
