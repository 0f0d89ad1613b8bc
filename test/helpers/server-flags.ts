import { loopbackHost, freePorts } from './free-port.js';
import { ManagedProcess, tcpCheck, waitUntil } from './processes.js';

/** How long a server (etcd or Lattice) gets to print its ready line and accept connections. */
export const serverStartTimeoutMs = 30_000;
/** Both etcd and Lattice print this once they serve clients. */
export const readyPattern = /ready to serve client requests/;

export interface ServerAddress {
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
}

export async function allocateAddress(name: string, dataDir: string): Promise<ServerAddress> {
  const [clientPort, peerPort] = await freePorts(2);
  if (clientPort === undefined || peerPort === undefined) throw new Error('no free ports');
  return { name, dataDir, clientPort, peerPort };
}

export function clientUrl(address: ServerAddress): string {
  return `http://${loopbackHost}:${address.clientPort}`;
}

/** etcd's single-member command line; Lattice takes the same flags. */
export function etcdFlags(address: ServerAddress): string[] {
  const client = clientUrl(address);
  const peer = `http://${loopbackHost}:${address.peerPort}`;
  return [
    '--name', address.name,
    '--data-dir', address.dataDir,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${address.name}=${peer}`,
  ];
}

/** Waits for the ready line and an accepting client port; on failure kills the process and throws with its output tail. */
export async function waitUntilServing(server: ManagedProcess, address: ServerAddress): Promise<void> {
  const started = Date.now();
  try {
    await server.waitForLine(readyPattern, serverStartTimeoutMs);
    await waitUntil(() => tcpCheck(loopbackHost, address.clientPort), {
      timeoutMs: Math.max(1_000, serverStartTimeoutMs - (Date.now() - started)),
      what: `${server.name} to accept connections on ${address.clientPort}`,
      abortIf: () => (server.running ? null : server.describeExit()),
    });
  } catch (err) {
    await server.kill9();
    throw err instanceof Error && err.message.includes('--- last output ---')
      ? err
      : server.failure(err instanceof Error ? err.message : String(err));
  }
}
