// The auth state as etcd 3.4 keeps it in its bbolt file, which is what its snapshots carry: bucket
// `auth` (authEnabled → 1 byte, authRevision → u64 big-endian), `authUsers` (name → authpb.User) and
// `authRoles` (name → authpb.Role). Lattice persists the same protobufs under its own keys
// (auth-state.ts), so converting either way renames keys; bcrypt hashes are Go's format both ways.
import type { Engine, WriteOp } from '../engines/engine.js';
import { AUTH_END, AUTH_PREFIX } from './auth-state.js';

export type EtcdAuthBucket = 'auth' | 'authUsers' | 'authRoles';

const etcdEnabledKey = 'authEnabled';
const etcdRevisionKey = 'authRevision';
const ours = { enabled: 'a/enabled', revision: 'a/revision', user: 'a/user/', role: 'a/role/' } as const;

/** Where one of our engine keys goes in etcd's buckets (undefined: not auth state). */
export function toEtcdAuthEntry(key: Buffer): { readonly bucket: EtcdAuthBucket; readonly key: Buffer } | undefined {
  const text = key.toString('utf8');
  if (text === ours.enabled) return { bucket: 'auth', key: Buffer.from(etcdEnabledKey) };
  if (text === ours.revision) return { bucket: 'auth', key: Buffer.from(etcdRevisionKey) };
  if (text.startsWith(ours.user)) return { bucket: 'authUsers', key: key.subarray(ours.user.length) };
  if (text.startsWith(ours.role)) return { bucket: 'authRoles', key: key.subarray(ours.role.length) };
  return undefined;
}

/** Our engine key for an entry of one of etcd's auth buckets (undefined: not one Lattice keeps). */
export function fromEtcdAuthEntry(bucket: EtcdAuthBucket, key: Uint8Array): Buffer | undefined {
  switch (bucket) {
    case 'auth': {
      const name = Buffer.from(key).toString();
      if (name === etcdEnabledKey) return Buffer.from(ours.enabled);
      return name === etcdRevisionKey ? Buffer.from(ours.revision) : undefined;
    }
    case 'authUsers':
      return Buffer.concat([Buffer.from(ours.user), key]);
    case 'authRoles':
      return Buffer.concat([Buffer.from(ours.role), key]);
  }
}

/** etcd's revision has no "never set": a fresh store is at 1 (NewAuthStore commits one). */
export const etcdInitialAuthRevision = (): [Buffer, Buffer] => {
  const one = Buffer.alloc(8);
  one.writeBigUInt64BE(1n);
  return [Buffer.from(etcdRevisionKey), one];
};

/** The entries of one of etcd's auth buckets, from this member's engine, in key order. */
export async function etcdAuthBucketEntries(engine: Pick<Engine, 'iterateBatches'>, bucket: EtcdAuthBucket): Promise<[Buffer, Buffer][]> {
  const out: [Buffer, Buffer][] = [];
  for await (const pairs of engine.iterateBatches({ gte: AUTH_PREFIX, lt: AUTH_END })) {
    for (const [key, value] of pairs) {
      const target = toEtcdAuthEntry(key);
      if (target?.bucket === bucket) out.push([Buffer.from(target.key), Buffer.from(value)]);
    }
  }
  if (bucket === 'auth' && !out.some(([k]) => k.toString() === etcdRevisionKey)) out.push(etcdInitialAuthRevision());
  return out.sort(([a], [b]) => Buffer.compare(a, b));
}

/** The engine writes that hold the auth state of etcd's buckets (a restored etcd snapshot). */
export function opsFromEtcdAuthBuckets(buckets: Readonly<Record<EtcdAuthBucket, Iterable<readonly [Uint8Array, Uint8Array]>>>): WriteOp[] {
  const ops: WriteOp[] = [{ type: 'delRange', gte: AUTH_PREFIX, lt: AUTH_END }];
  for (const bucket of ['auth', 'authUsers', 'authRoles'] as const) {
    for (const [key, value] of buckets[bucket]) {
      const ourKey = fromEtcdAuthEntry(bucket, key);
      if (ourKey !== undefined) ops.push({ type: 'put', key: ourKey, value: Buffer.from(value) });
    }
  }
  return ops;
}
