import { mkdir } from 'node:fs/promises';
import type { Engine, EngineName } from './engine.js';
import { openMemoryEngine } from './memory-engine.js';
import { openRocksdbEngine } from './rocksdb-engine.js';

/** Opens the named engine in dir, creating the directory (and parents) if missing. */
export async function openEngine(name: EngineName, dir: string): Promise<Engine> {
  await mkdir(dir, { recursive: true });
  switch (name) {
    case 'memory':
      return openMemoryEngine(dir);
    case 'rocksdb':
      return openRocksdbEngine(dir);
  }
}
