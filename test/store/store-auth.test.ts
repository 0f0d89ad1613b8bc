// The store's apply-time auth checks, driven through a scripted log so a test decides how entries
// are batched: a write's outcome must not depend on it (members batch differently), a client write
// proposed before `auth enable` and applied after it is refused, internal writes are not checked.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LeaseGrantRequest, PutRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { LeaseTable } from '../../src/actors/lease-table.js';
import { AuthFront } from '../../src/auth/auth-front.js';
import { noUser, type AuthHeader, type AuthRequest } from '../../src/auth/auth-op.js';
import type { AuthAnswer } from '../../src/auth/auth-state.js';
import { SimpleTokens } from '../../src/auth/simple-tokens.js';
import { EtcdError } from '../../src/core/errors.js';
import { openStore, rejectsWith, removeDir, tempDir, type OpenStore } from './store-harness.js';
import { ScriptedLog } from '../log/scripted-log.js';
import { ManualTimers } from './manual-timers.js';
import { withTimeout } from '../engines/engine-suite.js';

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

/** A store on a scripted log with a real auth front (its entries apply at once, outside the log). */
async function openAuthed(ctx: Context): Promise<{ log: ScriptedLog; front: AuthFront; store: OpenStore['store'] }> {
  const log = new ScriptedLog();
  const leases = new LeaseTable({ minTtlSeconds: 1, clock: new ManualTimers() });
  let index = 0;
  let front: AuthFront | undefined;
  front = new AuthFront({
    provider: { kind: 'simple', tokens: new SimpleTokens({ ttlMs: 60_000, nowMs: () => 0, random: Math.random }) },
    hasher: { hash: async (p: string) => `plain:${p}`, matches: async (p: string, h: string) => h === `plain:${p}` },
    propose: async (req: AuthRequest): Promise<AuthAnswer> => {
      const out = front!.apply(req, ++index, []);
      if (!out.ok) throw new EtcdError(out.error);
      return out.answer;
    },
    leaseKeys: (id) => leases.keysOf(id),
    clientCertAuth: false,
  });
  const s = await openStore({ engine: 'memory', shards: 1, placement: 'main' }, ctx.dir, { revisionLog: log, leases, hooks: { auth: front } });
  ctx.open.push(s);
  // root; alice may write keys from "a" up to "b" only.
  await front.userAdd(noUser, 'root', 'rootpw', false);
  await front.request(noUser, { op: 'userGrantRole', user: 'root', role: 'root' });
  await front.request(noUser, { op: 'roleAdd', name: 'a-rw' });
  await front.request(noUser, { op: 'roleGrantPermission', name: 'a-rw', permType: 2, key: 'a', rangeEnd: 'b' });
  await front.userAdd(noUser, 'alice', 'apw', false);
  await front.request(noUser, { op: 'userGrantRole', user: 'alice', role: 'a-rw' });
  return { log, front, store: s.store };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

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

test.run();
