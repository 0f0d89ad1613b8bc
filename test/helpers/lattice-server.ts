import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath, repoRoot } from './paths.js';
import { allocateAddress, etcdFlags, launchRestartable, type RestartableServer } from './server-flags.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

export type Engine = 'memory' | 'rocksdb';
/** Every storage engine; interop tests run once per engine. */
export const engines: readonly Engine[] = ['memory', 'rocksdb'];

export interface LatticeServer extends RestartableServer {
  engine: Engine;
}

const entryPoint = repoPath('bin', 'lattice.js');
const builtMain = repoPath('dist', 'src', 'cli', 'main.js');

/**
 * Starts Lattice (node bin/lattice.js with etcd's flags plus --engine and any extra flags, e.g. a shard
 * layout) on free ports in a temp data dir.
 */
export async function startLattice(engine: Engine, name = 'lattice', extraArgs: readonly string[] = []): Promise<LatticeServer> {
  if (!existsSync(builtMain)) {
    throw new Error(`Lattice is not built: ${builtMain} does not exist (run tsc first)`);
  }
  const root = makeTempDir(`server-${engine}`);
  const address = await allocateAddress(name, join(root, 'data'));
  const server = await launchRestartable(
    {
      label: ['lattice --engine', engine, ...extraArgs].join(' '),
      command: process.execPath,
      args: [entryPoint, ...etcdFlags(address), '--engine', engine, ...extraArgs],
      cwd: repoRoot,
      logFile: join(root, 'lattice.log'),
    },
    address,
    () => removeTempDir(root),
  );
  return Object.assign(server, { engine });
}
