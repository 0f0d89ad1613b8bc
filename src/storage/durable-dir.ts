// Creating a directory is not durable until its parent is fsynced: after a power failure soon after
// first start, a new <data-dir>/wal could otherwise vanish with everything in it (etcd fsyncs the
// parent of its WAL directory for the same reason).
import path from 'node:path';
import { nodeFileSystem, type FileSystem } from './file-system.js';

/** mkdir -p, then fsyncs every directory that gained an entry: the parent of the first one created and each created one above `dir`. */
export async function makeDirDurable(dir: string, mode?: number, fs: FileSystem = nodeFileSystem): Promise<void> {
  const first = await fs.mkdirs(dir, mode);
  if (first === undefined) return;
  const top = path.resolve(first);
  const gained: string[] = [path.dirname(top)];
  for (let d = path.dirname(path.resolve(dir)); d.length >= top.length; d = path.dirname(d)) gained.push(d);
  for (const d of gained) await fs.fsyncDir(d);
}
