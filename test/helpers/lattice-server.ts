import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath, repoRoot } from './paths.js';
import { ManagedProcess, spawnProcess } from './processes.js';
import { allocateAddress, clientUrl, etcdFlags, type ServerAddress, waitUntilServing } from './server-flags.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

export type Engine = 'memory' | 'rocksdb';
/** Every storage engine; interop tests run once per engine. */
export const engines: readonly Engine[] = ['memory', 'rocksdb'];

export interface LatticeServer {
  engine: Engine;
  /** Client URL, e.g. http://127.0.0.1:40123. */
  endpoint: string;
  address: ServerAddress;
  /** The current process (a new one after restart()). */
  readonly process: ManagedProcess;
  /** SIGKILL, keeping the data dir (crash). */
  kill9(): Promise<void>;
  /** SIGTERM (then SIGKILL after a grace period), keeping the data dir (clean shutdown). */
  shutdown(): Promise<void>;
  /** Starts again on the same ports and data dir (after kill9/shutdown; shuts down first if running). */
  restart(): Promise<void>;
  /** Stops the process and removes the data dir. */
  stop(): Promise<void>;
}

const entryPoint = repoPath('bin', 'lattice.js');
const builtMain = repoPath('dist', 'src', 'cli', 'main.js');

/** Starts Lattice (node bin/lattice.js, etcd's flags plus --engine) on free ports in a temp data dir. */
export async function startLattice(engine: Engine, name = 'lattice'): Promise<LatticeServer> {
  if (!existsSync(builtMain)) {
    throw new Error(`Lattice is not built: ${builtMain} does not exist (run tsc; is src/cli/main.ts written yet?)`);
  }
  const root = makeTempDir(`lattice-${engine}`);
  const address = await allocateAddress(name, join(root, 'data'));
  const launch = async (): Promise<ManagedProcess> => {
    const server = spawnProcess({
      name: `lattice --engine ${engine}`,
      command: process.execPath,
      args: [entryPoint, ...etcdFlags(address), '--engine', engine],
      cwd: repoRoot,
      logFile: join(root, 'lattice.log'),
    });
    await waitUntilServing(server, address);
    return server;
  };

  let current: ManagedProcess;
  try {
    current = await launch();
  } catch (err) {
    removeTempDir(root);
    throw err;
  }

  return {
    engine,
    endpoint: clientUrl(address),
    address,
    get process() {
      return current;
    },
    async kill9() {
      await current.kill9();
    },
    async shutdown() {
      await current.stop();
    },
    async restart() {
      if (current.running) await current.stop();
      current = await launch();
    },
    async stop() {
      try {
        await current.stop();
      } finally {
        removeTempDir(root);
      }
    },
  };
}
