// Log entries on disk and in Raft entries: every command round-trips, records written before the
// versioned format still read, and anything unknown is refused with a typed error.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CompactionRequest,
  DeleteRangeRequest,
  LeaseCheckpointRequest,
  LeaseGrantRequest,
  LeaseRevokeRequest,
  PutRequest,
  TxnRequest,
  RequestOp,
} from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { decodeEntry, decodeProposal, encodeEntry, encodeProposal, LogEntryDecodeError, type Command, type LogEntry } from '../../src/log/command.js';
import { logEntryOf, proposalData } from '../../src/log/raft-entries.js';
import { EntryType } from '../../src/raft/types.js';
import { rememberEncoding } from '../../src/core/received-encoding.js';

const test = suite('log: entry encoding');

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const commands: readonly Command[] = [
  { type: 'put', req: PutRequest.create({ key: b('k'), value: b('v'), lease: 7n }) },
  { type: 'deleteRange', req: DeleteRangeRequest.create({ key: b('a'), rangeEnd: b('z'), prevKv: true }) },
  { type: 'txn', req: TxnRequest.create({ success: [RequestOp.create({ requestPut: PutRequest.create({ key: b('t'), value: b('1') }) })] }) },
  { type: 'compact', req: CompactionRequest.create({ revision: 12n }) },
  { type: 'leaseGrant', req: LeaseGrantRequest.create({ ID: 0x7fff_ffff_ffff_fff0n, TTL: 30n }) },
  { type: 'leaseRevoke', req: LeaseRevokeRequest.create({ ID: 5n }) },
  { type: 'leaseRevoke', req: LeaseRevokeRequest.create({ ID: 6n }), auth: { user: 'alice', revision: 4 } },
  { type: 'put', req: PutRequest.create({ key: b('k'), value: b('v') }), auth: { user: '', revision: 0 } },
  { type: 'txn', req: TxnRequest.create({ success: [RequestOp.create({ requestPut: PutRequest.create({ key: b('t'), value: b('1') }) })] }), auth: { user: 'zoë/用户', revision: 2 ** 40 } },
  { type: 'noop' },
  { type: 'confChange', data: new Uint8Array([1, 2, 3, 0, 255]) },
  { type: 'leaseCheckpoint', req: LeaseCheckpointRequest.create({ checkpoints: [{ ID: 9n, remainingTTL: 42n }] }) },
];

/** The bytes the previous format (v1) wrote: type code, term and request id as float64s, protobuf. */
function v1Record(code: number, term: number, requestId: number, body: Uint8Array): Buffer {
  const out = Buffer.alloc(17 + body.length);
  out[0] = code;
  out.writeDoubleBE(term, 1);
  out.writeDoubleBE(requestId, 9);
  out.set(body, 17);
  return out;
}

function refused(fn: () => unknown, reason: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, LogEntryDecodeError);
    assert.is((e as LogEntryDecodeError).reason, reason);
    assert.is((e as LogEntryDecodeError).index, 42);
    return;
  }
  assert.unreachable(`expected a LogEntryDecodeError (${reason})`);
}

test('every command round-trips through a WAL record, with a uint64 request id', () => {
  for (const command of commands) {
    const entry: LogEntry = { index: 3, term: 2, requestId: 0xfedc_ba98_7654_3210n, command };
    assert.equal(decodeEntry(3, encodeEntry(entry)), entry, command.type);
  }
});

test('a lease revoke without an auth header is written as before (type 6), one with a header wrapped (type 12)', () => {
  const plain = encodeProposal(1n, { type: 'leaseRevoke', req: LeaseRevokeRequest.create({ ID: 5n }) });
  assert.is(plain[0], 6);
  assert.equal(decodeProposal(1, 1, plain).command, { type: 'leaseRevoke', req: LeaseRevokeRequest.create({ ID: 5n }) });
  const headed = encodeProposal(1n, { type: 'leaseRevoke', req: LeaseRevokeRequest.create({ ID: 5n }), auth: { user: 'bob', revision: 9 } });
  assert.is(headed[0], 12);
  assert.equal(decodeProposal(1, 1, headed).command, { type: 'leaseRevoke', req: LeaseRevokeRequest.create({ ID: 5n }), auth: { user: 'bob', revision: 9 } });
});

test('records of the previous format (type codes 1..6, float64 term and request id) still decode', () => {
  const put = PutRequest.create({ key: b('old'), value: b('value') });
  const entry = decodeEntry(8, v1Record(1, 1, 17, PutRequest.encode(put).finish()));
  assert.equal(entry, { index: 8, term: 1, requestId: 17n, command: { type: 'put', req: put } });
  const revoke = decodeEntry(9, v1Record(6, 1, 18, LeaseRevokeRequest.encode({ ID: 3n }).finish()));
  assert.equal(revoke.command, { type: 'leaseRevoke', req: { ID: 3n } });
});

test('an unknown type code is refused with LogEntryDecodeError (unknownType), not a crash', () => {
  const record = encodeEntry({ index: 42, term: 1, requestId: 1n, command: { type: 'noop' } });
  record[9] = 200; // the type code inside a v2 record
  refused(() => decodeEntry(42, record), 'unknownType');
});

test('an unknown record format or a damaged body is refused with LogEntryDecodeError', () => {
  refused(() => decodeEntry(42, Buffer.from([0x83, 0, 0])), 'unknownFormat');
  refused(() => decodeEntry(42, Buffer.from([])), 'unknownFormat');
  refused(() => decodeEntry(42, v1Record(7, 1, 1, new Uint8Array())), 'unknownFormat');
  const record = encodeEntry({ index: 42, term: 1, requestId: 1n, command: commands[0]! });
  refused(() => decodeEntry(42, record.subarray(0, record.length - 1)), 'malformed');
  refused(() => decodeEntry(42, record.subarray(0, 5)), 'malformed');
});

test('Raft entries: an empty Normal entry is the no-op, a ConfChange passes its bytes, a proposal decodes', () => {
  assert.equal(logEntryOf({ index: 4, term: 3, type: EntryType.Normal, data: new Uint8Array() }), { index: 4, term: 3, requestId: 0n, command: { type: 'noop' } });
  const data = new Uint8Array([8, 1]);
  assert.equal(logEntryOf({ index: 5, term: 3, type: EntryType.ConfChange, data }), { index: 5, term: 3, requestId: 0n, command: { type: 'confChange', data } });
  const proposed = logEntryOf({ index: 6, term: 3, type: EntryType.Normal, data: proposalData(99n, commands[2]!) });
  assert.equal(proposed, { index: 6, term: 3, requestId: 99n, command: commands[2]! });
});

test('a put decoded from a client goes to the log in its received bytes only when they are canonical', () => {
  const proposalBody = (received: Buffer): Buffer => {
    const req = PutRequest.decode(received);
    rememberEncoding(req, received);
    const proposal = encodeProposal(3n, { type: 'put', req });
    assert.equal(decodeProposal(1, 1, proposal).command, { type: 'put', req });
    return proposal.subarray(9);
  };
  // key "k", value "v", lease 300, prev_kv true: the canonical encoding itself
  const canonical = Buffer.from([0x0a, 0x01, 0x6b, 0x12, 0x01, 0x76, 0x18, 0xac, 0x02, 0x20, 0x01]);
  assert.ok(proposalBody(canonical).equals(canonical), 'kept as received');
  // the same fields in another order: as long, read alike by every build
  const reordered = Buffer.from([0x20, 0x01, 0x18, 0xac, 0x02, 0x12, 0x01, 0x76, 0x0a, 0x01, 0x6b]);
  assert.ok(proposalBody(reordered).equals(reordered), 'kept as received');
  // every field, a value over 127 bytes (a two-byte length), in reverse order: reused only if the size formula counts each field right
  const value = Buffer.alloc(200, 0x61);
  const allFields = Buffer.concat([Buffer.from([0x30, 0x01, 0x28, 0x01, 0x20, 0x01, 0x18, 0x05, 0x12, 0xc8, 0x01]), value, Buffer.from([0x0a, 0x01, 0x6b])]);
  assert.ok(proposalBody(allFields).equals(allFields), 'kept as received');
  // a negative lease (reversed order, so reuse would show): encoded afresh
  const negative = Buffer.concat([Buffer.from([0x18]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Buffer.from([0x0a, 0x01, 0x6b])]);
  assert.ok(proposalBody(negative).equals(Buffer.from(PutRequest.encode(PutRequest.decode(negative)).finish())), 'a negative lease is re-encoded');
  // an unknown field 15, a padded varint, a repeated key: encoded afresh, so no later build reads more
  for (const odd of [
    [0x0a, 0x01, 0x6b, 0x12, 0x01, 0x76, 0x78, 0x01],
    [0x0a, 0x01, 0x6b, 0x18, 0xac, 0x82, 0x00],
    [0x0a, 0x01, 0x61, 0x0a, 0x01, 0x6b],
  ]) {
    const received = Buffer.from(odd);
    const body = proposalBody(received);
    assert.ok(body.equals(Buffer.from(PutRequest.encode(PutRequest.decode(received)).finish())), `re-encoded: ${received.toString('hex')}`);
  }
  const req = PutRequest.decode(canonical);
  rememberEncoding(req, canonical);
  const changed = { ...req, key: b('other') };
  assert.equal(decodeProposal(1, 1, encodeProposal(4n, { type: 'put', req: changed })).command, { type: 'put', req: changed }, 'a changed copy is encoded afresh');
});

test.run();
