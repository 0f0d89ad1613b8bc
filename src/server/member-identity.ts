// A member's identity (member ID, cluster ID, the token and peer URLs it was bootstrapped with), persisted
// in the data dir on first start and read back on every later one. etcd keeps the same facts in its WAL
// metadata and membership store and, once a data dir holds a member, ignores the bootstrap flags
// (--initial-advertise-peer-urls, --initial-cluster, --initial-cluster-state, --initial-cluster-token):
// re-deriving the ID from flags would silently turn a member whose advertised URL changed into another one.
// Unlike etcd, Lattice refuses a --initial-cluster-token given explicitly that differs from the persisted
// one: the token exists to keep members of different clusters apart, so a mismatch is a sign of the wrong
// data dir. Left out, the token is ignored on restart as etcd ignores it.

import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { nodeFileSystem, writeFully, type FileSystem } from '../storage/file-system.js';
import type { ServerConfig } from './config.js';
import { computeClusterId, computeMemberId, formatId, initialMemberIds, parseId } from './member-id.js';

export interface MemberIdentity {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly clusterToken: string;
  /** This member's peer URLs at bootstrap; etcd changes them only through `member update`, never a flag. */
  readonly peerUrls: readonly string[];
}

/** `bootstrapped`: fresh data dir; `restarted`: read back; `adopted`: data from before identities were persisted. */
export type IdentityOrigin = 'bootstrapped' | 'restarted' | 'adopted';

export interface LoadedIdentity {
  readonly identity: MemberIdentity;
  readonly origin: IdentityOrigin;
  /** On restart: bootstrap flags whose value differs from what the data dir holds (without dashes). */
  readonly ignoredFlags: readonly string[];
}

export type IdentityErrorKind = 'token-mismatch' | 'unreadable';

export class IdentityError extends Error {
  constructor(
    readonly kind: IdentityErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}

export const identityFileName = 'member-identity.json';
const tempSuffix = '.tmp';
const identityFormat = 1;

type BootstrapFlags = Pick<ServerConfig, 'initialAdvertisePeerUrls' | 'initialCluster' | 'initialClusterToken' | 'initialClusterTokenGiven'>;

/** The identity a fresh data dir gets from the bootstrap flags (etcd's derivation, see member-id.ts). */
export function deriveIdentity(flags: BootstrapFlags): MemberIdentity {
  const memberIds = [...initialMemberIds(flags.initialCluster, flags.initialClusterToken).values()];
  return {
    memberId: computeMemberId(flags.initialAdvertisePeerUrls, flags.initialClusterToken),
    clusterId: computeClusterId(memberIds),
    clusterToken: flags.initialClusterToken,
    peerUrls: [...flags.initialAdvertisePeerUrls],
  };
}

export function encodeIdentity(identity: MemberIdentity): string {
  return (
    JSON.stringify(
      {
        format: identityFormat,
        memberId: formatId(identity.memberId),
        clusterId: formatId(identity.clusterId),
        clusterToken: identity.clusterToken,
        peerUrls: identity.peerUrls,
      },
      null,
      2,
    ) + '\n'
  );
}

/** Throws IdentityError('unreadable') naming the file for anything that is not a complete identity. */
export function decodeIdentity(text: string, file: string): MemberIdentity {
  const bad = (why: string): IdentityError =>
    new IdentityError('unreadable', `${file}: ${why}; the member's identity cannot be read, refusing to start`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null) throw bad('not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== identityFormat) throw bad(`unknown format ${JSON.stringify(d.format)} (expected ${identityFormat})`);
  const id = (field: string): bigint => {
    const v = d[field];
    if (typeof v !== 'string') throw bad(`${field} is missing`);
    try {
      return parseId(v);
    } catch {
      throw bad(`${field} ${JSON.stringify(v)} is not a hex ID`);
    }
  };
  const memberId = id('memberId');
  const clusterId = id('clusterId');
  if (typeof d.clusterToken !== 'string') throw bad('clusterToken is missing');
  const urls = d.peerUrls;
  if (!Array.isArray(urls) || !urls.every((u): u is string => typeof u === 'string')) throw bad('peerUrls is not a list of URLs');
  return { memberId, clusterId, clusterToken: d.clusterToken, peerUrls: urls };
}

/** The persisted identity, or undefined when the data dir has none yet. */
export async function readIdentity(dataDir: string): Promise<MemberIdentity | undefined> {
  const file = path.join(dataDir, identityFileName);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return decodeIdentity(text, file);
}

/**
 * Replaces the identity file atomically and durably: a crash at any point leaves either no file or a
 * complete one (write a temp file, fsync it, rename over, fsync the directory that holds the name).
 */
export async function writeIdentity(dataDir: string, identity: MemberIdentity, fs: FileSystem = nodeFileSystem): Promise<void> {
  const file = path.join(dataDir, identityFileName);
  const temp = file + tempSuffix;
  const handle = await fs.open(temp, 'w');
  try {
    await writeFully(handle, Buffer.from(encodeIdentity(identity), 'utf8'), 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
  await fs.fsyncDir(dataDir);
}

/** Whether the data dir holds anything besides the identity file (and a temp file a crash left behind). */
async function holdsData(dataDir: string): Promise<boolean> {
  const entries = await readdir(dataDir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  return entries.some((name) => name !== identityFileName && name !== identityFileName + tempSuffix);
}

function sameUrls(a: readonly string[], b: readonly string[]): boolean {
  const sortedB = [...b].sort();
  return a.length === b.length && [...a].sort().every((u, i) => u === sortedB[i]);
}

/**
 * The member's identity for this start: read from the data dir when it holds one (bootstrap flags are
 * then ignored, as in etcd, except that a different --initial-cluster-token given explicitly is refused), else derived from
 * the flags and persisted before anything else is written, so a data dir with data always has one.
 */
export async function loadOrCreateIdentity(
  dataDir: string,
  flags: BootstrapFlags,
  /** For a fresh data dir that joins a running cluster: the identity the cluster gave it. */
  join?: () => Promise<MemberIdentity>,
): Promise<LoadedIdentity> {
  const persisted = await readIdentity(dataDir);
  const derived = deriveIdentity(flags);
  if (persisted === undefined) {
    const origin: IdentityOrigin = (await holdsData(dataDir)) ? 'adopted' : 'bootstrapped';
    const identity = origin === 'bootstrapped' && join !== undefined ? await join() : derived;
    await writeIdentity(dataDir, identity);
    return { identity, origin, ignoredFlags: [] };
  }
  if (flags.initialClusterTokenGiven && persisted.clusterToken !== flags.initialClusterToken) {
    throw new IdentityError(
      'token-mismatch',
      `cluster token mismatch (got ${JSON.stringify(flags.initialClusterToken)} want ${JSON.stringify(persisted.clusterToken)}): ` +
        `data dir ${dataDir} holds member ${formatId(persisted.memberId)} of cluster ${formatId(persisted.clusterId)}, ` +
        `bootstrapped with --initial-cluster-token=${persisted.clusterToken}; start it with that token, or use an empty data dir for a new cluster`,
    );
  }
  const ignoredFlags: string[] = [];
  if (!sameUrls(persisted.peerUrls, flags.initialAdvertisePeerUrls)) ignoredFlags.push('initial-advertise-peer-urls');
  if (persisted.clusterId !== derived.clusterId) ignoredFlags.push('initial-cluster');
  return { identity: persisted, origin: 'restarted', ignoredFlags };
}
