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
function toEtcd(key: string): { readonly bucket: EtcdAuthBucket; readonly key: Buffer } | undefined {
  if (key === ours.enabled) return { bucket: 'auth', key: Buffer.from(etcdEnabledKey) };
  if (key === ours.revision) return { bucket: 'auth', key: Buffer.from(etcdRevisionKey) };
  if (key.startsWith(ours.user)) return { bucket: 'authUsers', key: Buffer.from(key.slice(ours.user.length), 'utf8') };
  if (key.startsWith(ours.role)) return { bucket: 'authRoles', key: Buffer.from(key.slice(ours.role.length), 'utf8') };
  return undefined;
}

/** The entries of one of etcd's auth buckets, from this member's engine, in key order. */
export async function etcdAuthBucketEntries(engine: Pick<Engine, 'iterate'>, bucket: EtcdAuthBucket): Promise<[Buffer, Buffer][]> {
  const out: [Buffer, Buffer][] = [];
  for await (const [key, value] of engine.iterate({ gte: AUTH_PREFIX, lt: AUTH_END })) {
    const target = toEtcd(key.toString('utf8'));
    if (target?.bucket === bucket) out.push([target.key, Buffer.from(value)]);
  }
  // etcd's revision has no "never set": a fresh store is at 1 (NewAuthStore commits one).
  if (bucket === 'auth' && !out.some(([k]) => k.toString() === etcdRevisionKey)) {
    const one = Buffer.alloc(8);
    one.writeBigUInt64BE(1n);
    out.push([Buffer.from(etcdRevisionKey), one]);
  }
  return out.sort(([a], [b]) => Buffer.compare(a, b));
}

/** The engine writes that hold the auth state of etcd's buckets (a restored etcd snapshot). */
export function opsFromEtcdAuthBuckets(buckets: Readonly<Record<EtcdAuthBucket, Iterable<readonly [Uint8Array, Uint8Array]>>>): WriteOp[] {
  const ops: WriteOp[] = [{ type: 'delRange', gte: AUTH_PREFIX, lt: AUTH_END }];
  for (const [key, value] of buckets.auth) {
    const name = Buffer.from(key).toString();
    if (name === etcdEnabledKey) ops.push({ type: 'put', key: Buffer.from(ours.enabled), value: Buffer.from(value) });
    else if (name === etcdRevisionKey) ops.push({ type: 'put', key: Buffer.from(ours.revision), value: Buffer.from(value) });
  }
  for (const [key, value] of buckets.authUsers) ops.push({ type: 'put', key: Buffer.concat([Buffer.from(ours.user), key]), value: Buffer.from(value) });
  for (const [key, value] of buckets.authRoles) ops.push({ type: 'put', key: Buffer.concat([Buffer.from(ours.role), key]), value: Buffer.from(value) });
  return ops;
}
