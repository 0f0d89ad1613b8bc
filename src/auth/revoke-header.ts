// The auth header a client's LeaseRevoke is proposed with. A revoke with a header is a type-12 log
// entry wrapping type 6, which builds before apply-time revoke checks cannot decode (they stop at
// it, and again at every restart). So the header goes only on revokes proposed while auth is
// enabled, when the apply-time check is what matters; with auth off the entry stays plain type 6,
// as before, and a rolling upgrade of a cluster without auth is safe (docs/upgrading.md).
import type { AuthHeader } from './auth-op.js';

/** `who`: the caller as resolved for writes. Read `auth.enabled` after resolving it: as late as possible before proposing. */
export function revokeHeader(auth: { readonly enabled: boolean } | undefined, who: AuthHeader | undefined): AuthHeader | undefined {
  return auth?.enabled === true ? who : undefined;
}
