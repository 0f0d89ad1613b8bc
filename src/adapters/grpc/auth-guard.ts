// The permission checks the gRPC services make, as etcd's v3_server and v3rpc make them. Each
// helper starts with the one test the unauthenticated path pays (`auth.enabled`).
import type { ServerApi } from '../../core/kv-api.js';
import { EtcdError, isEtcdError, type EtcdErrorKind } from '../../core/errors.js';
import { prefixEnd } from '../../core/keys.js';
import { GrpcStatusError } from './error-status.js';
import { Status } from './grpc-codes.js';
import type { AuthHeader } from '../../auth/auth-op.js';
import type { AuthFront } from '../../auth/auth-front.js';
import type { PermissionCheck } from '../../auth/request-permissions.js';
import type { CallContext } from './server-call.js';

/** The auth front when auth is enabled, else undefined. */
export const enabledAuth = (api: ServerApi): AuthFront | undefined => (api.auth?.enabled === true ? api.auth : undefined);

/** The caller of a call when auth is enabled (rejects with authInvalidToken), else undefined. */
export function callerOf(api: ServerApi, call: CallContext): Promise<AuthHeader> | undefined {
  const auth = enabledAuth(api);
  return auth?.caller(call.metadata, call.verifiedCommonName);
}

/**
 * The header a client's write is proposed with whenever the server has auth, enabled or not (etcd
 * puts one on every entry: user "" without auth info). The apply checks it against the auth state
 * the entry meets, so a write proposed before `auth enable` and applied after it is refused
 * (authUserEmpty) instead of passing unchecked. Undefined only for a server without auth.
 */
export function writeHeaderOf(api: ServerApi, call: CallContext): Promise<AuthHeader> | undefined {
  return api.auth?.caller(call.metadata, call.verifiedCommonName);
}

/**
 * etcd's doSerialize: check, read, then refuse with authOldRevision when the auth store changed
 * while the read was served (its answer may hold what the caller may no longer see). etcd waits for
 * a linearizable read's barrier before the check; here the barrier is inside the read, so the check
 * is made again after it, against the auth state the barrier brought this member up to. A read that
 * started with auth off is checked after it when the barrier brought `auth enable` in.
 */
export function serveChecked<T>(api: ServerApi, call: CallContext, refusal: (check: PermissionCheck, h: AuthHeader) => EtcdErrorKind | undefined, read: () => Promise<T>): Promise<T> {
  const auth = api.auth;
  // Auth off: every get takes this path, so it adds no async frame of its own.
  if (auth === undefined) return read();
  if (!auth.enabled) return read().then((result) => (auth.enabled ? checkedAfterEnable(auth, call, refusal, result) : result));
  return serveCheckedEnabled(auth, call, refusal, read);
}

/** A read that started with auth off while `auth enable` came in: checked against the caller now. */
async function checkedAfterEnable<T>(auth: AuthFront, call: CallContext, refusal: (check: PermissionCheck, h: AuthHeader) => EtcdErrorKind | undefined, result: T): Promise<T> {
  auth.require(refusal(auth.check, await auth.caller(call.metadata, call.verifiedCommonName)));
  return result;
}

async function serveCheckedEnabled<T>(auth: AuthFront, call: CallContext, refusal: (check: PermissionCheck, h: AuthHeader) => EtcdErrorKind | undefined, read: () => Promise<T>): Promise<T> {
  const h = await auth.caller(call.metadata, call.verifiedCommonName);
  auth.require(refusal(auth.check, h));
  const revisionBefore = auth.state.revision;
  const result = await read();
  if (auth.state.revision !== revisionBefore) {
    const now = auth.current(h);
    auth.require(refusal(auth.check, now));
    if (now.revision !== 0 && now.revision !== auth.state.revision) throw new EtcdError('authOldRevision');
  }
  return result;
}

/**
 * etcd's authMaintenanceServer returns auth's own errors without togRPCError: grpc-go sends them as
 * UNKNOWN with auth's texts.
 */
const rawAuthTexts: Partial<Record<EtcdErrorKind, string>> = {
  authUserEmpty: 'auth: user name is empty',
  authUserNotFound: 'auth: user not found',
  authPermissionDenied: 'auth: permission denied',
  authInvalidToken: 'auth: invalid auth token',
};

/** Maintenance's admin check (Defragment, Snapshot, Hash, HashKV), with its errors as etcd sends them. */
export async function requireMaintenanceAdmin(api: ServerApi, call: CallContext): Promise<void> {
  try {
    await requireAdmin(api, call);
  } catch (e) {
    const text = isEtcdError(e) ? rawAuthTexts[e.kind] : undefined;
    if (text === undefined) throw e;
    throw new GrpcStatusError({ code: Status.UNKNOWN, details: text });
  }
}

/** etcd's IsAdminPermitted for maintenance and membership calls. */
export async function requireAdmin(api: ServerApi, call: CallContext): Promise<void> {
  const auth = enabledAuth(api);
  if (auth === undefined) return;
  auth.requireAdmin(await auth.caller(call.metadata, call.verifiedCommonName));
}

/** A check against the caller: resolves when permitted (or auth is off), rejects with the refusal. */
export async function requirePermitted(api: ServerApi, call: CallContext, refusal: (check: PermissionCheck, h: AuthHeader) => EtcdErrorKind | undefined): Promise<void> {
  const auth = enabledAuth(api);
  if (auth === undefined) return;
  auth.require(refusal(auth.check, await auth.caller(call.metadata, call.verifiedCommonName)));
}


/**
 * The Lock and Election services run etcd's client recipes with the caller's credentials: they read
 * and write keys under `name/` (the recipe's prefix), and delete the key they were given.
 */
export function recipeRefusal(name: Uint8Array, kinds: readonly ('read' | 'write')[]): (check: PermissionCheck, h: AuthHeader) => EtcdErrorKind | undefined {
  const prefix = Buffer.concat([Buffer.from(name), Buffer.from('/')]);
  const end = prefixEnd(prefix);
  return (check, h) => {
    for (const kind of kinds) {
      const refused = check(h, prefix, end, kind);
      if (refused !== undefined) return refused;
    }
    return undefined;
  };
}

export function keyWriteRefusal(key: Uint8Array): (check: PermissionCheck, h: AuthHeader) => EtcdErrorKind | undefined {
  return (check, h) => check(h, key, new Uint8Array(0), 'write');
}

/**
 * Proclaim: the election's prefix, and the leader key it writes (a client names that key, so it
 * must not reach outside what the caller may write; etcd's recipe writes it with the caller's token).
 */
export function proclaimRefusal(name: Uint8Array, leaderKey: Uint8Array): (check: PermissionCheck, h: AuthHeader) => EtcdErrorKind | undefined {
  const onPrefix = recipeRefusal(name, ['read', 'write']);
  return (check, h) => onPrefix(check, h) ?? check(h, leaderKey, new Uint8Array(0), 'read') ?? check(h, leaderKey, new Uint8Array(0), 'write');
}
