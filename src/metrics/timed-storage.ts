// Storage wrappers that time what etcd times: the WAL's fsync (etcd_disk_wal_fsync_duration_seconds)
// and the backend's commit (etcd_disk_backend_commit_duration_seconds). One clock read pair per
// fsync (or synced write) or per engine write, never per request.
import type { DurableFile, FileSystem } from '../storage/file-system.js';
import type { Engine } from '../engines/engine.js';

/** Receives one duration in seconds. */
export type SecondsObserver = (seconds: number) => void;

/** Runs the synchronous call and tells observe how long it took. */
function timedNow<R>(observe: SecondsObserver, call: () => R): R {
  const started = performance.now();
  const result = call();
  observe((performance.now() - started) / 1000);
  return result;
}

/** Runs the call and tells observe how long it took. */
async function timed<R>(observe: SecondsObserver, call: () => Promise<R>): Promise<R> {
  const started = performance.now();
  const result = await call();
  observe((performance.now() - started) / 1000);
  return result;
}

function timedFile(file: DurableFile, observe: SecondsObserver, syncedWrites: boolean): DurableFile {
  // A file opened for synced writes (O_DSYNC) syncs in its writes: each is what an fsync is elsewhere.
  return {
    read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
    write: syncedWrites
      ? (buffer, offset, length, position) => timed(observe, () => file.write(buffer, offset, length, position))
      : (buffer, offset, length, position) => file.write(buffer, offset, length, position),
    writev: syncedWrites ? (buffers, position) => timed(observe, () => file.writev(buffers, position)) : (buffers, position) => file.writev(buffers, position),
    writeNow: syncedWrites ? (buffer, position) => timedNow(observe, () => file.writeNow(buffer, position)) : (buffer, position) => file.writeNow(buffer, position),
    datasync: () => timed(observe, () => file.datasync()),
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
  const wrapped: Engine = {
    name: engine.name,
    get: (key) => engine.get(key),
    write: (ops, options) => timed(observe, () => engine.write(ops, options)),
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
    ...wrapped,
    ...(sizeInUse === undefined ? {} : { sizeInUseBytes: sizeInUse }),
    ...(defragment === undefined ? {} : { defragment }),
  };
}
