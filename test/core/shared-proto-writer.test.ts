// The shared writer (core/shared-proto-writer.ts) gives the bytes a fresh writer gives, message after
// message; a message that throws halfway leaves nothing for the next one; one large message does
// not keep the writer large (its bytes are still right).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeShared, sharedEncoder } from '../../src/core/shared-proto-writer.js';
import { LeaseGrantResponse, TxnRequest, type PutRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { BinaryWriter } from '@bufbuild/protobuf/wire';

const s = suite('shared proto writer');

s('consecutive messages encode as with a writer each', () => {
  const encode = sharedEncoder(LeaseGrantResponse.encode);
  const answers = [];
  for (let i = 0; i < 50; i++) {
    const res = LeaseGrantResponse.fromPartial({ header: { clusterId: BigInt(i) << 40n, memberId: 7n, revision: BigInt(i), raftTerm: 2n }, ID: BigInt(-i), TTL: BigInt(i * 1000), error: i % 7 === 0 ? 'e' : '' });
    answers.push([encode(res), Buffer.from(LeaseGrantResponse.encode(res).finish())] as const);
  }
  // each result is its own buffer: later encodes do not change earlier results
  for (const [got, expected] of answers) assert.equal(got.equals(expected), true);
});

s('a message that throws halfway does not lead the next one', () => {
  const throwing = (m: PutRequest, w: BinaryWriter): BinaryWriter => {
    w.uint32(10).bytes(m.key);
    throw new Error('halfway');
  };
  assert.throws(() => encodeShared(throwing, { key: Buffer.from('abc') } as PutRequest), /halfway/);
  const res = LeaseGrantResponse.fromPartial({ ID: 5n, TTL: 60n });
  assert.equal(encodeShared(LeaseGrantResponse.encode, res).equals(Buffer.from(LeaseGrantResponse.encode(res).finish())), true);
});

s('a large message encodes whole, and small ones after it too', () => {
  const big = TxnRequest.fromPartial({ success: Array.from({ length: 100 }, (_, i) => ({ requestPut: { key: Buffer.from(`k${i}`), value: Buffer.alloc(1024, i) } })) });
  assert.equal(encodeShared(TxnRequest.encode, big).equals(Buffer.from(TxnRequest.encode(big).finish())), true);
  const small = LeaseGrantResponse.fromPartial({ ID: 1n, TTL: 2n });
  assert.equal(encodeShared(LeaseGrantResponse.encode, small).equals(Buffer.from(LeaseGrantResponse.encode(small).finish())), true);
});

s.run();
