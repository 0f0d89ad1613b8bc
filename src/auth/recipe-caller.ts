// The caller a Lock or Election call runs for (core/concurrency-api.ts RecipeCaller), over the auth
// front its adapter sees. etcd runs clientv3/concurrency through v3client with the caller's context,
// so each request the recipe makes looks the caller's token up again: a simple token is at the auth
// revision of that moment (AuthFront.current), a JWT keeps the revision it was signed at.
import type { RecipeCaller } from '../core/concurrency-api.js';
import { uncheckedCaller } from '../core/concurrency-api.js';
import type { AuthHeader } from './auth-op.js';
import type { AuthFront } from './auth-front.js';
import { checkedRead } from './checked-read.js';

/**
 * `header`: the caller as the adapter resolved it for writes (writeHeaderOf: user "" without auth
 * info, so a recipe write applied after `auth enable` is refused). Undefined: a server without auth.
 */
export function recipeCaller(auth: AuthFront | undefined, header: AuthHeader | undefined): RecipeCaller {
  if (auth === undefined || header === undefined) return uncheckedCaller;
  const now = (): AuthHeader => auth.current(header);
  return {
    writeHeader: now,
    read: (key, rangeEnd, read) => checkedRead(auth, async () => now(), (check, h) => check(h, key, rangeEnd, 'read'), read),
    requireRead: (key, rangeEnd) => {
      if (auth.enabled) auth.requirePermission(now(), key, rangeEnd, 'read');
    },
  };
}
