// Records what a test file starts (server process groups, temp dirs) in a directory the runner
// (test/run.js) owns, so the runner can clean up after a file that was killed before its own exit
// handlers could run. Outside the runner (no LATTICE_TEST_LEDGER) it records nothing.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ledger = process.env['LATTICE_TEST_LEDGER'];

export function recordLeftover(kind: 'pid' | 'dir', id: string, content = ''): void {
  if (ledger === undefined) return;
  try {
    writeFileSync(join(ledger, `${kind}-${id.replace(/[^\w.-]/g, '_')}`), content);
  } catch {
    // the ledger is a safety net; a test never fails because of it
  }
}

export function forgetLeftover(kind: 'pid' | 'dir', id: string): void {
  if (ledger === undefined) return;
  rmSync(join(ledger, `${kind}-${id.replace(/[^\w.-]/g, '_')}`), { force: true });
}
