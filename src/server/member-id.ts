// etcd's member and cluster ID derivation (etcdserver/api/membership/member.go newMember, cluster.go genID),
// so a Lattice cluster bootstrapped from the same flags reports the same IDs as etcd would.

import { createHash } from 'node:crypto';

const uint64Mask = (1n << 64n) - 1n;

function firstUint64(digest: Buffer): bigint {
  return digest.readBigUInt64BE(0);
}

/**
 * Member ID: SHA-1 over the sorted peer URLs concatenated, then the cluster token, then (when given) the
 * Unix time in seconds as decimal; the first 8 bytes big-endian. Peer URLs must be in etcd's normalised
 * form (as `parseConfig` returns them, e.g. `http://localhost:2380`, no trailing slash).
 * Bootstrap uses the cluster token and no time; `member add` uses an empty token and the current time.
 */
export function computeMemberId(
  peerUrls: readonly string[],
  clusterToken: string,
  unixSeconds?: number | bigint,
): bigint {
  // Go's sort.Strings compares bytes; for ASCII URLs this equals UTF-16 code-unit order.
  const sorted = [...peerUrls].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const h = createHash('sha1');
  for (const u of sorted) h.update(u, 'utf8');
  h.update(clusterToken, 'utf8');
  if (unixSeconds !== undefined) h.update(BigInt(unixSeconds).toString(10), 'utf8');
  return firstUint64(h.digest());
}

/** Cluster ID: SHA-1 over each member ID, ascending, as 8 big-endian bytes; the first 8 bytes of the digest. */
export function computeClusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id & uint64Mask, 8 * i));
  return firstUint64(createHash('sha1').update(buf).digest());
}

/** Member IDs for an initial cluster (name → peer URLs), as etcd's NewClusterFromURLsMap computes them. */
export function initialMemberIds(
  initialCluster: ReadonlyMap<string, readonly string[]>,
  clusterToken: string,
): Map<string, bigint> {
  const ids = new Map<string, bigint>();
  for (const [name, urls] of initialCluster) ids.set(name, computeMemberId(urls, clusterToken));
  return ids;
}

/** etcd's `%x` rendering of an ID: lower-case hex, no padding, no prefix. */
export function formatId(id: bigint): string {
  return (id & uint64Mask).toString(16);
}

/** Inverse of formatId; throws RangeError for anything that is not 1–16 hex digits. */
export function parseId(hex: string): bigint {
  if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) throw new RangeError(`invalid ID ${JSON.stringify(hex)}`);
  return BigInt('0x' + hex);
}
