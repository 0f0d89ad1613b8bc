// The permission checks the gRPC services make, as etcd's v3_server and v3rpc make them. Each
// read helper starts with the one test an unauthenticated read pays (`auth.enabled`); writes resolve their caller (writeHeaderOf).
import type { ServerApi } from '../../core/kv-api.js';
import { isEtcdError, type EtcdErrorKind } from '../../core/errors.js';
import type { RecipeCaller } from '../../core/concurrency-api.js';
import { GrpcStatusError } from './error-status.js';
import { Status } from './grpc-codes.js';
import type { AuthHeader } from '../../auth/auth-op.js';
import type { AuthFront } from '../../auth/auth-front.js';
import { checkedAnswer, checkedRead, type AnswerRefusal, type ReadRefusal } from '../../auth/checked-read.js';
import { recipeCaller } from '../../auth/recipe-caller.js';
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
export function writeHeaderOf(api: ServerApi, call: CallContext): AuthHeader | Promise<AuthHeader> | undefined {
  const auth = api.auth;
  if (auth === undefined) return undefined;
  // Without a token the caller is known at once: no promise per write.
  return auth.callerWithoutToken(call.metadata, call.verifiedCommonName) ?? auth.caller(call.metadata, call.verifiedCommonName);
}

/** etcd's doSerialize for a client's read (see checkedRead). */
export function serveChecked<T>(api: ServerApi, call: CallContext, refusal: ReadRefusal, read: () => Promise<T>): Promise<T> {
  const auth = api.auth;
  // Auth off: every get takes this path, so it adds no async frame of its own.
  if (auth === undefined) return read();
  return checkedRead(auth, () => auth.caller(call.metadata, call.verifiedCommonName), refusal, read);
}

/** A client's read checked on what it answers (see checkedAnswer). */
export function serveCheckedAnswer<T>(api: ServerApi, call: CallContext, refusal: AnswerRefusal<T>, read: () => Promise<T>): Promise<T> {
  const auth = api.auth;
  if (auth === undefined) return read();
  return checkedAnswer(auth, () => auth.caller(call.metadata, call.verifiedCommonName), refusal, read);
}

/**
 * Who a Lock or Election call runs for: its recipe's writes carry the caller's header and are checked
 * when applied, its reads are checked as a client's (etcd runs the recipes with the caller's context;
 * v3lock and v3election check nothing themselves). A bad token is refused here, as etcd refuses it on
 * the recipe's first request.
 */
export async function recipeCallerOf(api: ServerApi, call: CallContext): Promise<RecipeCaller> {
  return recipeCaller(api.auth, await writeHeaderOf(api, call));
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

/** Rethrows auth's errors as etcd's maintenance server lets them through. */
async function withRawAuthErrors(check: Promise<unknown>): Promise<void> {
  try {
    await check;
  } catch (e) {
    const text = isEtcdError(e) ? rawAuthTexts[e.kind] : undefined;
    if (text === undefined) throw e;
    throw new GrpcStatusError({ code: Status.UNKNOWN, details: text });
  }
}

/** Maintenance's admin check (Defragment, Snapshot, Hash, HashKV), with its errors as etcd sends them. */
export function requireMaintenanceAdmin(api: ServerApi, call: CallContext): Promise<void> {
  return withRawAuthErrors(requireAdmin(api, call));
}

/**
 * etcd resolves the caller of every request it proposes (raftRequest's AuthInfoFromCtx), auth on or
 * off, even when nothing is checked against it (LeaseGrant, Alarm): a token sent must be valid.
 * Rejects with authInvalidToken; no token costs no lookup.
 */
export async function requireValidToken(api: ServerApi, call: CallContext): Promise<void> {
  await writeHeaderOf(api, call);
}

/** requireValidToken for Alarm: etcd's maintenance server sends auth's error raw (UNKNOWN, `auth: invalid auth token`). */
export function requireValidTokenForMaintenance(api: ServerApi, call: CallContext): Promise<void> {
  return withRawAuthErrors(requireValidToken(api, call));
}

/** etcd's IsAdminPermitted for maintenance and membership calls. */
export async function requireAdmin(api: ServerApi, call: CallContext): Promise<void> {
  const auth = enabledAuth(api);
  if (auth === undefined) return;
  auth.requireAdmin(await auth.caller(call.metadata, call.verifiedCommonName));
}
