// The auth state alone: etcd's rules for users, roles and grants, the permission lookups (interval
// sets), the auth revision, persistence through the write ops it returns, and the log encoding.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { WriteOp } from '../../src/engines/engine.js';
import { AuthState, type TokenEvents } from '../../src/auth/auth-state.js';
import { KeyIntervalSet } from '../../src/auth/key-intervals.js';
import { noUser, type AuthHeader, type AuthOp } from '../../src/auth/auth-op.js';
import { decodeProposal, encodeProposal, type Command } from '../../src/log/command.js';
import { PutRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const quietTokens: TokenEvents = { assigned: () => undefined, userInvalidated: () => undefined, disabled: () => undefined };

/** A state, the engine it persists to (a map), and helpers to apply ops as root or as nobody. */
function harness() {
  const stored = new Map<string, Buffer>();
  const state = new AuthState(quietTokens);
  let index = 0;
  const apply = (op: AuthOp, header: AuthHeader = noUser) => {
    const ops: WriteOp[] = [];
    const out = state.apply({ op, header }, ++index, ops);
    for (const o of ops) {
      if (o.type === 'put') stored.set(o.key.toString('latin1'), Buffer.from(o.value));
      else if (o.type === 'del') stored.delete(o.key.toString('latin1'));
    }
    return out;
  };
  const ok = (op: AuthOp, header: AuthHeader = noUser) => {
    const out = apply(op, header);
    if (!out.ok) throw new Error(`${op.op} failed: ${out.error}`);
    return out.answer;
  };
  const engine = {
    async *iterateBatches(o: { gte?: Buffer; lt?: Buffer }) {
      const keys = [...stored.keys()].sort();
      for (const k of keys) if ((o.gte === undefined || k >= o.gte.toString('latin1')) && (o.lt === undefined || k < o.lt.toString('latin1'))) yield [[b(k), stored.get(k)!] as const];
    },
  };
  return { state, apply, ok, engine };
}

const intervals = suite('key interval set');

intervals('a point, a range and a from-key grant answer point and range lookups as etcd range-perm cache', () => {
  const set = new KeyIntervalSet([
    { begin: 'k1', end: 'k1\0' },
    { begin: '/r/', end: '/r0' },
    { begin: 'zz', end: null },
  ]);
  assert.ok(set.containsKey('k1'));
  assert.not.ok(set.containsKey('k2'));
  assert.ok(set.coversRange('/r/a', '/r/z'));
  assert.ok(set.coversRange('/r/', '/r0'));
  assert.not.ok(set.coversRange('/r', '/r0'));
  assert.not.ok(set.coversRange('/r/', '/r1'));
  assert.ok(set.coversRange('zz', null));
  assert.ok(set.coversRange('zzz', '~~~'));
  assert.not.ok(set.coversRange('z', null));
});

intervals('touching and overlapping grants merge, so a range spanning two grants is covered', () => {
  const set = new KeyIntervalSet([
    { begin: 'a', end: 'f' },
    { begin: 'f', end: 'k' },
    { begin: 'c', end: 'h' },
    { begin: 'm', end: 'p' },
  ]);
  assert.is(set.size, 2);
  assert.ok(set.coversRange('b', 'k'));
  assert.not.ok(set.coversRange('b', 'n'));
  assert.ok(set.containsKey('n'));
  assert.not.ok(set.containsKey('k'));
});

intervals.run();

const rules = suite('auth state rules');

rules('enable needs a root user holding the root role (etcd root user does not exist / does not have root role)', () => {
  const h = harness();
  assert.equal(h.apply({ op: 'enable' }), { ok: false, error: 'authRootUserNotExist' });
  h.ok({ op: 'userAdd', name: 'root', hashedPassword: 'x', noPassword: false });
  assert.equal(h.apply({ op: 'enable' }), { ok: false, error: 'authRootRoleNotExist' });
  h.ok({ op: 'userGrantRole', user: 'root', role: 'root' });
  h.ok({ op: 'enable' });
  assert.ok(h.state.enabled);
});

rules('each change advances the auth revision; reads and a no-op grant do not', () => {
  const h = harness();
  assert.is(h.state.revision, 1);
  h.ok({ op: 'roleAdd', name: 'r' });
  h.ok({ op: 'userAdd', name: 'u', hashedPassword: 'x', noPassword: false });
  h.ok({ op: 'userGrantRole', user: 'u', role: 'r' });
  assert.is(h.state.revision, 4);
  h.ok({ op: 'userGrantRole', user: 'u', role: 'r' });
  h.ok({ op: 'userList' });
  h.ok({ op: 'roleGet', role: 'r' });
  assert.is(h.state.revision, 4);
});

rules('with auth on: no user is refused as empty, a stale revision as old, a non-root admin call as denied', () => {
  const h = harness();
  h.ok({ op: 'userAdd', name: 'root', hashedPassword: 'x', noPassword: false });
  h.ok({ op: 'userGrantRole', user: 'root', role: 'root' });
  h.ok({ op: 'userAdd', name: 'u', hashedPassword: 'x', noPassword: false });
  h.ok({ op: 'enable' });
  const rootNow: AuthHeader = { user: 'root', revision: h.state.revision };
  const u: AuthHeader = { user: 'u', revision: h.state.revision };
  assert.is(h.state.refusal(noUser, b('a'), b(''), 'read'), 'authUserEmpty');
  assert.is(h.state.refusal(u, b('a'), b(''), 'read'), 'authPermissionDenied');
  assert.is(h.state.refusal(rootNow, b('a'), b(''), 'write'), undefined);
  assert.equal(h.apply({ op: 'roleAdd', name: 'x' }, u), { ok: false, error: 'authPermissionDenied' });
  assert.equal(h.apply({ op: 'roleAdd', name: 'x' }, noUser), { ok: false, error: 'authUserEmpty' });
  h.ok({ op: 'roleAdd', name: 'x' }, rootNow);
  assert.is(h.state.refusal(u, b('a'), b(''), 'read'), 'authOldRevision');
  assert.equal(h.apply({ op: 'userDelete', name: 'root' }, rootNow), { ok: false, error: 'authInvalidMgmt' });
  assert.equal(h.apply({ op: 'userRevokeRole', name: 'root', role: 'root' }, rootNow), { ok: false, error: 'authInvalidMgmt' });
  assert.equal(h.apply({ op: 'roleDelete', role: 'root' }, rootNow), { ok: false, error: 'authInvalidMgmt' });
});

rules('a role change applies to the checks made after it; deleting a role revokes it from its users', () => {
  const h = harness();
  h.ok({ op: 'userAdd', name: 'u', hashedPassword: 'x', noPassword: false });
  h.ok({ op: 'roleAdd', name: 'r' });
  h.ok({ op: 'userGrantRole', user: 'u', role: 'r' });
  h.ok({ op: 'userAdd', name: 'root', hashedPassword: 'x', noPassword: false });
  h.ok({ op: 'userGrantRole', user: 'root', role: 'root' });
  h.ok({ op: 'enable' });
  const root = (): AuthHeader => ({ user: 'root', revision: h.state.revision });
  const u = (): AuthHeader => ({ user: 'u', revision: h.state.revision });
  assert.is(h.state.refusal(u(), b('/p/1'), b(''), 'write'), 'authPermissionDenied');
  h.ok({ op: 'roleGrantPermission', name: 'r', permType: 2, key: '/p/', rangeEnd: '/p0' }, root());
  assert.is(h.state.refusal(u(), b('/p/1'), b(''), 'write'), undefined);
  assert.is(h.state.refusal(u(), b('/p/'), b('/p0'), 'read'), undefined);
  h.ok({ op: 'roleDelete', role: 'r' }, root());
  assert.is(h.state.refusal(u(), b('/p/1'), b(''), 'write'), 'authPermissionDenied');
  assert.equal(h.ok({ op: 'userGet', name: 'u' }, root()), { kind: 'roles', roles: [] });
});

rules('the state written through its ops loads back the same, enabled flag and revision included', async () => {
  const h = harness();
  h.ok({ op: 'userAdd', name: 'root', hashedPassword: 'x', noPassword: false });
  h.ok({ op: 'userGrantRole', user: 'root', role: 'root' });
  h.ok({ op: 'roleAdd', name: 'r' });
  h.ok({ op: 'roleGrantPermission', name: 'r', permType: 0, key: 'a', rangeEnd: '\0' });
  h.ok({ op: 'userAdd', name: 'u', hashedPassword: 'x', noPassword: false });
  h.ok({ op: 'userGrantRole', user: 'u', role: 'r' });
  h.ok({ op: 'enable' });
  const loaded = new AuthState(quietTokens);
  await loaded.load(h.engine);
  assert.ok(loaded.enabled);
  assert.is(loaded.revision, h.state.revision);
  const u: AuthHeader = { user: 'u', revision: loaded.revision };
  assert.is(loaded.refusal(u, b('b'), b('\0'), 'read'), undefined);
  assert.is(loaded.refusal(u, b('b'), b(''), 'write'), 'authPermissionDenied');
});

rules.run();

const encoding = suite('auth log entries');

encoding('an auth entry and a write with its auth header come back from their proposal bytes as they went in', () => {
  const commands: Command[] = [
    { type: 'auth', req: { op: { op: 'roleGrantPermission', name: 'r', permType: 1, key: '\xff\x00k', rangeEnd: '\0' }, header: { user: 'root', revision: 7 } } },
    { type: 'put', req: PutRequest.fromPartial({ key: b('k'), value: b('v') }), auth: { user: 'ünï', revision: 12 } },
    { type: 'put', req: PutRequest.fromPartial({ key: b('k'), value: b('v') }) },
  ];
  for (const c of commands) {
    const back = decodeProposal(3, 1, encodeProposal(9n, c)).command;
    assert.equal(back, c);
  }
});

encoding('a damaged auth entry is refused with a decode error, never guessed at', () => {
  const bytes = encodeProposal(1n, { type: 'auth', req: { op: { op: 'userList' }, header: noUser } });
  const damaged = Buffer.concat([bytes.subarray(0, 9), Buffer.from('{"op":{"op":"rm -rf"},"header":{"user":"","revision":0}}')]);
  assert.throws(() => decodeProposal(5, 1, damaged), /log entry 5/);
});

encoding.run();
