// `lattice [flags]` and `lattice config …`: parse etcd-style flags, start the server in this process,
// stop it on SIGINT/SIGTERM. Exit codes follow etcd: 2 for a malformed command line, 1 for invalid
// values or a failure while running, 0 after a clean shutdown, --help or --version.

import { readdirSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import {
  ConfigError,
  helpText,
  usageText,
  verifyBootstrap,
  formatInitialCluster,
  type ParseResult,
  type ServerConfig,
} from '../server/config.js';
import { createLogger, type Logger } from '../server/logger.js';
import { startIdleMemoryReturn } from '../server/idle-memory-return.js';
import { IdentityError } from '../server/member-identity.js';
import type { RunningServer } from '../server/lattice-server.js';
import { parseServerArgs, runConfigCommand } from '../config/config-cli.js';
import { ConfigFileError } from '../config/lattice-toml.js';

/** How long close() may take after a signal before the process gives up and exits 1. */
const shutdownTimeoutMs = 30_000;
const etcdApiVersion = '3.4';

function packageVersion(): string {
  try {
    // dist/src/cli/main.js → package.json at the repository root.
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    const v = (pkg as { version?: unknown }).version;
    return typeof v === 'string' ? v : 'unknown';
  } catch {
    return 'unknown';
  }
}

function versionText(): string {
  return [
    `Lattice Version: ${packageVersion()}`,
    `etcd API Version: ${etcdApiVersion}`,
    `Node Version: ${process.version}`,
    `Node OS/Arch: ${process.platform}/${process.arch}`,
  ].join('\n') + '\n';
}

/** etcd skips its bootstrap checks when the data dir already holds a member; so do we. */
function dataDirIsEmpty(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  }
}

function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (osConstants.signals[signal] ?? 0);
}

function logStartup(cfg: ServerConfig, log: Logger): void {
  log.info('Lattice starting', {
    'lattice-version': packageVersion(),
    'etcd-api-version': etcdApiVersion,
    'node-version': process.version,
    'node-os': process.platform,
    'node-arch': process.arch,
    pid: process.pid,
  });
  for (const w of cfg.warnings) log.warn(w);
  log.info('configuration', {
    name: cfg.name,
    'data-dir': cfg.dataDir,
    engine: cfg.engine,
    'actor-placement': cfg.actorPlacement,
    'transport-workers': cfg.transportWorkers,
    shards: cfg.shards,
    'listen-client-urls': cfg.listenClientUrls,
    'advertise-client-urls': cfg.advertiseClientUrls,
    'listen-peer-urls': cfg.listenPeerUrls,
    'initial-advertise-peer-urls': cfg.initialAdvertisePeerUrls,
    'initial-cluster': formatInitialCluster(cfg.initialCluster),
    'initial-cluster-state': cfg.initialClusterState,
    'initial-cluster-token': cfg.initialClusterToken,
    'snapshot-count': cfg.snapshotCount,
    'heartbeat-interval': `${cfg.heartbeatIntervalMs}ms`,
    'election-timeout': `${cfg.electionTimeoutMs}ms`,
    'quota-backend-bytes': cfg.quotaBackendBytes,
    'max-request-bytes': cfg.maxRequestBytes,
    'max-txn-ops': cfg.maxTxnOps,
    'unsafe-no-fsync': cfg.unsafeNoFsync,
    durability: cfg.durabilityMode,
    'fsync-policy': cfg.fsyncPolicy,
    tenants: cfg.tenants.map((t) => t.name),
    'force-new-cluster': cfg.forceNewCluster,
  });
}

export async function runServerCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  // lattice.toml: `config check|print`, and `[start] --config lattice.toml` (src/config/).
  if (argv[0] === 'config') return runConfigCommand(argv.slice(1), env, { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
  let parsed: ParseResult;
  try {
    parsed = parseServerArgs(argv, env).result;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (e instanceof ConfigFileError) {
      process.stderr.write(`lattice: invalid config file ${e.path}:\n${e.message}\n`);
    } else if (e.kind === 'usage') {
      process.stderr.write(`lattice: ${e.message}\n${usageText()}`);
    } else {
      process.stderr.write(`lattice: error verifying flags, ${e.message}. See 'lattice --help'.\n`);
    }
    return e.exitCode;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(helpText());
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(versionText());
    return 0;
  }
  const cfg = parsed;

  let log: Logger;
  try {
    log = createLogger({ level: cfg.logLevel, outputs: cfg.logOutputs }).named('cli/main');
  } catch (e) {
    process.stderr.write(`lattice: cannot open log outputs ${JSON.stringify(cfg.logOutputs)}: ${(e as Error).message}\n`);
    return 1;
  }

  process.on('uncaughtException', (err) => {
    log.error('uncaught exception; exiting', { error: err.stack ?? String(err) });
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    log.error('unhandled promise rejection; exiting', {
      error: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason),
    });
    process.exit(1);
  });

  // Signals may arrive while the server is still starting; remember them and stop once it is up.
  let server: RunningServer | undefined;
  let stopRequested: NodeJS.Signals | undefined;
  let stopping = false;
  let resolveExit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((r) => {
    resolveExit = r;
  });

  const stop = (signal: NodeJS.Signals): void => {
    // Without a server (restarting for a snapshot), the restart checks stopRequested when it is done.
    if (stopping || !server) return;
    stopping = true;
    log.info('received signal; shutting down', { signal });
    const timer = setTimeout(() => {
      log.error('shutdown did not finish in time; exiting', { 'timeout-ms': shutdownTimeoutMs });
      process.exit(1);
    }, shutdownTimeoutMs);
    timer.unref();
    server.close().then(
      () => {
        clearTimeout(timer);
        log.info('server stopped');
        resolveExit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        log.error('error while shutting down', { error: err instanceof Error ? err.message : String(err) });
        resolveExit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping || stopRequested !== undefined) {
      log.warn('received second signal; exiting immediately', { signal });
      process.exit(signalExitCode(signal));
    }
    stopRequested = signal;
    stop(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Keep the process up until a signal even if the server holds no handle of its own (e.g. the stub).
  const keepAlive = setInterval(() => undefined, 1 << 30);
  void exited.then(() => clearInterval(keepAlive));

  logStartup(cfg, log);
  const idleReturn = startIdleMemoryReturn();
  if (idleReturn instanceof Error) log.warn('memory is not given back after bursts', { error: idleReturn.message });

  try {
    if (dataDirIsEmpty(cfg.dataDir)) verifyBootstrap(cfg);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    log.error('failed to start: invalid initial cluster', { error: e.message });
    resolveExit(1);
    return 1;
  }

  const start = async (): Promise<boolean> => {
    try {
      // Loaded only to serve: `lattice snapshot …` runs without the server's modules in its heap.
      const { startServer } = await import('../server/lattice-server.js');
      server = await startServer(cfg, log.named('server'));
    } catch (e) {
      // The member's own identity refused to start: the message says what and how; a stack would bury it.
      const error = e instanceof IdentityError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
      log.error('failed to start server', { error });
      resolveExit(1);
      return false;
    }
    const running = server;
    void running.ended.then(async (reason) => {
      if (stopping || server !== running) return;
      if (reason === 'removed') {
        // etcd stops a member removed from the cluster and exits cleanly.
        stop('SIGTERM');
        return;
      }
      // A snapshot from the leader was recorded: start again to load it, as if after a crash.
      log.info('restarting the member to load a snapshot received from the leader');
      server = undefined;
      await running.close().catch((e: unknown) => log.warn('error while stopping for a restart', { error: e instanceof Error ? e.message : String(e) }));
      if (!stopping && (await start()) && stopRequested !== undefined) stop(stopRequested);
    });
    return true;
  };
  if (!(await start())) return 1;
  if (stopRequested !== undefined) stop(stopRequested);
  return exited;
}
