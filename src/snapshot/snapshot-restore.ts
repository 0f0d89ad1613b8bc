// `lattice snapshot restore`: a fresh Lattice data dir from an etcd snapshot file (etcdctl snapshot
// save, from etcd 3.4/3.5 or Lattice), like etcdctl's restore: the data as of the snapshot, and a
// new cluster made of the members the flags name (new member and cluster IDs).
//
// The data dir is built beside the target under a temporary name and renamed into place at the
// end, so a failure at any point (bad file, full disk, crash) leaves no half-written data dir; what a
// killed restore left beside the target is removed by the next restore into it. So the state goes
// into the new engine by its bulkLoad, not through importState (atomic, and costlier) nor write
// (which copies every op and group-commits).
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { BboltFormatError, BboltReader, checkSnapshotHash } from '../bbolt/index.js';
import { initialMembers } from '../cluster/bootstrap-members.js';
import { Membership } from '../cluster/membership.js';
import type { EngineName } from '../engines/engine.js';
import { openEngine } from '../engines/open-engine.js';
import { deriveIdentity, writeIdentity } from '../server/member-identity.js';
import { nodeFileSystem } from '../storage/file-system.js';
import { engineRunsOfEtcdImage, findEtcdBuckets, type RestoredImage } from './etcd-image-state.js';
import { SnapshotRestoreError } from './snapshot-errors.js';

export interface RestoreOptions {
  readonly snapshotPath: string;
  readonly dataDir: string;
  readonly engine: EngineName;
  readonly name: string;
  /** Parsed --initial-cluster (name → peer URLs), as config.ts parses it. */
  readonly initialCluster: ReadonlyMap<string, readonly string[]>;
  readonly initialClusterToken: string;
  readonly initialAdvertisePeerUrls: readonly string[];
  readonly skipHashCheck: boolean;
}

export interface RestoreSummary extends RestoredImage {
  readonly memberId: bigint;
  readonly clusterId: bigint;
}

export async function restoreEtcdSnapshot(o: RestoreOptions): Promise<RestoreSummary> {
  const dataDir = resolve(o.dataDir);
  await refuseNonEmpty(dataDir);
  checkFlags(o);
  await checkHash(o.snapshotPath, o.skipHashCheck);
  let reader: BboltReader;
  try {
    reader = await BboltReader.open(o.snapshotPath);
  } catch (e) {
    if (e instanceof BboltFormatError) throw new SnapshotRestoreError('not-bbolt', `${o.snapshotPath}: ${e.message}`);
    throw e;
  }
  const temp = join(dirname(dataDir), `${restoringPrefix(dataDir)}${process.pid}`);
  await removeAbandonedRestores(dataDir);
  try {
    const buckets = await findEtcdBuckets(reader);
    await rm(temp, { recursive: true, force: true });
    await mkdir(temp, { recursive: true, mode: 0o700 });
    const flags = {
      initialAdvertisePeerUrls: o.initialAdvertisePeerUrls,
      initialCluster: o.initialCluster,
      initialClusterToken: o.initialClusterToken,
      initialClusterTokenGiven: true,
    };
    const identity = deriveIdentity(flags);
    await writeIdentity(temp, identity);
    const members = initialMembers(o.initialCluster, o.initialClusterToken, { id: identity.memberId, name: o.name, peerUrls: identity.peerUrls });
    // As the server bootstraps a new cluster: the members are those of the Raft log's first entries.
    await Membership.open(temp, { members, index: members.length });
    const image: RestoredImage = { revision: 1, compactRevision: -1, records: 0, leases: 0 };
    const engine = await openEngine(o.engine, join(temp, o.engine));
    try {
      await engine.bulkLoad(engineRunsOfEtcdImage(reader, buckets, image));
    } catch (e) {
      // the temp dir goes anyway: what closing it says must not replace why the load failed
      await engine.close().catch(() => undefined);
      throw e;
    }
    await engine.close();
    await nodeFileSystem.fsyncDir(temp);
    await rmdir(dataDir).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await rename(temp, dataDir);
    await nodeFileSystem.fsyncDir(dirname(dataDir));
    return { ...image, memberId: identity.memberId, clusterId: identity.clusterId };
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    if (e instanceof BboltFormatError) throw new SnapshotRestoreError('not-bbolt', `${o.snapshotPath}: ${e.message}`);
    throw e;
  } finally {
    await reader.close();
  }
}

const restoringPrefix = (dataDir: string): string => `.${basename(dataDir)}.restoring-`;

/** Removes what restores into `dataDir` killed midway left beside it (their process is gone). */
async function removeAbandonedRestores(dataDir: string): Promise<void> {
  const prefix = restoringPrefix(dataDir);
  const names = await readdir(dirname(dataDir)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) continue;
    await rm(join(dirname(dataDir), name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** etcdctl refuses an existing data dir; an empty directory is taken as not there (and replaced). */
async function refuseNonEmpty(dataDir: string): Promise<void> {
  const entries = await readdir(dataDir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  if (entries.length > 0) throw new SnapshotRestoreError('data-dir-not-empty', `data-dir ${JSON.stringify(dataDir)} exists and is not empty`);
}

function checkFlags(o: RestoreOptions): void {
  const mine = o.initialCluster.get(o.name);
  if (mine === undefined) {
    throw new SnapshotRestoreError('bad-flags', `couldn't find local name ${JSON.stringify(o.name)} in the initial cluster configuration`);
  }
  const sorted = [...o.initialAdvertisePeerUrls].sort();
  if (mine.length !== sorted.length || [...mine].sort().some((u, i) => u !== sorted[i])) {
    throw new SnapshotRestoreError(
      'bad-flags',
      `--initial-cluster has ${o.name}=${[...mine].join(',')} but --initial-advertise-peer-urls is ${o.initialAdvertisePeerUrls.join(',')}`,
    );
  }
}

async function checkHash(path: string, skip: boolean): Promise<void> {
  const check = await checkSnapshotHash(path);
  if (skip) return;
  // etcdctl's messages (clientv3/snapshot/v3_snapshot.go saveDB).
  if (check.kind === 'missing') throw new SnapshotRestoreError('hash-missing', `${path}: snapshot missing hash but --skip-hash-check=false`);
  if (check.kind === 'mismatch') throw new SnapshotRestoreError('hash-mismatch', `${path}: expected sha256 ${check.expected}, got ${check.actual}`);
}
