// Storage wrappers that time what etcd times: the WAL's fsync (etcd_disk_wal_fsync_duration_seconds)
// and the backend's commit (etcd_disk_backend_commit_duration_seconds). One clock read pair per
// fsync (or synced write) or per engine write, never per request.
import type { DurableFile, FileSystem } from '../storage/file-system.js';
import type { Engine } from '../engines/engine.js';

/** Receives one duration in seconds. */
export type SecondsObserver = (seconds: number) => void;

function timedFile(file: DurableFile, observe: SecondsObserver, syncedWrites: boolean): DurableFile {
  // A file opened for synced writes (O_DSYNC) syncs in its writes: each is what an fsync is elsewhere.
  const timedWrite = async <R>(write: () => Promise<R>): Promise<R> => {
    const started = performance.now();
    const result = await write();
    observe((performance.now() - started) / 1000);
    return result;
  };
  return {
    read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
    write: syncedWrites
      ? (buffer, offset, length, position) => timedWrite(() => file.write(buffer, offset, length, position))
      : (buffer, offset, length, position) => file.write(buffer, offset, length, position),
    writev: syncedWrites ? (buffers, position) => timedWrite(() => file.writev(buffers, position)) : (buffers, position) => file.writev(buffers, position),
    datasync: async () => {
      const started = performance.now();
      await file.datasync();
      observe((performance.now() - started) / 1000);
    },
    truncate: (length) => file.truncate(length),
    stat: () => file.stat(),
    close: () => file.close(),
  };
}

/** `fs` with every file's datasync timed. */
export function timedFileSystem(fs: FileSystem, observe: SecondsObserver): FileSystem {
  return {
    open: async (path, flags) => timedFile(await fs.open(path, flags), observe, flags === 'r+sync'),
    rename: (from, to) => fs.rename(from, to),
    remove: (path) => fs.remove(path),
    readdir: (dir) => fs.readdir(dir),
    mkdirs: (dir, mode) => fs.mkdirs(dir, mode),
    size: (path) => fs.size(path),
    fsyncDir: (dir) => fs.fsyncDir(dir),
  };
}

/** `engine` with every write batch (the store's commit of an applied batch) timed. */
export function timedEngine(engine: Engine, observe: SecondsObserver): Engine {
  const timed: Engine = {
    name: engine.name,
    get: (key) => engine.get(key),
    write: async (ops, options) => {
      const started = performance.now();
      await engine.write(ops, options);
      observe((performance.now() - started) / 1000);
    },
    iterateBatches: (options) => engine.iterateBatches(options),
    onFailure: (listener) => engine.onFailure(listener),
    exportState: () => engine.exportState(),
    importState: (chunks) => engine.importState(chunks),
    bulkLoad: (batches) => engine.bulkLoad(batches),
    sizeBytes: () => engine.sizeBytes(),
    close: () => engine.close(),
  };
  const sizeInUse = engine.sizeInUseBytes?.bind(engine);
  const defragment = engine.defragment?.bind(engine);
  return {
    ...timed,
    ...(sizeInUse === undefined ? {} : { sizeInUseBytes: sizeInUse }),
    ...(defragment === undefined ? {} : { defragment }),
  };
}
