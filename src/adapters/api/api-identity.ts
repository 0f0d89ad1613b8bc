// Who an /api request acts as, resolved once per request (and per watch socket) before anything
// touches the store, and what that caller may do. With auth off everyone is anonymous and may do
// anything, as with etcd before `auth enable`. With auth on, the caller is found as the gRPC side
// finds it (AuthFront.caller): a token in `Authorization: Bearer <token>` (or the bare token, as
// etcd's gateway takes it, or a `token` header), or `Authorization: Basic` user:password,
// authenticated like etcd's Authenticate RPC. Reads are checked against the caller's read
// permission before they run, writes carry the caller and are checked when applied (as gRPC's),
// and locks and elections (/api's own rule) need the root role; their recipes' writes carry the caller too.
import type { IncomingMessage } from 'node:http';
import type { ServerApi } from '../../core/kv-api.js';
import { noUser, type AuthHeader } from '../../auth/auth-op.js';
import { ApiError } from './api-errors.js';
import { CredentialCache } from './api-credential-cache.js';

/** What a resolved caller may do; every check is a no-op while auth is off. */
export interface ApiAccess {
  /** Goes with writes (put, delete, txn), which the store checks when it applies them. */
  readonly header: AuthHeader | undefined;
  /** Throws (403) unless the caller may read [key, rangeEnd) (etcd's range conventions). */
  requireRead(key: Uint8Array, rangeEnd: Uint8Array): void;
  /** Throws (403) unless the caller has the root role. */
  requireAdmin(): void;
}

export const unrestricted: ApiAccess = { header: undefined, requireRead: () => undefined, requireAdmin: () => undefined };

/** The checks for a resolved identity against the server's auth as it stands now. */
export function accessOf(api: ServerApi, id: ApiIdentity): ApiAccess {
  const auth = api.auth;
  if (auth === undefined) return unrestricted;
  // An anonymous write still carries a header (user ""), as gRPC's do: applied after `auth enable`, it is refused.
  if (id.kind === 'anonymous') return { ...unrestricted, header: noUser };
  const h = id.header;
  return {
    header: h,
    requireRead: (key, rangeEnd) => auth.requirePermission(h, key, rangeEnd, 'read'),
    requireAdmin: () => auth.requireAdmin(h),
  };
}

/** Who a request acts as. `anonymous`: auth is off. `header` goes with writes, as gRPC's does. */
export type ApiIdentity = { readonly kind: 'anonymous' } | { readonly kind: 'user'; readonly user: string; readonly header: AuthHeader };

export type IdentityResolver = (req: IncomingMessage) => Promise<ApiIdentity>;

export const anonymous: ApiIdentity = { kind: 'anonymous' };

/** Auth off: every caller is anonymous and may do anything. */
export const noAuth: IdentityResolver = async () => anonymous;

/**
 * The resolver for a server: anonymous while auth is disabled, the authenticated user while it is
 * enabled (401 without one). Basic credentials are verified once and reused briefly (CredentialCache).
 */
export function authIdentity(api: ServerApi, credentials: CredentialCache = new CredentialCache()): IdentityResolver {
  return async (req) => {
    const auth = api.auth?.enabled === true ? api.auth : undefined;
    if (auth === undefined) return anonymous;
    const given = req.headers.authorization ?? (typeof req.headers.token === 'string' ? req.headers.token : undefined);
    let token: string | undefined;
    if (given !== undefined) {
      const basic = /^Basic\s+(.+)$/i.exec(given);
      if (basic !== null) {
        const text = Buffer.from(basic[1] ?? '', 'base64').toString('utf8');
        const colon = text.indexOf(':');
        if (colon === -1) throw new ApiError(401, 'unauthenticated', 'Basic credentials must be user:password');
        const user = text.slice(0, colon);
        const password = text.slice(colon + 1);
        const cached = credentials.get(user, password, auth.state.revision);
        if (cached !== undefined) {
          try {
            return userIdentity(await auth.caller({ token: cached }));
          } catch {
            // the token expired or was dropped: authenticate again below
            credentials.forget(user, password);
          }
        }
        const revision = auth.state.revision;
        token = await auth.authenticate(user, password);
        const header = await auth.caller({ token });
        // cached at the revision checked before authenticating: a change in between drops it on next use
        if (header.user !== '') credentials.set(user, password, revision, token);
        return userIdentity(header);
      } else {
        token = given.replace(/^Bearer\s+/i, '');
      }
    }
    return userIdentity(await auth.caller(token === undefined ? {} : { token }));
  };
}

function userIdentity(header: AuthHeader): ApiIdentity {
  if (header.user === '') throw new ApiError(401, 'unauthenticated', 'auth is enabled: send Authorization: Bearer <token> or Basic user:password');
  return { kind: 'user', user: header.user, header };
}
