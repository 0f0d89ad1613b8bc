import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** Repository root; helpers run compiled from dist/test/helpers/. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** A path inside the repository (sources, not dist). */
export function repoPath(...parts: string[]): string {
  return join(repoRoot, ...parts);
}
