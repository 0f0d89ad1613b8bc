// Request ids (etcd's idutil scheme): unique across members and across restarts of one member.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { IdGenerator } from '../../src/core/id-generator.js';
import { decodeProposal, encodeProposal } from '../../src/log/command.js';
import { LeaseIdGenerator } from '../../src/lease/lease-ids.js';

const test = suite('log: request ids');

const take = (g: IdGenerator, n: number): bigint[] => Array.from({ length: n }, () => g.next());

test('two members started in the same millisecond never hand out the same id', () => {
  const nowMs = Date.UTC(2026, 0, 1);
  const a = take(new IdGenerator(0x8e9e05c52164694dn, nowMs), 10_000);
  const b = take(new IdGenerator(0x91bc3c398fb3c146n, nowMs), 10_000);
  const seen = new Set(a);
  assert.is(seen.size, a.length);
  assert.ok(b.every((id) => !seen.has(id)));
});

test('a member restarted a millisecond later starts past every id of its previous run (fewer than 256 per ms)', () => {
  const member = 0x1234n;
  const nowMs = Date.UTC(2026, 0, 1);
  const before = take(new IdGenerator(member, nowMs), 200);
  const after = take(new IdGenerator(member, nowMs + 1), 200);
  const last = before[before.length - 1]!;
  assert.ok(after.every((id) => id > last));
});

test("the high 16 bits are the member id's low 16 bits, the rest the time and a counter (etcd's layout)", () => {
  const nowMs = 0x12_3456_789a;
  const id = new IdGenerator(0xabcd_ef01n, nowMs).next();
  assert.is(id >> 48n, 0xef01n);
  assert.is(id & ((1n << 48n) - 1n), (BigInt(nowMs) << 8n) + 1n);
});

test('an id above 2^63 survives the log entry encoding', () => {
  const id = new IdGenerator(0xffffn, Date.now()).next();
  assert.ok(id >= 1n << 63n);
  const entry = decodeProposal(1, 1, encodeProposal(id, { type: 'noop' }));
  assert.is(entry.requestId, id);
});

test('lease ids come from the same scheme, as positive int64s with bit 62 (tenants\' lease IDs) clear', () => {
  const nowMs = Date.UTC(2026, 0, 1);
  const lease = new LeaseIdGenerator(0xffffn, nowMs).next();
  const raw = new IdGenerator(0xffffn, nowMs).next();
  assert.is(lease, raw & ((1n << 62n) - 1n));
});

test.run();
