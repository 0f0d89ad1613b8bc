// The Lock and Election recipes run for their caller, as etcd's do through v3client with the
// caller's context: their writes carry the caller's auth header and are checked when applied, so a
// permission lost (or `auth enable` landing) between the call and its write is honoured; their reads
// are checked as the caller's Range. Driven on a store over a scripted log, so a test decides when
// the recipe's write is applied.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LeaseGrantRequest, RangeRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { noUser } from '../../src/auth/auth-op.js';
import { recipeCaller } from '../../src/auth/recipe-caller.js';
import { LockRecipe } from '../../src/concurrency/lock.js';
import { ElectionRecipe } from '../../src/concurrency/election.js';
import type { RecipeDeps } from '../../src/concurrency/recipe-deps.js';
import type { LeaseApi } from '../../src/core/lease-api.js';
import type { WatchApi } from '../../src/core/watch-api.js';
import { prefixEnd } from '../../src/core/keys.js';
import { rejectsWith, removeDir, tempDir, type OpenStore } from '../store/store-harness.js';
import { openAuthed, settle, type AuthedStore } from '../store/auth-harness.js';
import { withTimeout } from '../engines/engine-suite.js';

interface Context {
  dir: string;
  open: OpenStore[];
}

const test = suite<Context>('concurrency: recipes checked as their caller', { dir: '', open: [] });
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

/** The recipes over the store; every call here is uncontended, so none grants a lease or watches. */
function recipeDeps(a: AuthedStore): RecipeDeps {
  const unused = (what: string) => (): never => {
    throw new Error(`the test's recipes should not use ${what}`);
  };
  return { kv: a.store, watch: { openStream: unused('watch'), receive: unused('watch') } as unknown as WatchApi, lease: { grant: unused('lease grant') } as unknown as LeaseApi };
}

async function keysUnder(a: AuthedStore, prefix: string): Promise<string[]> {
  const res = await a.store.range(RangeRequest.create({ key: b(prefix), rangeEnd: prefixEnd(b(prefix)) }));
  return res.kvs.map((kv) => kv.key.toString('latin1'));
}

/** Auth on, lease 7 granted: alice may read and write keys from "a" up to "b". */
async function setUp(ctx: Context): Promise<AuthedStore> {
  const a = await openAuthed(ctx.dir, ctx.open);
  a.log.autoCommit = true;
  await a.store.leaseGrant(LeaseGrantRequest.create({ ID: 7n, TTL: 100n }));
  await a.front.request(noUser, { op: 'enable' });
  return a;
}

it('a Lock whose write is applied after the caller lost write on the lock is refused, and leaves no key', async (ctx) => {
  const a = await setUp(ctx);
  const lock = new LockRecipe(recipeDeps(a));
  const alice = recipeCaller(a.front, a.as('alice'));
  a.log.autoCommit = false;
  const held = lock.lock({ name: b('a/l'), lease: 7n }, new AbortController().signal, alice);
  await settle();
  assert.is(a.log.pending.length, 1);
  await a.front.request(a.as('root'), { op: 'roleRevokePermission', role: 'a-rw', key: 'a', rangeEnd: 'b' });
  a.log.commitPending();
  await rejectsWith(held, 'authOldRevision');
  assert.equal(await keysUnder(a, 'a/l/'), []);
  // The next Lock meets the current auth state: permission denied.
  a.log.autoCommit = true;
  await rejectsWith(lock.lock({ name: b('a/l'), lease: 7n }, new AbortController().signal, alice), 'authPermissionDenied');
});

it('a Campaign proposed before auth enable and applied after it is refused with user name is empty', async (ctx) => {
  const a = await openAuthed(ctx.dir, ctx.open);
  a.log.autoCommit = true;
  await a.store.leaseGrant(LeaseGrantRequest.create({ ID: 7n, TTL: 100n }));
  const election = new ElectionRecipe(recipeDeps(a));
  a.log.autoCommit = false;
  const won = election.campaign({ name: b('a/e'), lease: 7n, value: b('v') }, new AbortController().signal, recipeCaller(a.front, noUser));
  await settle();
  assert.is(a.log.pending.length, 1);
  await a.front.request(noUser, { op: 'enable' });
  a.log.commitPending();
  await rejectsWith(won, 'authUserEmpty');
  assert.equal(await keysUnder(a, 'a/e/'), []);
});

it("the recipes' writes and reads are the caller's: allowed under its grants, refused outside them", async (ctx) => {
  const a = await setUp(ctx);
  const lock = new LockRecipe(recipeDeps(a));
  const election = new ElectionRecipe(recipeDeps(a));
  const alice = recipeCaller(a.front, a.as('alice'));
  const signal = new AbortController().signal;
  const held = await lock.lock({ name: b('a/l'), lease: 7n }, signal, alice);
  await lock.unlock({ key: held.key }, alice);
  await rejectsWith(lock.lock({ name: b('x/l'), lease: 7n }, signal, alice), 'authPermissionDenied');
  const won = await election.campaign({ name: b('a/e'), lease: 7n, value: b('v') }, signal, alice);
  assert.equal((await election.leader({ name: b('a/e') }, alice)).kv?.value, b('v'));
  // A Proclaim naming a leader key outside the grants: the recipe's Txn is refused when applied.
  await rejectsWith(election.proclaim({ leader: { ...won.leader!, key: b('x/1') }, value: b('w') }, alice), 'authPermissionDenied');
  await rejectsWith(election.leader({ name: b('x/e') }, alice), 'authPermissionDenied');
  await election.resign({ leader: won.leader }, alice);
  assert.equal(await keysUnder(a, 'a/'), []);
});

test.run();
