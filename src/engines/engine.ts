// The one narrow storage interface. Both engines implement it and both run the same suite
// (test/engines/engine-suite.ts). Keys and values are raw bytes; keys sort bytewise.

export type EngineName = 'memory' | 'rocksdb';

export type WriteOp =
  | { readonly type: 'put'; readonly key: Buffer; readonly value: Buffer }
  | { readonly type: 'del'; readonly key: Buffer }
  /** Deletes every key in [gte, lt). */
  | { readonly type: 'delRange'; readonly gte: Buffer; readonly lt: Buffer };

/** A key and its value, as an iteration hands them out. */
export type EnginePair = readonly [Buffer, Buffer];

export interface IterateOptions {
  readonly gte?: Buffer;
  readonly lt?: Buffer;
  readonly reverse?: boolean;
  readonly limit?: number;
}

export interface Engine {
  readonly name: EngineName;
  get(key: Buffer): Promise<Buffer | undefined>;
  /**
   * Applies all ops atomically, in order. With sync, resolves only once the batch — and every batch
   * written before it — is on stable storage (the store relies on this before it trims the log).
   */
  write(ops: readonly WriteOp[], options: { readonly sync: boolean }): Promise<void>;
  /**
   * Iterates a point-in-time view in key order, in batches: never empty, at most
   * maxIterateBatchPairs pairs, and a batch ends once its keys and values reach maxIterateBatchBytes
   * (so one pair may take it past that). One await per batch, not per pair: whole-store scans (a
   * snapshot, Hash, the start-up load) are hundreds of thousands of pairs.
   * The view is taken by this call; writes made later are not seen. Ending the loop early (break,
   * return, a throw) releases the view; an iteration taken and never read holds it until its
   * iterator's return() is called.
   */
  iterateBatches(options: IterateOptions): AsyncIterable<readonly EnginePair[]>;
  /**
   * Fills an empty engine with the pairs, in bulk: what a restore does to a data dir it builds
   * aside and renames into place once done. Cheaper than write (no copy of the caller's ops, no
   * group commit, the engine's own batch size) and than importState (no state stream, no atomic
   * swap), and so with neither's guarantees: a failure or crash midway leaves part of the pairs.
   * Resolves once every pair is durable. Rejects, writing nothing, if the engine holds anything;
   * nothing else may use the engine until it settles. The caller's buffers are not kept. A failed
   * write stops the engine as any failed write does (onFailure); a failing source only rejects.
   */
  bulkLoad(batches: AsyncIterable<readonly EnginePair[]>): Promise<void>;
  /**
   * Calls listener once when the engine stops on a failed write, sync or background snapshot
   * (fail-stop: every later write rejects), at once if it already has. Not called for close.
   */
  onFailure(listener: (failure: Error) => void): void;
  /**
   * A consistent point-in-time copy of every key and value, in the state stream format
   * (src/engines/state-stream.ts): chunks of at most 1 MiB ending in a digest. Writes made while
   * it is read are not in it. What a Raft leader sends a member that needs a snapshot.
   */
  exportState(): AsyncIterable<Uint8Array>;
  /**
   * Replaces the whole contents with the state a stream carries, in bounded memory (beyond what
   * the engine holds anyway). Refuses a stream that is cut short or damaged (StateStreamError),
   * leaving the old contents. Atomic across a crash: a restart finds the old contents or the whole
   * new ones. Writes and reads issued meanwhile wait for it; iterations already open may fail.
   */
  importState(chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** Approximate bytes the engine occupies on disk. */
  sizeBytes(): Promise<number>;
  /**
   * Approximate bytes of live keys and values (etcd's dbSizeInUse). Absent: callers use sizeBytes.
   */
  sizeInUseBytes?(): Promise<number>;
  /**
   * Gives the space of deleted and overwritten data back to the file system (etcd's defragment),
   * while reads and writes go on; they may wait only for a short final swap. Absent: nothing to reclaim.
   */
  defragment?(): Promise<void>;
  /** Flushes whatever is buffered and releases files; later calls reject. */
  close(): Promise<void>;
}

/** Pairs per batch of iterateBatches at most. */
export const maxIterateBatchPairs = 1000;
/** Bytes (keys and values) at which a batch of iterateBatches ends: the pair that reaches it is its last. */
export const maxIterateBatchBytes = 4 * 1024 * 1024;

export type OpenEngine = (dir: string) => Promise<Engine>;
