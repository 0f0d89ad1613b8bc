import { makeDirDurable } from '../storage/durable-dir.js';
import { nodeFileSystem, type FileSystem } from '../storage/file-system.js';
import type { Engine, EngineName } from './engine.js';
import { openMemoryEngine, type MemoryEngineOptions } from './memory-engine.js';
import { openRocksdbEngine } from './rocksdb-engine.js';

export interface OpenEngineOptions {
  /** The file layer for the memory engine's files; RocksDB writes its own files through node:fs. */
  readonly fs?: FileSystem;
  readonly memory?: Omit<MemoryEngineOptions, 'fs'>;
}

/** Opens the named engine in dir, creating the directory (and parents) if missing. */
export async function openEngine(name: EngineName, dir: string, options: OpenEngineOptions = {}): Promise<Engine> {
  const fs = options.fs ?? nodeFileSystem;
  await makeDirDurable(dir, undefined, fs);
  switch (name) {
    case 'memory':
      return openMemoryEngine(dir, { ...options.memory, fs });
    case 'rocksdb':
      return openRocksdbEngine(dir);
  }
}
