// The store's apply-time auth checks, driven through a scripted log so a test decides how entries
// are batched: a write's outcome must not depend on it (members batch differently), a client write
// proposed before `auth enable` and applied after it is refused, internal writes are not checked,
// and a lease revoke is checked against the keys attached and the auth state when it is applied.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LeaseGrantRequest, PutRequest, RangeRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { noUser, type AuthHeader } from '../../src/auth/auth-op.js';
import { rejectsWith, removeDir, tempDir, type OpenStore } from './store-harness.js';
import { openAuthed as openAuthedIn, settle } from './auth-harness.js';
import { withTimeout } from '../engines/engine-suite.js';
import { prefixEnd } from '../../src/core/keys.js';
import { encodeProposal } from '../../src/log/command.js';
import { revokeHeaderAsked } from '../../src/auth/revoke-header.js';

interface Context {
  dir: string;
  open: OpenStore[];
}

const test = suite<Context>('store: auth checks at apply', { dir: '', open: [] });
test.before.each(async (ctx) => {
  ctx.dir = await tempDir();
  ctx.open = [];
});
test.after.each(async (ctx) => {
  for (const s of ctx.open) await s.close().catch(() => undefined);
  await removeDir(ctx.dir);
});
const it = (name: string, fn: (ctx: Context) => Promise<void>): void => test(name, withTimeout(15_000, fn));

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const putOn = (key: string, lease = 0n): PutRequest => PutRequest.create({ key: b(key), value: b('v'), lease });

const openAuthed = (ctx: Context): ReturnType<typeof openAuthedIn> => openAuthedIn(ctx.dir, ctx.open);
const keysUnder = async (store: Awaited<ReturnType<typeof openAuthed>>['store'], prefix: string): Promise<string[]> =>
  (await store.range(RangeRequest.create({ key: b(prefix), rangeEnd: prefixEnd(b(prefix)) }))).kvs.map((kv) => kv.key.toString('latin1'));
const revisionOf = async (store: Awaited<ReturnType<typeof openAuthed>>['store']): Promise<bigint> =>
  (await store.range(RangeRequest.create({ key: b('a') }))).header?.revision ?? -1n;

/**
 * Whether the build before apply-time revoke checks could decode a proposal: its auth header
 * (type 12) wrapped only puts, deletes and txns (1, 2, 3); anything else there stopped the member.
 */
function previousBuildDecodes(proposal: Buffer): boolean {
  const code = proposal[0];
  if (code !== 12) return code !== undefined && ((code >= 1 && code <= 11) || code === 13);
  const body = proposal.subarray(9);
  const inner = body[10 + body.readUInt16BE(8)];
  return inner === 1 || inner === 2 || inner === 3;
}

it('a put on a lease another write of the same batch attached a foreign key to is refused, as when applied alone', async (ctx) => {
  const { log, front, store } = await openAuthed(ctx);
  log.autoCommit = true;
  await store.leaseGrant(LeaseGrantRequest.create({ ID: 7n, TTL: 100n }));
  await store.leaseGrant(LeaseGrantRequest.create({ ID: 8n, TTL: 100n }));
  await front.request(noUser, { op: 'enable' });
  const as = (user: string): AuthHeader => ({ user, revision: front.state.revision });

  // One by one: root attaches x/1 to lease 8, then alice (no write on x/1) puts on lease 8.
  await store.put(putOn('x/1', 8n), as('root'));
  await rejectsWith(store.put(putOn('a/1', 8n), as('alice')), 'authPermissionDenied');

  // The same two writes committed as one batch (one run of writes for the shard).
  log.autoCommit = false;
  const rootPut = store.put(putOn('x/2', 7n), as('root'));
  const alicePut = store.put(putOn('a/2', 7n), as('alice'));
  await settle();
  assert.is(log.pending.length, 2);
  log.commitPending();
  await rootPut;
  await rejectsWith(alicePut, 'authPermissionDenied');
});

it('a client write proposed before auth enable and applied after it is refused with user name is empty; an internal write is not checked', async (ctx) => {
  const { log, front, store } = await openAuthed(ctx);
  const client = store.put(putOn('a/1'), noUser);
  const internal = store.put(putOn('a/2'), undefined);
  await settle();
  assert.is(log.pending.length, 2);
  await front.request(noUser, { op: 'enable' });
  log.commitPending();
  await rejectsWith(client, 'authUserEmpty');
  await internal;
});

it('with auth off, writes carrying the empty user are applied', async (ctx) => {
  const { log, store } = await openAuthed(ctx);
  log.autoCommit = true;
  const res = await store.put(putOn('x/1'), noUser);
  assert.is(res.header?.revision, 2n);
});

it('a lease revoke is checked when applied: a key attached by an earlier entry of the same batch that the revoker may not write keeps the lease (permission denied)', async (ctx) => {
  const { log, front, store, leases, as } = await openAuthed(ctx);
  log.autoCommit = true;
  await store.leaseGrant(LeaseGrantRequest.create({ ID: 7n, TTL: 100n }));
  await front.request(noUser, { op: 'enable' });
  await store.put(putOn('a/1', 7n), as('alice'));

  // Alice may write every key the lease holds when she sends the revoke; root attaches x/1 to it
  // before the revoke is applied, in the same batch.
  log.autoCommit = false;
  const rootPut = store.put(putOn('x/1', 7n), as('root'));
  const revoke = store.leaseRevoke({ ID: 7n }, as('alice'));
  await settle();
  assert.is(log.pending.length, 2);
  const before = await revisionOf(store);
  log.commitPending();
  await rootPut;
  await rejectsWith(revoke, 'authPermissionDenied');
  assert.is(await revisionOf(store), before + 1n, 'only root\'s put made a revision');
  assert.equal(leases.keysOf(7n), ['a/1', 'x/1']);
  assert.equal(await keysUnder(store, 'x/'), ['x/1']);

  // Root may write both: its revoke deletes them.
  log.autoCommit = true;
  await store.leaseRevoke({ ID: 7n }, as('root'));
  assert.is(leases.keysOf(7n), undefined);
  assert.equal(await keysUnder(store, 'a/'), []);
});

it('a lease revoke proposed before the revoker lost write on its keys and applied after is refused; the lease and its keys stay', async (ctx) => {
  const { log, front, store, leases, as } = await openAuthed(ctx);
  log.autoCommit = true;
  await store.leaseGrant(LeaseGrantRequest.create({ ID: 7n, TTL: 100n }));
  await front.request(noUser, { op: 'enable' });
  await store.put(putOn('a/1', 7n), as('alice'));
  log.autoCommit = false;
  const revoke = store.leaseRevoke({ ID: 7n }, as('alice'));
  await settle();
  assert.is(log.pending.length, 1);
  await front.request(as('root'), { op: 'roleRevokePermission', role: 'a-rw', key: 'a', rangeEnd: 'b' });
  const before = await revisionOf(store);
  log.commitPending();
  // etcd: the entry's auth revision is older than the store's, so "revision of auth store is old".
  await rejectsWith(revoke, 'authOldRevision');
  assert.equal(leases.keysOf(7n), ['a/1']);
  // Now checked at the current revision: permission denied.
  log.autoCommit = true;
  await rejectsWith(store.leaseRevoke({ ID: 7n }, as('alice')), 'authPermissionDenied');
  assert.equal(await keysUnder(store, 'a/'), ['a/1']);
  assert.is(await revisionOf(store), before, 'refused revokes make no revision');
});

it('a lease revoke proposed before auth enable and applied after it is refused (user name is empty); one without a header (expiry, or an entry of the previous version) is not checked', async (ctx) => {
  const { log, front, store, leases, as } = await openAuthed(ctx);
  log.autoCommit = true;
  await store.leaseGrant(LeaseGrantRequest.create({ ID: 7n, TTL: 100n }));
  await store.put(putOn('x/1', 7n), noUser);
  log.autoCommit = false;
  const client = store.leaseRevoke({ ID: 7n }, noUser);
  await settle();
  await front.request(noUser, { op: 'enable' });
  const before = await revisionOf(store);
  log.commitPending();
  await rejectsWith(client, 'authUserEmpty');
  assert.ok(leases.keysOf(7n) !== undefined);
  assert.is(await revisionOf(store), before, 'a refused revoke makes no revision');
  log.autoCommit = true;
  await store.leaseRevoke({ ID: 7n }, undefined);
  assert.is(leases.keysOf(7n), undefined);
  // A lease without keys needs no permission (etcd's checkLeasePuts checks only attached keys).
  await store.leaseGrant(LeaseGrantRequest.create({ ID: 8n, TTL: 100n }));
  await store.leaseRevoke({ ID: 8n }, as('alice'));
});

/** Proposes a client's revoke as the gRPC service and /api do, and answers the proposal's bytes. */
async function proposedRevoke(authed: Awaited<ReturnType<typeof openAuthed>>, id: bigint, who: AuthHeader, everyMemberApplies: boolean): Promise<{ bytes: Buffer; revoked: Promise<unknown> }> {
  const revoked = revokeHeaderAsked(authed.front, who, id, everyMemberApplies).then((h) => authed.store.leaseRevoke({ ID: id }, h));
  revoked.catch(() => undefined);
  await settle();
  const [p] = authed.log.pending;
  assert.ok(p !== undefined && p.command.type === 'leaseRevoke');
  return { bytes: encodeProposal(p.requestId, p.command), revoked };
}

it('while a member cannot apply revokes with an auth header, a client revoke is a plain entry the previous build decodes, checked before it is proposed; once all can, it carries the header', async (ctx) => {
  const authed = await openAuthed(ctx);
  const { log, front, store, as } = authed;
  log.autoCommit = true;
  for (const id of [7n, 8n, 9n, 10n]) await store.leaseGrant(LeaseGrantRequest.create({ ID: id, TTL: 100n }));
  log.autoCommit = false;

  // Auth off, an older member present: plain type 6.
  const off = await proposedRevoke(authed, 7n, noUser, false);
  assert.is(off.bytes[0], 6);
  assert.ok(previousBuildDecodes(off.bytes));
  log.commitPending();
  await off.revoked;

  log.autoCommit = true;
  await front.request(noUser, { op: 'enable' });
  await store.put(putOn('x/1', 8n), as('root'));
  log.autoCommit = false;
  // Auth on, an older member present: still plain, and refused before proposing when the caller may not write the keys.
  await rejectsWith((async () => store.leaseRevoke({ ID: 8n }, await revokeHeaderAsked(front, as('alice'), 8n, false)))(), 'authPermissionDenied');
  assert.is(log.pending.length, 0);
  const on = await proposedRevoke(authed, 9n, as('alice'), false);
  assert.is(on.bytes[0], 6);
  assert.ok(previousBuildDecodes(on.bytes));
  log.commitPending();
  await on.revoked;

  // Every member can apply it: the header goes with the entry (etcd's check at apply).
  const headed = await proposedRevoke(authed, 10n, as('alice'), true);
  assert.is(headed.bytes[0], 12);
  assert.not.ok(previousBuildDecodes(headed.bytes));
  log.commitPending();
  await headed.revoked;
});

test.run();
