// Creating a directory is not durable until its parent is fsynced: after a power failure soon after
// first start, a new <data-dir>/wal could otherwise vanish with everything in it (etcd fsyncs the
// parent of its WAL directory for the same reason). An existing directory may have been created by
// a process that died before that fsync, so the chain is fsynced at every start, not only on creation.
import path from 'node:path';
import { nodeFileSystem, type FileSystem } from './file-system.js';

/**
 * mkdir -p, then fsyncs `dir` and each of its ancestors up to the root, so that every entry on the
 * way to it is durable. Only the parent's fsync must succeed: an ancestor further up may not be
 * readable by this user, and whatever created it made it durable long ago.
 */
export async function makeDirDurable(dir: string, mode?: number, fs: FileSystem = nodeFileSystem): Promise<void> {
  await fs.mkdirs(dir, mode);
  const target = path.resolve(dir);
  await fs.fsyncDir(target);
  const parent = path.dirname(target);
  await fs.fsyncDir(parent);
  for (let d = path.dirname(parent); ; d = path.dirname(d)) {
    await fs.fsyncDir(d).catch(() => undefined);
    if (d === path.dirname(d)) return;
  }
}
