// The permission checks the gRPC services make, as etcd's v3_server and v3rpc make them. Each
// helper starts with the one test the unauthenticated path pays (`auth.enabled`).
import type { ServerApi } from '../../core/kv-api.js';
import { EtcdError, type EtcdErrorKind } from '../../core/errors.js';
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
 * etcd's doSerialize: check, read, then refuse with authOldRevision when the auth store changed
 * while the read was served (its answer may hold what the caller may no longer see).
 */
export async function serveChecked<T>(api: ServerApi, call: CallContext, refusal: (check: PermissionCheck, h: AuthHeader) => EtcdErrorKind | undefined, read: () => Promise<T>): Promise<T> {
  const auth = enabledAuth(api);
  if (auth === undefined) return read();
  const h = await auth.caller(call.metadata, call.verifiedCommonName);
  auth.require(refusal(auth.check, h));
  const result = await read();
  if (h.revision !== 0 && h.revision !== auth.state.revision) throw new EtcdError('authOldRevision');
  return result;
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
