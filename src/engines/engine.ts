// The one narrow storage interface. Both engines implement it and both run the same suite
// (test/engines/engine-suite.ts). Keys and values are raw bytes; keys sort bytewise.

export type EngineName = 'memory' | 'rocksdb';

export type WriteOp =
  | { readonly type: 'put'; readonly key: Buffer; readonly value: Buffer }
  | { readonly type: 'del'; readonly key: Buffer }
  /** Deletes every key in [gte, lt). */
  | { readonly type: 'delRange'; readonly gte: Buffer; readonly lt: Buffer };

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
  /** Iterates a point-in-time view in key order; writes made during iteration are not seen. */
  iterate(options: IterateOptions): AsyncIterable<readonly [Buffer, Buffer]>;
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

export type OpenEngine = (dir: string) => Promise<Engine>;
