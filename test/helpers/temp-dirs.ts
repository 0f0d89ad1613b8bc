import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { forgetLeftover, recordLeftover } from './ledger.js';

const liveDirs = new Set<string>();

/** A fresh directory under the OS temp dir; removed by removeTempDir, removeAllTempDirs or at process exit. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lattice-${prefix}-`));
  liveDirs.add(dir);
  recordLeftover('dir', basename(dir), dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  liveDirs.delete(dir);
  forgetLeftover('dir', basename(dir));
}

export function removeAllTempDirs(): void {
  for (const dir of [...liveDirs]) {
    try {
      removeTempDir(dir);
    } catch {
      // best effort: never mask the test's own failure
    }
  }
}

// Synchronous on purpose: 'exit' listeners cannot await.
process.on('exit', removeAllTempDirs);
