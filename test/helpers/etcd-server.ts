import { join } from 'node:path';
import { ManagedProcess, spawnProcess } from './processes.js';
import { allocateAddress, clientUrl, etcdFlags, type ServerAddress, waitUntilServing } from './server-flags.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

export interface EtcdServer {
  /** Client URL, e.g. http://127.0.0.1:40123. */
  endpoint: string;
  address: ServerAddress;
  process: ManagedProcess;
  /** Stops the process (SIGTERM, then SIGKILL) and removes its data dir. */
  stop(): Promise<void>;
}

/** Starts a fresh single-member real etcd on free ports in a temp data dir. */
export async function startEtcd(name = 'etcd'): Promise<EtcdServer> {
  const root = makeTempDir('etcd');
  try {
    const address = await allocateAddress(name, join(root, 'data'));
    const server = spawnProcess({
      name: 'etcd',
      command: 'etcd',
      args: etcdFlags(address),
      logFile: join(root, 'etcd.log'),
    });
    await waitUntilServing(server, address);
    return {
      endpoint: clientUrl(address),
      address,
      process: server,
      async stop() {
        try {
          await server.stop();
        } finally {
          removeTempDir(root);
        }
      },
    };
  } catch (err) {
    removeTempDir(root);
    throw err;
  }
}
