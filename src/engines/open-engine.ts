import { makeDirDurable } from '../storage/durable-dir.js';
import { nodeFileSystem, type FileSystem } from '../storage/file-system.js';
import type { Engine, EngineName } from './engine.js';
import type { MemoryEngineOptions } from './memory-engine.js';

export interface OpenEngineOptions {
  /** The file layer for the memory engine's files; RocksDB writes its own files through node:fs. */
  readonly fs?: FileSystem;
  readonly memory?: Omit<MemoryEngineOptions, 'fs'>;
}

/**
 * Opens the named engine in dir, creating the directory (and parents) if missing. Only the named
 * engine's module is loaded (RocksDB's is a native binding): a short command such as a snapshot
 * restore pays for one engine at start-up, not both.
 */
export async function openEngine(name: EngineName, dir: string, options: OpenEngineOptions = {}): Promise<Engine> {
  const fs = options.fs ?? nodeFileSystem;
  await makeDirDurable(dir, undefined, fs);
  switch (name) {
    case 'memory':
      return (await import('./memory-engine.js')).openMemoryEngine(dir, { ...options.memory, fs });
    case 'rocksdb':
      return (await import('./rocksdb-engine.js')).openRocksdbEngine(dir);
  }
}
