import { makeDirDurable } from '../storage/durable-dir.js';
import type { Engine, EngineName } from './engine.js';
import { openMemoryEngine } from './memory-engine.js';
import { openRocksdbEngine } from './rocksdb-engine.js';

/** Opens the named engine in dir, creating the directory (and parents) if missing. */
export async function openEngine(name: EngineName, dir: string): Promise<Engine> {
  await makeDirDurable(dir);
  switch (name) {
    case 'memory':
      return openMemoryEngine(dir);
    case 'rocksdb':
      return openRocksdbEngine(dir);
  }
}
