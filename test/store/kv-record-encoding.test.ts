// The store's record encoding (a flag byte, then mvccpb.KeyValue written by proto-writer) against
// ts-proto's generated KeyValue encoder, byte for byte: etcd's snapshot format and every engine's
// stored records depend on it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyValue } from '../../src/gen/etcd/mvcc/mvccpb/kv.js';
import { decodeRecord, encodeRecord, toKeyValue, type KvRecord } from '../../src/mvcc/kv-record.js';
import { seededRandom } from '../helpers/seeded-random.js';

const s = suite('Record encoding against the generated KeyValue encoder');

s('records with any lease (negative too), empty values and tombstones encode as ts-proto encodes them and decode back', () => {
  const random = seededRandom(61206);
  const leases = [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 127n, 128n, -129n];
  let mismatches = 0;
  for (let i = 0; i < 5_000; i++) {
    const rev = Math.floor(random() * 2 ** (1 + Math.floor(random() * 52)));
    const record: KvRecord = {
      key: `key/${i}`,
      value: Buffer.alloc(Math.floor(random() * 3) === 0 ? 0 : Math.floor(random() * 300), i & 0xff),
      createRevision: Math.max(1, rev - i),
      modRevision: rev,
      sub: 0,
      version: i % 7,
      lease: BigInt.asIntN(64, leases[i % leases.length]! * BigInt(1 + (i % 3))),
      tombstone: i % 5 === 0,
    };
    const encoded = encodeRecord(record);
    const expected = Buffer.concat([Buffer.from([record.tombstone ? 1 : 0]), KeyValue.encode(toKeyValue(record)).finish()]);
    if (!encoded.equals(expected)) mismatches++;
    assert.equal(decodeRecord(encoded, 0), record);
  }
  assert.is(mismatches, 0);
});

s.run();
