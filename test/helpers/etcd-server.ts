import { join } from 'node:path';
import { allocateAddress, etcdFlags, launchRestartable, type RestartableServer } from './server-flags.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';

export type EtcdServer = RestartableServer;

/** Starts a fresh single-member real etcd on free ports in a temp data dir (with any extra flags). */
export async function startEtcd(name = 'etcd', extraArgs: readonly string[] = []): Promise<EtcdServer> {
  const root = makeTempDir('etcd');
  const address = await allocateAddress(name, join(root, 'data'));
  return launchRestartable(
    { label: 'etcd', command: 'etcd', args: [...etcdFlags(address), ...extraArgs], logFile: join(root, 'etcd.log') },
    address,
    () => removeTempDir(root),
  );
}
