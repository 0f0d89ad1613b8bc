// Lattice or real etcd serving clients over https (and, optionally, plain http on a second port),
// with the fixed test certificates of test/fixtures/tls (made by make-fixtures.sh).
import { join } from 'node:path';
import { freePort, loopbackHost } from './free-port.js';
import { repoPath, repoRoot } from './paths.js';
import { allocateAddress, launchRestartable, type RestartableServer } from './server-flags.js';
import { makeTempDir, removeTempDir } from './temp-dirs.js';
import type { Engine } from './lattice-server.js';

export type ServerKind = 'lattice' | 'etcd';

export const tlsFixture = (file: string): string => repoPath('test', 'fixtures', 'tls', file);

/**
 * The server certificate with a CA for clients' certificates, and a CRL revoking client-revoked.pem
 * (crl-expired.pem revokes the same ones, its nextUpdate long past).
 */
export const mtlsServerFlags = (crl: 'crl.pem' | 'crl-expired.pem' = 'crl.pem'): string[] => [
  '--cert-file', tlsFixture('server.pem'),
  '--key-file', tlsFixture('server-key.pem'),
  '--trusted-ca-file', tlsFixture('ca.pem'),
  '--client-cert-auth',
  '--client-crl-file', tlsFixture(crl),
];

/** etcdctl's flags for a client with the named certificate (client, client-alice, client-expired, ...). */
export const etcdctlTlsFlags = (cert: string | undefined): string[] => [
  '--cacert', tlsFixture('ca.pem'),
  ...(cert === undefined ? [] : ['--cert', tlsFixture(`${cert}.pem`), '--key', tlsFixture(`${cert}-key.pem`)]),
];

export interface TlsServer extends RestartableServer {
  /** https://127.0.0.1:port */
  readonly endpoint: string;
  /** http://127.0.0.1:port when started with a plain listener too. */
  readonly plainEndpoint: string | undefined;
  readonly logFile: string;
  readonly dataDir: string;
  /** The peer URL (https with `peerHttps`). */
  readonly peerEndpoint: string;
}

export interface TlsServerOptions {
  readonly engine?: Engine;
  /** TLS flags (mtlsServerFlags(), --auto-tls, ...). */
  readonly flags: readonly string[];
  /** Also listen on a plain http URL. */
  readonly plain?: boolean;
  /** An https peer URL (the peer TLS flags go in `flags`). */
  readonly peerHttps?: boolean;
}

export async function startTlsServer(kind: ServerKind, options: TlsServerOptions): Promise<TlsServer> {
  const root = makeTempDir(`tls-${kind}`);
  const address = await allocateAddress(kind, join(root, 'data'));
  const plainPort = options.plain === true ? await freePort() : undefined;
  const secure = `https://${loopbackHost}:${address.clientPort}`;
  const plain = plainPort === undefined ? undefined : `http://${loopbackHost}:${plainPort}`;
  const peer = `${options.peerHttps === true ? 'https' : 'http'}://${loopbackHost}:${address.peerPort}`;
  const args = [
    '--name', address.name,
    '--data-dir', address.dataDir,
    '--listen-client-urls', plain === undefined ? secure : `${secure},${plain}`,
    '--advertise-client-urls', secure,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${address.name}=${peer}`,
    ...options.flags,
  ];
  const logFile = join(root, `${kind}.log`);
  const server = await launchRestartable(
    kind === 'etcd'
      ? { label: 'etcd (TLS)', command: 'etcd', args, logFile }
      : { label: `lattice (TLS) --engine ${options.engine ?? 'memory'}`, command: process.execPath, args: [repoPath('bin', 'lattice.js'), ...args, '--engine', options.engine ?? 'memory'], cwd: repoRoot, logFile },
    address,
    () => removeTempDir(root),
  );
  return Object.assign(server, { endpoint: secure, plainEndpoint: plain, logFile, dataDir: address.dataDir, peerEndpoint: peer });
}
