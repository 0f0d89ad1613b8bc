// The hand-written Range response encoder (range-response-encoder.ts, proto-writer.ts: 64-bit numbers
// written as two 32-bit halves) against ts-proto's generated encoder, byte for byte, over the int64
// and uint64 edges and seeded random values; and the gRPC frame around it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeRangeResponse, frameRangeResponse } from '../../src/adapters/grpc/range-response-encoder.js';
import { ExactWriter, varintSize } from '../../src/core/proto-writer.js';
import { PutResponse, RangeResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { framePutResponse } from '../../src/adapters/grpc/put-response-encoder.js';
import { seededRandom } from '../helpers/seeded-random.js';

const s = suite('Range response encoder against the generated one');

const edges = [0n, 1n, 127n, 128n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, -1n, -(2n ** 63n), -128n, -(2n ** 32n)];

function values(count: number, random: () => number): bigint[] {
  const out = [...edges];
  const word = (): bigint => BigInt(Math.floor(random() * 2 ** 32));
  for (let i = 0; i < count; i++) {
    const raw = (word() << 32n) | word();
    const shift = BigInt(Math.floor(random() * 64));
    out.push(random() < 0.5 ? raw >> shift : -(raw >> shift));
  }
  return out;
}

s('every header and key-value number encodes as ts-proto encodes it, framed with the 5-byte gRPC prefix', () => {
  const vals = values(20_000, seededRandom(20261206));
  const u = (x: bigint | undefined): bigint => BigInt.asUintN(64, x ?? 0n);
  const i64 = (x: bigint | undefined): bigint => BigInt.asIntN(64, x ?? 0n);
  let mismatches = 0;
  for (let i = 0; i < vals.length; i += 4) {
    const at = (k: number): bigint | undefined => vals[(i + k) % vals.length];
    const res = RangeResponse.fromPartial({
      header: { clusterId: u(at(0)), memberId: u(at(1)), revision: i64(at(2)), raftTerm: u(at(3)) },
      kvs: [{ key: Buffer.from('k'), createRevision: i64(at(5)), modRevision: i64(at(6)), version: i64(at(7)), value: Buffer.from('v'), lease: i64(at(8)) }],
      more: (i & 4) === 4,
      count: i64(at(9)),
    });
    const expected = Buffer.from(RangeResponse.encode(res).finish());
    const framed = frameRangeResponse(res);
    const same = expected.equals(Buffer.from(encodeRangeResponse(res))) && framed[0] === 0 && framed.readUInt32BE(1) === expected.length && framed.subarray(5).equals(expected);
    if (!same) mismatches++;
  }
  assert.is(mismatches, 0);
});

s('put responses, with and without a previous key-value (an all-zero one too), frame as ts-proto encodes them', () => {
  const vals = values(4_000, seededRandom(1206));
  const u = (x: bigint | undefined): bigint => BigInt.asUintN(64, x ?? 0n);
  const i64 = (x: bigint | undefined): bigint => BigInt.asIntN(64, x ?? 0n);
  let mismatches = 0;
  for (let i = 0; i < vals.length; i += 4) {
    const at = (k: number): bigint | undefined => vals[(i + k) % vals.length];
    const prev = [undefined, { key: Buffer.from('k'), value: Buffer.alloc(i % 200, 1), createRevision: i64(at(4)), modRevision: i64(at(5)), version: i64(at(6)), lease: i64(at(7)) }, {}][i % 3];
    const res = PutResponse.fromPartial({ header: i % 7 === 0 ? undefined : { clusterId: u(at(0)), memberId: u(at(1)), revision: i64(at(2)), raftTerm: u(at(3)) }, prevKv: prev });
    const expected = Buffer.from(PutResponse.encode(res).finish());
    const framed = framePutResponse(res);
    if (!(framed[0] === 0 && framed.readUInt32BE(1) === expected.length && framed.subarray(5).equals(expected))) mismatches++;
  }
  assert.is(mismatches, 0);
});

s('varintSize is the number of bytes the writer writes', () => {
  for (const v of values(5_000, seededRandom(7))) {
    const unsigned = BigInt.asUintN(64, v);
    const w = new ExactWriter(Buffer.alloc(20));
    w.varint(unsigned);
    assert.is(w.offset, varintSize(unsigned), `value ${unsigned}`);
  }
});

s.run();
