// A store on a scripted log (a test decides when entries commit and how they are batched) with a real
// auth front whose own entries apply at once, outside the log: for tests of the apply-time checks.
import { LeaseTable } from '../../src/actors/lease-table.js';
import { AuthFront } from '../../src/auth/auth-front.js';
import { noUser, type AuthHeader, type AuthRequest, type PermType } from '../../src/auth/auth-op.js';
import type { AuthAnswer } from '../../src/auth/auth-state.js';
import { SimpleTokens } from '../../src/auth/simple-tokens.js';
import type { AskedLeaseKeys } from '../../src/auth/request-permissions.js';
import { EtcdError } from '../../src/core/errors.js';
import { openStore, type OpenStore } from './store-harness.js';
import { ScriptedLog } from '../log/scripted-log.js';
import { ManualTimers } from './manual-timers.js';

/** A real auth front whose own entries apply at once (no log), simple tokens, passwords kept in plain. */
export function selfApplyingAuthFront(leaseKeys: AskedLeaseKeys = () => undefined): AuthFront {
  let index = 0;
  const front: AuthFront = new AuthFront({
    provider: { kind: 'simple', tokens: new SimpleTokens({ ttlMs: 60_000, nowMs: () => 0, random: Math.random }) },
    hasher: { hash: async (p: string) => `plain:${p}`, matches: async (p: string, h: string) => h === `plain:${p}` },
    propose: async (req: AuthRequest): Promise<AuthAnswer> => {
      const out = front.apply(req, ++index, []);
      if (!out.ok) throw new EtcdError(out.error);
      return out.answer;
    },
    leaseKeys,
    clientCertAuth: false,
  });
  return front;
}

/** A grant of alice's one role (permType as authpb: 0 read, 1 write, 2 readwrite). */
export interface AliceGrant {
  readonly role: string;
  readonly permType: PermType;
  readonly key: string;
  readonly rangeEnd: string;
}

/** root (root role) and alice (password apw) holding `grant`; auth stays as it was. */
export async function addRootAndAlice(front: AuthFront, grant: AliceGrant): Promise<void> {
  await front.userAdd(noUser, 'root', 'rootpw', false);
  await front.request(noUser, { op: 'userGrantRole', user: 'root', role: 'root' });
  await front.request(noUser, { op: 'roleAdd', name: grant.role });
  await front.request(noUser, { op: 'roleGrantPermission', name: grant.role, permType: grant.permType, key: grant.key, rangeEnd: grant.rangeEnd });
  await front.userAdd(noUser, 'alice', 'apw', false);
  await front.request(noUser, { op: 'userGrantRole', user: 'alice', role: grant.role });
}

export interface AuthedStore {
  readonly log: ScriptedLog;
  readonly front: AuthFront;
  readonly store: OpenStore['store'];
  readonly leases: LeaseTable;
  /** `user` as a simple token resolves now. */
  as(user: string): AuthHeader;
}

/**
 * Users: root (root role); alice, with readwrite on keys from "a" up to "b" (role a-rw). Auth is
 * left disabled. `open` collects the store for the caller to close.
 */
export async function openAuthed(dir: string, open: OpenStore[]): Promise<AuthedStore> {
  const log = new ScriptedLog();
  const leases = new LeaseTable({ minTtlSeconds: 1, clock: new ManualTimers() });
  const front = selfApplyingAuthFront((id) => leases.keysOf(id));
  const s = await openStore({ engine: 'memory', shards: 1, placement: 'main' }, dir, { revisionLog: log, leases, hooks: { auth: front } });
  open.push(s);
  await addRootAndAlice(front, { role: 'a-rw', permType: 2, key: 'a', rangeEnd: 'b' });
  const f = front;
  return { log, front: f, store: s.store, leases, as: (user) => ({ user, revision: f.state.revision }) };
}

/** Lets proposals reach the scripted log. */
export const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};
