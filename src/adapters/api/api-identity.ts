// The seam for authentication: every /api request (and every watch socket) asks `resolveIdentity`
// who is calling before anything touches the store. Auth is not built yet, so the default resolver
// answers "no auth" for everyone. Once Auth lands, a resolver turns `Authorization: Bearer <token>`
// (or Basic user:password) into the same identity the gRPC side derives from its `token` metadata,
// and rejects with ApiError 401 ('unauthenticated') or 403.
import type { IncomingMessage } from 'node:http';

/** Who a request acts as. `anonymous`: auth is off (etcd's behaviour with auth disabled). */
export type ApiIdentity = { readonly kind: 'anonymous' } | { readonly kind: 'user'; readonly user: string };

export type IdentityResolver = (req: IncomingMessage) => Promise<ApiIdentity>;

export const anonymous: ApiIdentity = { kind: 'anonymous' };

/** Auth off: every caller is anonymous and may do anything, as with etcd before `auth enable`. */
export const noAuth: IdentityResolver = async () => anonymous;
