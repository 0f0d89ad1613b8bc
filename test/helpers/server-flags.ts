import { loopbackHost, freePorts } from './free-port.js';
import { ManagedProcess, spawnProcess, tcpCheck, waitUntil } from './processes.js';

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

export interface LaunchSpec {
  /** For messages: "etcd", "lattice --engine memory". */
  label: string;
  command: string;
  /** Arguments after the command (etcdFlags plus extras). */
  args: string[];
  cwd?: string;
  /** Log file (appended across restarts). */
  logFile: string;
  /** Environment of the process (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** A server whose process can be crashed, shut down and started again on the same ports and data dir. */
export interface RestartableServer {
  /** Client URL, e.g. http://127.0.0.1:40123. */
  endpoint: string;
  address: ServerAddress;
  /** The current process (a new one after restart()). */
  readonly process: ManagedProcess;
  /** SIGKILL, keeping the data dir (crash). */
  kill9(): Promise<void>;
  /** SIGTERM (SIGKILL after a grace period), keeping the data dir (clean shutdown). */
  shutdown(): Promise<void>;
  /** Starts again on the same ports and data dir; shuts down first if still running. */
  restart(): Promise<void>;
  /** Stops the process and removes the data dir. */
  stop(): Promise<void>;
}

/** Launches spec and waits until it serves; `cleanup` runs on stop() and when the first start fails. */
export async function launchRestartable(
  spec: LaunchSpec,
  address: ServerAddress,
  cleanup: () => void,
): Promise<RestartableServer> {
  const launch = async (): Promise<ManagedProcess> => {
    const server = spawnProcess({ name: spec.label, command: spec.command, args: spec.args, cwd: spec.cwd, env: spec.env, logFile: spec.logFile });
    await waitUntilServing(server, address);
    return server;
  };
  let current: ManagedProcess;
  try {
    current = await launch();
  } catch (err) {
    cleanup();
    throw err;
  }
  return {
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
        cleanup();
      }
    },
  };
}
