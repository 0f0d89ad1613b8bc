// Who an /api request acts as, resolved once per request (and per watch socket) before anything
// touches the store. With auth off everyone is anonymous, as with etcd before `auth enable`. With
// auth on, the caller is found as the gRPC side finds it (AuthFront.caller): a token in
// `Authorization: Bearer <token>` (or the bare token, as etcd's gateway takes it, or a `token`
// header), or `Authorization: Basic` user:password, authenticated like etcd's Authenticate RPC.
//
// Per-key permissions are not wired into the /api routes yet, so with auth on /api fails closed:
// only users with the root role (etcd's admin check) are served; others get 403.
import type { IncomingMessage } from 'node:http';
import type { ServerApi } from '../../core/kv-api.js';
import type { AuthHeader } from '../../auth/auth-op.js';
import { ApiError } from './api-errors.js';

/** Who a request acts as. `anonymous`: auth is off. `header` goes with writes, as gRPC's does. */
export type ApiIdentity = { readonly kind: 'anonymous' } | { readonly kind: 'user'; readonly user: string; readonly header: AuthHeader };

export type IdentityResolver = (req: IncomingMessage) => Promise<ApiIdentity>;

export const anonymous: ApiIdentity = { kind: 'anonymous' };

/** Auth off: every caller is anonymous and may do anything. */
export const noAuth: IdentityResolver = async () => anonymous;

/** The auth header a write carries: undefined when auth is off. */
export const authHeaderOf = (id: ApiIdentity): AuthHeader | undefined => (id.kind === 'user' ? id.header : undefined);

/** The resolver for a server: anonymous while auth is disabled, root-only while it is enabled. */
export function authIdentity(api: ServerApi): IdentityResolver {
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
        token = await auth.authenticate(text.slice(0, colon), text.slice(colon + 1));
      } else {
        token = given.replace(/^Bearer\s+/i, '');
      }
    }
    const header = await auth.caller(token === undefined ? {} : { token });
    if (header.user === '') throw new ApiError(401, 'unauthenticated', 'auth is enabled: send Authorization: Bearer <token> or Basic user:password');
    auth.requireAdmin(header);
    return { kind: 'user', user: header.user, header };
  };
}
