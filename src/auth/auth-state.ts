// etcd's auth store (auth/store.go): users, roles and their key permissions, the enabled flag and the
// auth revision. Changed only by applying auth log entries, in log order, on every member; each
// change also yields the engine writes that persist it (in the same batch as the applied mark).
// Permission checks read the per-user interval sets (key-intervals.ts), rebuilt on every change as
// etcd rebuilds its range-perm cache, so a check is a lookup and a change applies to the requests
// checked after it.
import { Permission, Role, User, type Permission as PermissionMessage } from '../gen/etcd/auth/authpb/auth.js';
import type { EtcdErrorKind } from '../core/errors.js';
import { keyBytes, toKey } from '../core/keys.js';
import type { Engine, WriteOp } from '../engines/engine.js';
import type { AuthHeader, AuthOp, AuthRequest, PermType } from './auth-op.js';
import { KeyIntervalSet, type KeyInterval } from './key-intervals.js';

export const rootUser = 'root';
export const rootRole = 'root';

// Engine layout (beside src/store/storage-keys.ts's k/l/m): a/enabled, a/revision, a/user/<name>
// (authpb.User), a/role/<name> (authpb.Role).
export const AUTH_PREFIX = Buffer.from('a/');
export const AUTH_END = Buffer.from('a0');
const ENABLED_KEY = Buffer.from('a/enabled');
const REVISION_KEY = Buffer.from('a/revision');
const USER_PREFIX = 'a/user/';
const ROLE_PREFIX = 'a/role/';
const userKey = (name: string): Buffer => Buffer.concat([Buffer.from(USER_PREFIX), Buffer.from(name, 'utf8')]);
const roleKey = (name: string): Buffer => Buffer.concat([Buffer.from(ROLE_PREFIX), Buffer.from(name, 'utf8')]);

export type AuthAnswer =
  | { readonly kind: 'done' }
  | { readonly kind: 'authenticated'; readonly user: string; readonly revision: number; readonly token: string }
  | { readonly kind: 'roles'; readonly roles: readonly string[] }
  | { readonly kind: 'users'; readonly users: readonly string[] }
  | { readonly kind: 'perms'; readonly perms: readonly PermissionMessage[] };

export type AuthOutcome = { readonly ok: true; readonly answer: AuthAnswer } | { readonly ok: false; readonly error: EtcdErrorKind };

/** What applying an auth entry tells the token provider (etcd's tokenProvider.assign/invalidateUser/disable). */
export interface TokenEvents {
  assigned(token: string, user: string, revision: number): void;
  userInvalidated(user: string): void;
  disabled(): void;
}

interface UserPerms {
  readonly read: KeyIntervalSet;
  readonly write: KeyIntervalSet;
}

export type PermissionKind = 'read' | 'write';

const done: AuthOutcome = { ok: true, answer: { kind: 'done' } };
const fail = (error: EtcdErrorKind): AuthOutcome => ({ ok: false, error });
const byName = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const byPermKey = (a: PermissionMessage, b: PermissionMessage): number => Buffer.compare(a.key, b.key);

/** A permission's interval as etcd's getMergedPerms reads it: no range_end is one key, "\0" no end. */
function intervalOf(p: PermissionMessage): KeyInterval {
  const begin = toKey(p.key);
  if (p.rangeEnd.length === 0) return { begin, end: begin + '\0' };
  if (p.rangeEnd.length === 1 && p.rangeEnd[0] === 0) return { begin, end: null };
  return { begin, end: toKey(p.rangeEnd) };
}

export class AuthState {
  private enabledFlag = false;
  /** etcd starts its auth revision at 1 (NewAuthStore commits one when there is none). */
  private rev = 1;
  private readonly users = new Map<string, User>();
  private readonly roles = new Map<string, Role>();
  private perms = new Map<string, UserPerms>();

  constructor(private readonly tokens: TokenEvents) {}

  get enabled(): boolean {
    return this.enabledFlag;
  }

  get revision(): number {
    return this.rev;
  }

  /** Reads the persisted auth state (at open, and again after a snapshot replaced the engine). */
  async load(engine: Pick<Engine, 'iterateBatches'>): Promise<void> {
    this.users.clear();
    this.roles.clear();
    this.enabledFlag = false;
    this.rev = 1;
    for await (const pairs of engine.iterateBatches({ gte: AUTH_PREFIX, lt: AUTH_END })) {
      for (const [key, value] of pairs) {
        const k = key.toString('utf8');
        if (k === 'a/enabled') this.enabledFlag = value[0] === 1;
        else if (k === 'a/revision') this.rev = Number(value.readBigUInt64BE(0));
        else if (k.startsWith(USER_PREFIX)) this.users.set(k.slice(USER_PREFIX.length), User.decode(value));
        else if (k.startsWith(ROLE_PREFIX)) this.roles.set(k.slice(ROLE_PREFIX.length), Role.decode(value));
      }
    }
    this.refreshPerms();
  }

  /** The user's bcrypt hash, or why there is none to check (etcd's CheckPassword before the proposal). */
  passwordOf(name: string): { readonly ok: true; readonly hash: string } | { readonly ok: false; readonly error: EtcdErrorKind } {
    if (!this.enabledFlag) return { ok: false, error: 'authNotEnabled' };
    const user = this.users.get(name);
    if (user === undefined) return { ok: false, error: 'authFailed' };
    // etcd: ErrNoPasswordUser, which its gRPC layer reports as the plain authentication failure.
    if (user.options?.noPassword === true) return { ok: false, error: 'authFailed' };
    return { ok: true, hash: user.password.toString('latin1') };
  }

  userExists(name: string): boolean {
    return this.users.has(name);
  }

  hasRole(user: string, role: string): boolean {
    return this.users.get(user)?.roles.includes(role) ?? false;
  }

  /** etcd's IsAdminPermitted. */
  adminRefusal(h: AuthHeader): EtcdErrorKind | undefined {
    if (!this.enabledFlag) return undefined;
    if (h.user === '') return 'authUserEmpty';
    const user = this.users.get(h.user);
    if (user === undefined) return 'authUserNotFound';
    return user.roles.includes(rootRole) ? undefined : 'authPermissionDenied';
  }

  /**
   * etcd's isOpPermitted for [key, rangeEnd) (rangeEnd empty: the one key; "\0": every key from
   * key): undefined when permitted.
   */
  refusal(h: AuthHeader, key: Uint8Array, rangeEnd: Uint8Array, kind: PermissionKind): EtcdErrorKind | undefined {
    if (!this.enabledFlag) return undefined;
    if (h.revision === 0) return 'authUserEmpty';
    if (h.revision < this.rev) return 'authOldRevision';
    const user = this.users.get(h.user);
    if (user === undefined) return 'authPermissionDenied';
    if (user.roles.includes(rootRole)) return undefined;
    const perms = this.perms.get(h.user);
    if (perms === undefined) return 'authPermissionDenied';
    const set = kind === 'read' ? perms.read : perms.write;
    const begin = toKey(key);
    if (rangeEnd.length === 0) return set.containsKey(begin) ? undefined : 'authPermissionDenied';
    const end = rangeEnd.length === 1 && rangeEnd[0] === 0 ? null : toKey(rangeEnd);
    return set.coversRange(begin, end) ? undefined : 'authPermissionDenied';
  }

  /** Applies one auth entry; `ops` receives the engine writes that persist its change. */
  apply(req: AuthRequest, logIndex: number, ops: WriteOp[]): AuthOutcome {
    const { op, header } = req;
    if (needsAdmin(op)) {
      const refused = this.adminRefusal(header);
      if (refused !== undefined) return fail(refused);
    }
    const outcome = this.applyOp(op, header, logIndex, ops);
    return outcome;
  }

  private applyOp(op: AuthOp, header: AuthHeader, logIndex: number, ops: WriteOp[]): AuthOutcome {
    switch (op.op) {
      case 'enable': {
        if (this.enabledFlag) return done;
        const root = this.users.get(rootUser);
        if (root === undefined) return fail('authRootUserNotExist');
        if (!root.roles.includes(rootRole)) return fail('authRootRoleNotExist');
        this.enabledFlag = true;
        ops.push({ type: 'put', key: ENABLED_KEY, value: Buffer.from([1]) });
        return done;
      }
      case 'disable':
        if (!this.enabledFlag) return done;
        this.enabledFlag = false;
        ops.push({ type: 'put', key: ENABLED_KEY, value: Buffer.from([0]) });
        this.commitRevision(ops);
        this.tokens.disabled();
        return done;
      case 'authenticate': {
        if (!this.enabledFlag) return fail('authNotEnabled');
        const user = this.users.get(op.name);
        if (user === undefined || user.options?.noPassword === true) return fail('authFailed');
        // etcd's simple token: the proposer's random prefix and the entry's index.
        const token = op.tokenPrefix === '' ? '' : `${op.tokenPrefix}.${logIndex}`;
        if (token !== '') this.tokens.assigned(token, op.name, this.rev);
        return { ok: true, answer: { kind: 'authenticated', user: op.name, revision: this.rev, token } };
      }
      case 'userAdd': {
        if (op.name.length === 0) return fail('authUserEmpty');
        if (this.users.has(op.name)) return fail('authUserAlreadyExist');
        const user: User = { name: Buffer.from(op.name, 'utf8'), password: Buffer.from(op.noPassword ? '' : op.hashedPassword, 'latin1'), roles: [], options: { noPassword: op.noPassword } };
        this.putUser(user, ops);
        return this.changed(ops);
      }
      case 'userGet': {
        // etcd: an admin, or the user asking about itself.
        if (this.adminRefusal(header) !== undefined && op.name !== header.user) return fail(this.adminRefusal(header)!);
        const user = this.users.get(op.name);
        if (user === undefined) return fail('authUserNotFound');
        return { ok: true, answer: { kind: 'roles', roles: [...user.roles] } };
      }
      case 'userList':
        return { ok: true, answer: { kind: 'users', users: [...this.users.keys()].sort(byName) } };
      case 'userDelete': {
        if (this.enabledFlag && op.name === rootUser) return fail('authInvalidMgmt');
        if (!this.users.has(op.name)) return fail('authUserNotFound');
        this.users.delete(op.name);
        ops.push({ type: 'del', key: userKey(op.name) });
        this.tokens.userInvalidated(op.name);
        return this.changed(ops);
      }
      case 'userChangePassword': {
        const user = this.users.get(op.name);
        if (user === undefined) return fail('authUserNotFound');
        this.putUser({ ...user, password: Buffer.from(op.hashedPassword, 'latin1') }, ops);
        this.tokens.userInvalidated(op.name);
        return this.changed(ops);
      }
      case 'userGrantRole': {
        const user = this.users.get(op.user);
        if (user === undefined) return fail('authUserNotFound');
        if (op.role !== rootRole && !this.roles.has(op.role)) return fail('authRoleNotFound');
        if (user.roles.includes(op.role)) return done;
        this.putUser({ ...user, roles: [...user.roles, op.role].sort() }, ops);
        return this.changed(ops);
      }
      case 'userRevokeRole': {
        if (this.enabledFlag && op.name === rootUser && op.role === rootRole) return fail('authInvalidMgmt');
        const user = this.users.get(op.name);
        if (user === undefined) return fail('authUserNotFound');
        if (!user.roles.includes(op.role)) return fail('authRoleNotGranted');
        this.putUser({ ...user, roles: user.roles.filter((r) => r !== op.role) }, ops);
        return this.changed(ops);
      }
      case 'roleAdd': {
        if (op.name.length === 0) return fail('authRoleEmpty');
        if (this.roles.has(op.name)) return fail('authRoleAlreadyExist');
        this.putRole({ name: Buffer.from(op.name, 'utf8'), keyPermission: [] }, ops);
        // etcd commits the revision but leaves the perm cache: a new role has no permissions.
        this.commitRevision(ops);
        return done;
      }
      case 'roleGet': {
        if (this.adminRefusal(header) !== undefined && !this.hasRole(header.user, op.role)) return fail(this.adminRefusal(header)!);
        const role = this.roles.get(op.role);
        if (role === undefined) return fail('authRoleNotFound');
        return { ok: true, answer: { kind: 'perms', perms: role.keyPermission.map((p) => ({ ...p })) } };
      }
      case 'roleList':
        return { ok: true, answer: { kind: 'roles', roles: [...this.roles.keys()].sort(byName) } };
      case 'roleDelete': {
        if (this.enabledFlag && op.role === rootRole) return fail('authInvalidMgmt');
        if (!this.roles.has(op.role)) return fail('authRoleNotFound');
        this.roles.delete(op.role);
        ops.push({ type: 'del', key: roleKey(op.role) });
        for (const user of [...this.users.values()]) {
          if (user.roles.includes(op.role)) this.putUser({ ...user, roles: user.roles.filter((r) => r !== op.role) }, ops);
        }
        return this.changed(ops);
      }
      case 'roleGrantPermission': {
        const role = this.roles.get(op.name);
        if (role === undefined) return fail('authRoleNotFound');
        const key = keyBytes(op.key);
        const rangeEnd = keyBytes(op.rangeEnd);
        const same = role.keyPermission.findIndex((p) => p.key.equals(key) && p.rangeEnd.equals(rangeEnd));
        const perms = role.keyPermission.map((p) => ({ ...p }));
        // etcd updates the type of a grant on the very same range, else adds one (sorted by key).
        if (same >= 0) perms[same] = { ...perms[same]!, permType: op.permType };
        else perms.push(Permission.fromPartial({ key, rangeEnd, permType: op.permType }));
        perms.sort(byPermKey);
        this.putRole({ ...role, keyPermission: perms }, ops);
        return this.changed(ops);
      }
      case 'roleRevokePermission': {
        const role = this.roles.get(op.role);
        if (role === undefined) return fail('authRoleNotFound');
        const key = keyBytes(op.key);
        const rangeEnd = keyBytes(op.rangeEnd);
        const kept = role.keyPermission.filter((p) => !p.key.equals(key) || !p.rangeEnd.equals(rangeEnd));
        if (kept.length === role.keyPermission.length) return fail('authPermissionNotGranted');
        this.putRole({ ...role, keyPermission: kept }, ops);
        return this.changed(ops);
      }
    }
  }

  private putUser(user: User, ops: WriteOp[]): void {
    const name = user.name.toString('utf8');
    this.users.set(name, user);
    ops.push({ type: 'put', key: userKey(name), value: Buffer.from(User.encode(user).finish()) });
  }

  private putRole(role: Role, ops: WriteOp[]): void {
    const name = role.name.toString('utf8');
    this.roles.set(name, role);
    ops.push({ type: 'put', key: roleKey(name), value: Buffer.from(Role.encode(role).finish()) });
  }

  private commitRevision(ops: WriteOp[]): void {
    this.rev++;
    const value = Buffer.alloc(8);
    value.writeBigUInt64BE(BigInt(this.rev));
    ops.push({ type: 'put', key: REVISION_KEY, value });
  }

  private changed(ops: WriteOp[]): AuthOutcome {
    this.commitRevision(ops);
    this.refreshPerms();
    return done;
  }

  private refreshPerms(): void {
    const perms = new Map<string, UserPerms>();
    for (const [name, user] of this.users) {
      const read: KeyInterval[] = [];
      const write: KeyInterval[] = [];
      for (const roleName of user.roles) {
        for (const p of this.roles.get(roleName)?.keyPermission ?? []) {
          const ivl = intervalOf(p);
          if (p.permType === 0 || p.permType === 2) read.push(ivl);
          if (p.permType === 1 || p.permType === 2) write.push(ivl);
        }
      }
      perms.set(name, { read: new KeyIntervalSet(read), write: new KeyIntervalSet(write) });
    }
    this.perms = perms;
  }
}

/** etcd's needAdminPermission: every auth change and the two lists. */
function needsAdmin(op: AuthOp): boolean {
  return op.op !== 'authenticate' && op.op !== 'userGet' && op.op !== 'roleGet';
}

export type { PermType };
