// etcd's doSerialize for reads served without a log entry: check, read, then refuse with
// authOldRevision when the auth store changed while the read was served (its answer may hold what the
// caller may no longer see). etcd waits for a linearizable read's barrier before the check; here the
// barrier is inside the read, so the check is made again after it, against the auth state the barrier
// brought this member up to. A read that started with auth off is checked after it when the barrier
// brought `auth enable` in.
import { EtcdError, type EtcdErrorKind } from '../core/errors.js';
import type { AuthHeader } from './auth-op.js';
import type { AuthFront } from './auth-front.js';
import type { PermissionCheck } from './request-permissions.js';

export type ReadRefusal = (check: PermissionCheck, h: AuthHeader) => EtcdErrorKind | undefined;

/**
 * `caller` resolves who reads (only asked when a check is due, so the unauthenticated path pays
 * nothing); `current` brings a header resolved earlier to the auth state now.
 */
export function checkedRead<T>(auth: AuthFront, caller: () => Promise<AuthHeader>, refusal: ReadRefusal, read: () => Promise<T>): Promise<T> {
  // Auth off: every read takes this path, so it adds no async frame of its own.
  if (!auth.enabled) return read().then((result) => (auth.enabled ? checkedAfterEnable(auth, caller, refusal, result) : result));
  return checkedWhileEnabled(auth, caller, refusal, read);
}

/** A read that started with auth off while `auth enable` came in: checked against the caller now. */
async function checkedAfterEnable<T>(auth: AuthFront, caller: () => Promise<AuthHeader>, refusal: ReadRefusal, result: T): Promise<T> {
  auth.require(refusal(auth.check, auth.current(await caller())));
  return result;
}

async function checkedWhileEnabled<T>(auth: AuthFront, caller: () => Promise<AuthHeader>, refusal: ReadRefusal, read: () => Promise<T>): Promise<T> {
  const h = await caller();
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

/** A refusal that depends on what a read answered. */
export type AnswerRefusal<T> = (check: PermissionCheck, h: AuthHeader, answer: T) => EtcdErrorKind | undefined;

/**
 * A read whose check depends on its answer (a lease's keys, which a follower gets from the leader's
 * table, not its own): an invalid token is refused before reading, the answer is checked after it,
 * against the auth state then, so nothing the answer holds is shown unchecked.
 */
export async function checkedAnswer<T>(auth: AuthFront, caller: () => Promise<AuthHeader>, refusal: AnswerRefusal<T>, read: () => Promise<T>): Promise<T> {
  const before = auth.enabled ? await caller() : undefined;
  const result = await read();
  if (!auth.enabled) return result;
  auth.require(refusal(auth.check, auth.current(before ?? (await caller())), result));
  return result;
}
