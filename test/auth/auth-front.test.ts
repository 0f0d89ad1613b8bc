// The auth front alone: who a call comes from (token, a verified client certificate's CN with
// --client-cert-auth, nobody), and that the auth state travels with an engine's exported state (a
// Raft snapshot) on both engines.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { EtcdError } from '../../src/core/errors.js';
import { openEngine } from '../../src/engines/open-engine.js';
import type { WriteOp } from '../../src/engines/engine.js';
import { AuthFront } from '../../src/auth/auth-front.js';
import { AuthState } from '../../src/auth/auth-state.js';
import { noUser, type AuthOp, type AuthRequest } from '../../src/auth/auth-op.js';
import type { AuthAnswer } from '../../src/auth/auth-state.js';
import { SimpleTokens } from '../../src/auth/simple-tokens.js';
import { engines } from '../helpers/lattice-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';

/** A front whose proposals apply at once, as a single member's log would. */
function frontWith(clientCertAuth: boolean, ops: WriteOp[] = []): AuthFront {
  let index = 0;
  let front: AuthFront | undefined;
  const hasher = { hash: async (p: string) => `plain:${p}`, matches: async (p: string, h: string) => h === `plain:${p}` };
  front = new AuthFront({
    provider: { kind: 'simple', tokens: new SimpleTokens({ ttlMs: 60_000, nowMs: () => 0, random: Math.random }) },
    hasher,
    propose: async (req: AuthRequest): Promise<AuthAnswer> => {
      const out = front!.apply(req, ++index, ops);
      if (!out.ok) throw new EtcdError(out.error);
      return out.answer;
    },
    leaseKeys: () => undefined,
    clientCertAuth,
  });
  return front;
}

async function enableWithAlice(front: AuthFront): Promise<void> {
  await front.userAdd(noUser, 'root', 'rootpw', false);
  await front.request(noUser, { op: 'userGrantRole', user: 'root', role: 'root' });
  await front.userAdd(noUser, 'alice', 'apw', false);
  await front.request(noUser, { op: 'enable' });
}

/** The kind a promise rejects with (it must reject with an EtcdError). */
async function rejectedKind(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof EtcdError) return e.kind;
    throw e;
  }
  throw new Error('expected a rejection');
}

const callers = suite('callers');

callers('a token names its user; a bad or oversized token is refused as invalid; none is nobody', async () => {
  const front = frontWith(false);
  await enableWithAlice(front);
  const token = await front.authenticate('alice', 'apw');
  assert.equal(await front.caller({ token }), { user: 'alice', revision: front.state.revision });
  assert.is(await rejectedKind(front.caller({ token: 'nope.1' })), 'authInvalidToken');
  assert.is(await rejectedKind(front.caller({ token: 'x'.repeat(100_000) })), 'authInvalidToken');
  assert.equal(await front.caller({}), noUser);
  assert.equal(await front.caller({ authorization: token }), { user: 'alice', revision: front.state.revision });
  assert.is(await rejectedKind(front.authenticate('alice', 'wrong')), 'authFailed');
});

callers('with --client-cert-auth a verified CN is the user when no token is sent, never for gateway calls', async () => {
  const front = frontWith(true);
  await enableWithAlice(front);
  assert.equal(await front.caller({}, 'alice'), { user: 'alice', revision: front.state.revision });
  assert.equal(await front.caller({ 'grpcgateway-accept': 'application/json' }, 'alice'), noUser);
  const without = frontWith(false);
  await enableWithAlice(without);
  assert.equal(await without.caller({}, 'alice'), noUser);
});

callers('Authenticate that keeps meeting a changed auth state gives up with authOldRevision, never a token checked against an old state', async () => {
  let index = 0;
  let front: AuthFront | undefined;
  let changes = 0;
  front = new AuthFront({
    provider: { kind: 'simple', tokens: new SimpleTokens({ ttlMs: 60_000, nowMs: () => 0, random: Math.random }) },
    hasher: { hash: async (p: string) => `plain:${p}`, matches: async (p: string, h: string) => h === `plain:${p}` },
    propose: async (req: AuthRequest): Promise<AuthAnswer> => {
      // another member's change is applied between every password check and its Authenticate entry
      if (req.op.op === 'authenticate') front!.apply({ op: { op: 'roleAdd', name: `r${++changes}` }, header: { user: 'root', revision: front!.state.revision } }, ++index, []);
      const out = front!.apply(req, ++index, []);
      if (!out.ok) throw new EtcdError(out.error);
      return out.answer;
    },
    leaseKeys: () => undefined,
    clientCertAuth: false,
  });
  await enableWithAlice(front);
  assert.is(await rejectedKind(front.authenticate('alice', 'apw')), 'authOldRevision');
  assert.is(changes, 5);
});

callers.run();

const snapshots = suite('auth state in engine snapshots');
let dir = '';
snapshots.before(() => {
  dir = makeTempDir('auth-snapshot');
});
snapshots.after(() => removeTempDir(dir));

for (const engine of engines) {
  snapshots(`users, roles, grants and the enabled flag travel with the ${engine} engine's exported state`, async () => {
    const ops: WriteOp[] = [];
    const front = frontWith(false, ops);
    await front.request(noUser, { op: 'roleAdd', name: 'r' });
    await front.request(noUser, { op: 'roleGrantPermission', name: 'r', permType: 2, key: '/p/', rangeEnd: '/p0' } satisfies AuthOp);
    await enableWithAlice(front);
    await front.request({ user: 'root', revision: front.state.revision }, { op: 'userGrantRole', user: 'alice', role: 'r' });
    const source = await openEngine(engine, join(dir, `${engine}-source`));
    const target = await openEngine(engine, join(dir, `${engine}-target`));
    try {
      await source.write(ops, { sync: true });
      await target.importState(source.exportState());
      const loaded = new AuthState({ assigned: () => undefined, userInvalidated: () => undefined, disabled: () => undefined });
      await loaded.load(target);
      assert.ok(loaded.enabled);
      assert.is(loaded.revision, front.state.revision);
      const alice = { user: 'alice', revision: loaded.revision };
      assert.is(loaded.refusal(alice, Buffer.from('/p/x'), Buffer.alloc(0), 'write'), undefined);
      assert.is(loaded.refusal(alice, Buffer.from('/q/x'), Buffer.alloc(0), 'write'), 'authPermissionDenied');
      assert.equal(loaded.passwordOf('alice'), { ok: true, hash: 'plain:apw' });
    } finally {
      await source.close();
      await target.close();
    }
  });
}

snapshots.run();
