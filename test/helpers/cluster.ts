// Multi-member clusters of real etcd or Lattice on loopback, for cluster and fault tests. Members
// start together (a member of a new cluster serves only once it has a leader, so they cannot be
// started one after another), each on its own free client and peer ports and temp data dir.
import { join } from 'node:path';
import { loopbackHost } from './free-port.js';
import { repoPath, repoRoot } from './paths.js';
import { allocateAddress, clientUrl, launchRestartable, type RestartableServer, type ServerAddress } from './server-flags.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';
import type { Engine } from './lattice-server.js';

export type ClusterKind = 'etcd' | 'lattice';

export interface ClusterMember extends RestartableServer {
  readonly name: string;
  readonly peerUrl: string;
  /** SIGSTOP: the process stays, answers nothing (a paused VM, a GC pause). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

export interface TestCluster {
  readonly kind: ClusterKind;
  readonly members: readonly ClusterMember[];
  /** Every member's client URL, comma-separated, as etcdctl's --endpoints takes them. */
  readonly endpoints: string;
  /** Stops every member and removes the data dirs. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  readonly size: number;
  /** Lattice only. */
  readonly engine?: Engine;
  readonly token?: string;
  readonly extraArgs?: readonly string[];
  /** Lattice only: extra environment variables for a member, by its name (m1, m2, ...). */
  readonly memberEnv?: (name: string) => Readonly<Record<string, string>>;
  /** 'https': peer URLs are https (give the --peer-* TLS flags in extraArgs). Default 'http'. */
  readonly peerScheme?: 'http' | 'https';
}

const peerUrlOf = (a: ServerAddress, scheme: 'http' | 'https' = 'http'): string => `${scheme}://${loopbackHost}:${a.peerPort}`;

/** The flags etcd documents for a static bootstrap, for one member of `all`. */
export function memberFlags(self: ServerAddress, all: readonly ServerAddress[], token: string, state: 'new' | 'existing' = 'new', peerScheme: 'http' | 'https' = 'http'): string[] {
  const client = clientUrl(self);
  const peer = peerUrlOf(self, peerScheme);
  return [
    '--name', self.name,
    '--data-dir', self.dataDir,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', all.map((a) => `${a.name}=${peerUrlOf(a, peerScheme)}`).join(','),
    '--initial-cluster-token', token,
    '--initial-cluster-state', state,
  ];
}

export async function startCluster(kind: ClusterKind, options: ClusterOptions): Promise<TestCluster> {
  const root = makeTempDir(`cluster-${kind}`);
  const token = options.token ?? `${kind}-test-cluster`;
  const addresses: ServerAddress[] = [];
  for (let i = 0; i < options.size; i++) addresses.push(await allocateAddress(`m${i + 1}`, join(root, `m${i + 1}`)));
  const launches = addresses.map((address) => {
    const args = memberFlags(address, addresses, token, 'new', options.peerScheme);
    const engineArgs = kind === 'lattice' ? ['--engine', options.engine ?? 'memory'] : [];
    return launchRestartable(
      kind === 'etcd'
        ? { label: `etcd ${address.name}`, command: 'etcd', args: [...args, ...(options.extraArgs ?? [])], logFile: join(root, `${address.name}.log`) }
        : {
            label: `lattice ${address.name}`,
            command: process.execPath,
            args: [repoPath('bin', 'lattice.js'), ...args, ...engineArgs, ...(options.extraArgs ?? [])],
            cwd: repoRoot,
            env: options.memberEnv === undefined ? undefined : { ...process.env, ...options.memberEnv(address.name) },
            logFile: join(root, `${address.name}.log`),
          },
      address,
      () => undefined,
    );
  });
  const settled = await Promise.allSettled(launches);
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.allSettled(started.map((s) => s.stop()));
    removeTempDir(root);
    throw failed.reason;
  }
  const members = started.map((server, i): ClusterMember => {
    const address = addresses[i]!;
    return Object.assign(server, {
      name: address.name,
      peerUrl: peerUrlOf(address, options.peerScheme),
      pause: () => process.kill(server.process.pid, 'SIGSTOP'),
      resume: () => process.kill(server.process.pid, 'SIGCONT'),
    });
  });
  return {
    kind,
    members,
    endpoints: members.map((m) => m.endpoint).join(','),
    async stop() {
      try {
        await Promise.allSettled(
          members.map(async (m) => {
            if (m.process.running) process.kill(m.process.pid, 'SIGCONT');
            await m.stop();
          }),
        );
      } finally {
        removeTempDir(root);
      }
    },
  };
}
