// The hand-written encoders on a grant's path against ts-proto's generated ones, byte for byte, over
// the int64 edges and seeded random values: the log entry's body (encodeIntFields for
// LeaseGrantRequest and LeaseRevokeRequest) and the framed LeaseGrantResponse.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeIntFields } from '../../src/core/proto-writer.js';
import { frameLeaseGrantResponse } from '../../src/adapters/grpc/lease-grant-response-encoder.js';
import { frameBytes } from '../../src/adapters/grpc/grpc-wire.js';
import { LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { seededRandom } from '../helpers/seeded-random.js';

const s = suite('lease grant encoders against the generated ones');

const edges = [0n, 1n, 127n, 128n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, -1n, -(2n ** 63n), -128n, -(2n ** 32n)];

function values(count: number, random: () => number): bigint[] {
  const out = [...edges];
  const word = (): bigint => BigInt(Math.floor(random() * 2 ** 32));
  for (let i = 0; i < count; i++) {
    const raw = BigInt.asIntN(64, (word() << 32n) | word());
    out.push(raw >> BigInt(Math.floor(random() * 64)));
  }
  return out;
}

s('grant and revoke request bodies encode as ts-proto encodes them', () => {
  const vals = values(5_000, seededRandom(20261207));
  for (let i = 0; i < vals.length; i++) {
    const TTL = vals[i]!;
    const ID = vals[(i * 7 + 3) % vals.length]!;
    assert.equal(encodeIntFields(TTL, ID), Buffer.from(LeaseGrantRequest.encode({ TTL, ID }).finish()), `grant TTL ${TTL} ID ${ID}`);
    assert.equal(encodeIntFields(ID), Buffer.from(LeaseRevokeRequest.encode({ ID }).finish()), `revoke ID ${ID}`);
  }
});

s('a grant answer is framed as the generated encoder and the 5-byte prefix make it', () => {
  const vals = values(5_000, seededRandom(7));
  const u = (x: bigint): bigint => BigInt.asUintN(64, x);
  for (let i = 0; i + 6 < vals.length; i += 3) {
    const res = LeaseGrantResponse.fromPartial({
      header: i % 11 === 0 ? undefined : { clusterId: u(vals[i]!), memberId: u(vals[i + 1]!), revision: vals[i + 2]!, raftTerm: u(vals[i + 3]!) },
      ID: vals[i + 4]!,
      TTL: vals[i + 5]!,
      error: i % 5 === 0 ? 'etcdserver: lease already exists ✓' : '',
    });
    assert.equal(frameLeaseGrantResponse(res), frameBytes(LeaseGrantResponse.encode(res).finish()), `answer ${i}`);
  }
});

s.run();
