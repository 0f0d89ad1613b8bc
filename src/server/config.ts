// Command-line, environment and config-file parsing with etcd 3.4's syntax and semantics
// (etcdmain/config.go, embed/config.go, pkg/flags), so Lattice can replace the `etcd` binary in scripts.
//
// Precedence, as in etcd: with --config-file (or ETCD_CONFIG_FILE) only the file counts and other flags and
// environment variables are ignored (but still syntax-checked); otherwise flags win over ETCD_* variables.

import type { TenantSpec } from '../tenants/tenant-spec.js';
import { parseTenantsJson } from '../tenants/tenants-file.js';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { isLogLevel, type LogLevel } from './logger.js';
import { durabilityFromFlags } from '../log/durability-mode.js';
import { transportSecurityFromFlags } from '../tls/tls-flags.js';
import { byteOrder, formatInitialCluster, normalizeUrl, parseInitialCluster, parseUrlList, splitHostPort } from './etcd-urls.js';
import type { TransportSecurity } from '../tls/transport-security.js';

export { formatInitialCluster, normalizeUrl, parseInitialCluster, parseUrlList } from './etcd-urls.js';

// ---------------------------------------------------------------------------------------------------------
// Result types

export type ClusterState = 'new' | 'existing';
export type EngineKind = 'memory' | 'rocksdb';
export type ActorPlacement = 'main' | 'worker';
export type CompactionMode = 'periodic' | 'revision';
export type DurabilityMode = 'sync' | 'quorum' | 'async';
export type FsyncPolicy = 'always' | 'never';

export interface ServerConfig {
  readonly kind: 'server';
  readonly name: string;
  readonly dataDir: string;
  /** '' means inside the data dir; accepted but not honoured yet (see ignoredFlags). */
  readonly walDir: string;
  /** URLs in etcd's normalised form (`http://host:port`, no trailing slash), sorted as etcd sorts them. */
  readonly listenClientUrls: readonly string[];
  readonly advertiseClientUrls: readonly string[];
  readonly listenPeerUrls: readonly string[];
  readonly initialAdvertisePeerUrls: readonly string[];
  readonly listenMetricsUrls: readonly string[];
  /** name → sorted peer URLs; empty only when etcd would also have none. */
  readonly initialCluster: ReadonlyMap<string, readonly string[]>;
  readonly initialClusterToken: string;
  /** Whether the token was given (flag, variable or config file) rather than etcd's default. */
  readonly initialClusterTokenGiven: boolean;
  readonly initialClusterState: ClusterState;
  readonly snapshotCount: number;
  /** etcd 3.5 --experimental-snapshot-catchup-entries: entries kept behind a Raft snapshot for slow followers. */
  readonly snapshotCatchUpEntries: number;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly initialElectionTickAdvance: boolean;
  readonly preVote: boolean;
  /** The leader records leases' remaining TTLs this often (etcd's lease checkpoints); undefined: off. */
  readonly leaseCheckpointIntervalMs?: number | undefined;
  /** Resolved: 0 on the command line becomes etcd's 2 GiB default; negative means no quota, as in etcd. */
  readonly quotaBackendBytes: number;
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly maxConcurrentStreams: number;
  readonly grpcKeepAliveMinTimeMs: number;
  readonly grpcKeepAliveIntervalMs: number;
  readonly grpcKeepAliveTimeoutMs: number;
  readonly logger: 'zap' | 'capnslog';
  readonly logLevel: LogLevel;
  readonly logOutputs: readonly string[];
  readonly autoCompactionMode: CompactionMode;
  /** The raw flag value ('0' = disabled). */
  readonly autoCompactionRetention: string;
  /** Periodic mode: the retention in milliseconds; revision mode: a revision count. 0 = disabled. */
  readonly autoCompactionRetentionValue: number;
  /** Revision mode: how often the retention is checked (etcd: a fixed 5 min; Lattice lets tests shorten it). */
  readonly autoCompactionRevisionCheckIntervalMs: number;
  readonly enablePprof: boolean;
  readonly metrics: string;
  readonly enableV2: boolean;
  readonly enableGrpcGateway: boolean;
  readonly forceNewCluster: boolean;
  readonly strictReconfigCheck: boolean;
  readonly unsafeNoFsync: boolean;
  /** etcd --experimental-watch-progress-notify-interval; raised to 100 ms as etcd does. */
  readonly watchProgressNotifyIntervalMs: number;
  readonly authToken: string;
  readonly bcryptCost: number;
  readonly authTokenTtlSeconds: number;
  /** --cert-file, --key-file, --trusted-ca-file, --client-cert-auth, --client-crl-file, --auto-tls, --cipher-suites. */
  readonly clientTls: TransportSecurity;
  /** The --peer-* TLS flags (and --cipher-suites). */
  readonly peerTls: TransportSecurity;
  // Lattice's own settings
  readonly engine: EngineKind;
  readonly actorPlacement: ActorPlacement;
  /** Child processes serving the plain-text client connections (0: the server's own thread). */
  readonly transportWorkers: number;
  readonly shards: number;
  readonly configFile: string | undefined;
  /** --api-cors-origins: origins allowed to write through /api from a browser. */
  readonly apiCorsOrigins: readonly string[];
  /** --host-whitelist, comma-split (`*`: etcd's default). */
  readonly hostWhitelist: readonly string[];
  /** --durability / [durability] mode (src/log/durability-mode.ts): when a write is acknowledged. */
  readonly durabilityMode: DurabilityMode;
  /** --fsync-policy ('never' also with --unsafe-no-fsync): whether the Raft WAL is fsynced at all. */
  readonly fsyncPolicy: FsyncPolicy;
  /** quorum/async: how long an acknowledged write may wait for its background fsync. */
  readonly fsyncIntervalMs: number;
  /** --max-client-connections: open connections per client listener (0: no limit). */
  readonly maxClientConnections: number;
  /** --client-idle-timeout: a client connection silent this long both ways is closed (0: never). */
  readonly clientIdleTimeoutMs: number;
  /** Tenants from the config file's [tenants.<name>] tables (src/tenants/). */
  readonly tenants: readonly TenantSpec[];
  /** Flags etcd knows that were set but that Lattice does not implement yet (without dashes). */
  readonly ignoredFlags: readonly string[];
  /** Human-readable warnings to log at startup (etcd logs the same situations). */
  readonly warnings: readonly string[];
}

export type ParseResult = ServerConfig | { readonly kind: 'version' } | { readonly kind: 'help' };

/**
 * `usage`: the command line itself is malformed (etcd prints the message and its usage, exits 2).
 * `invalid`: the values do not validate (etcd logs "error verifying flags, …" and exits 1).
 */
export type ConfigErrorKind = 'usage' | 'invalid';

export class ConfigError extends Error {
  constructor(
    readonly kind: ConfigErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
  get exitCode(): 1 | 2 {
    return this.kind === 'usage' ? 2 : 1;
  }
}

export interface ParseOptions {
  /**
   * A flag also given as an ETCD_* variable: etcd 3.4 exits 1 ("conflicting environment variable … is
   * shadowed"); Lattice by default lets the flag win and warns. 'fail' mirrors etcd exactly.
   */
  readonly envConflict?: 'warn' | 'fail';
  /** Reads --config-file; injected for tests. */
  readonly readFile?: (path: string) => string;
  /** Flag values from a lattice.toml (src/config/): below flags and environment variables, above defaults. */
  readonly fileValues?: ReadonlyMap<string, FlagValue>;
  /** Told every flag's effective value before validation (`lattice config print`). */
  readonly onEffective?: (values: ReadonlyMap<string, FlagValue>) => void;
}

// ---------------------------------------------------------------------------------------------------------
// Limits and etcd defaults

export const defaultQuotaBackendBytes = 2 * 1024 * 1024 * 1024;
export const maxQuotaBackendBytes = 8 * 1024 * 1024 * 1024;
export const defaultSnapshotCount = 100_000;
/** etcd's SnapshotCatchUpEntries (a flag only from etcd 3.5 on). */
export const defaultSnapshotCatchUpEntries = 5000;
export const maxElectionTimeoutMs = 50_000;
export const maxShards = 1024;
/** Transport worker processes at most: one per core of a large machine. */
export const maxTransportWorkers = 64;
const defaultName = 'default';
const defaultPeerUrl = 'http://localhost:2380';
const defaultClientUrl = 'http://localhost:2379';

// ---------------------------------------------------------------------------------------------------------
// URLs, with Go's net/url + etcd's types.NewURLs rules

/**
 * Where to bind for a listen URL. `localhost` binds to 127.0.0.1 (etcd allows the name as a special case).
 * Throws ConfigError for unix-socket URLs, which Lattice does not listen on.
 */
export function listenAddress(url: string): { host: string; port: number; tls: boolean } {
  const normalized = normalizeUrl(url);
  const scheme = normalized.slice(0, normalized.indexOf(':'));
  if (scheme === 'unix' || scheme === 'unixs') {
    throw new ConfigError('invalid', `unix socket URLs are not supported by Lattice (${normalized})`);
  }
  const authority = normalized.slice(scheme.length + 3).replace(/[?#].*$/s, '');
  const hp = splitHostPort(authority.slice(authority.lastIndexOf('@') + 1));
  if (!hp) throw new ConfigError('invalid', `URL address does not have the form "host:port": ${url}`);
  const port = hp.port === '' ? 0 : Number(hp.port);
  if (!/^\d*$/.test(hp.port) || !Number.isInteger(port) || port > 65535) {
    throw new ConfigError('invalid', `invalid port in URL ${url}`);
  }
  const host = hp.host === 'localhost' ? '127.0.0.1' : hp.host === '' ? '0.0.0.0' : hp.host;
  return { host, port, tls: scheme === 'https' };
}

function hostOf(url: string): string {
  const authority = url.slice(url.indexOf('://') + 3).replace(/[/?#].*$/s, '');
  return splitHostPort(authority.slice(authority.lastIndexOf('@') + 1))?.host ?? '';
}

const isIp = (host: string): boolean =>
  /^(\d{1,3})(\.\d{1,3}){3}$/.test(host) && host.split('.').every((o) => Number(o) <= 255)
    ? true
    : host.includes(':') && /^[0-9A-Fa-f:.]+(%.+)?$/.test(host);

// ---------------------------------------------------------------------------------------------------------
// The flag table

type FlagKind = 'string' | 'bool' | 'uint' | 'uint32' | 'int' | 'duration' | 'urls' | 'strings' | 'legacy';

const maxUint32 = 2 ** 32 - 1;
export type FlagValue = string | boolean | number | readonly string[];
type Source = 'flag' | 'env' | 'file';

interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly def: FlagValue;
  readonly choices?: readonly string[];
  /** 'ignored': etcd has it, Lattice accepts it but does not implement it yet. */
  readonly support: 'yes' | 'ignored';
  readonly envPrefix: 'ETCD' | 'LATTICE';
  readonly help: string;
  readonly section: string;
}

const spec = (
  section: string,
  name: string,
  kind: FlagKind,
  def: FlagValue,
  help: string,
  extra: Partial<Pick<FlagSpec, 'choices' | 'support' | 'envPrefix'>> = {},
): FlagSpec => ({ section, name, kind, def, help, support: 'yes', envPrefix: 'ETCD', ...extra });

const ign = { support: 'ignored' } as const;
const S = 'Member';
const C = 'Clustering';
const SEC = 'Security';
const L = 'Logging';
const P = 'Profiling and Monitoring';
const A = 'Auth';
const X = 'Experimental feature';
const U = 'Unsafe feature';
const PX = 'v2 Proxy (not supported by Lattice)';
const LA = 'Lattice';

// Flag names, types and defaults follow etcdmain/config.go (3.4) plus --unsafe-no-fsync.
const flagSpecs: readonly FlagSpec[] = [
  spec(S, 'config-file', 'string', '', 'Path to the server configuration file (YAML). Other flags and environment variables are then ignored.'),
  spec(S, 'name', 'string', defaultName, 'Human-readable name for this member.'),
  spec(S, 'data-dir', 'string', '', "Path to the data directory. Default '${name}.etcd'."),
  spec(S, 'wal-dir', 'string', '', 'Path to the dedicated wal directory.', ign),
  spec(S, 'snapshot-count', 'uint', defaultSnapshotCount, 'Number of committed transactions to trigger a snapshot to disk.'),
  spec(S, 'heartbeat-interval', 'uint', 100, 'Time (in milliseconds) of a heartbeat interval.'),
  spec(S, 'election-timeout', 'uint', 1000, 'Time (in milliseconds) for an election to timeout.'),
  spec(S, 'initial-election-tick-advance', 'bool', true, 'Whether to fast-forward initial election ticks on boot for faster election.'),
  spec(S, 'listen-peer-urls', 'urls', [defaultPeerUrl], 'List of URLs to listen on for peer traffic.'),
  spec(S, 'listen-client-urls', 'urls', [defaultClientUrl], 'List of URLs to listen on for client traffic.'),
  spec(S, 'max-snapshots', 'uint', 5, 'Maximum number of snapshot files to retain (0 is unlimited).', ign),
  spec(S, 'max-wals', 'uint', 5, 'Maximum number of wal files to retain (0 is unlimited).', ign),
  spec(S, 'quota-backend-bytes', 'int', 0, 'Raise alarms when backend size exceeds the given quota (0 defaults to 2 GiB).'),
  spec(S, 'backend-batch-interval', 'duration', 0, 'Maximum time before committing the backend transaction.', ign),
  spec(S, 'backend-batch-limit', 'int', 0, 'Maximum operations before committing the backend transaction.', ign),
  spec(S, 'max-txn-ops', 'uint', 128, 'Maximum number of operations permitted in a transaction.'),
  spec(S, 'max-request-bytes', 'uint', 1572864, 'Maximum client request size in bytes the server will accept.'),
  spec(S, 'max-concurrent-streams', 'uint32', 4294967295, 'Maximum concurrent streams that each client can open at a time.'),
  spec(S, 'grpc-keepalive-min-time', 'duration', 5000, 'Minimum interval duration that a client should wait before pinging server.'),
  spec(S, 'grpc-keepalive-interval', 'duration', 2 * 3600 * 1000, 'Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).'),
  spec(S, 'grpc-keepalive-timeout', 'duration', 20000, 'Additional duration of wait before closing a non-responsive connection (0 to disable).'),

  spec(C, 'initial-advertise-peer-urls', 'urls', [defaultPeerUrl], "List of this member's peer URLs to advertise to the rest of the cluster."),
  spec(C, 'initial-cluster', 'string', `${defaultName}=${defaultPeerUrl}`, 'Initial cluster configuration for bootstrapping.'),
  spec(C, 'initial-cluster-state', 'string', 'new', "Initial cluster state ('new' or 'existing').", { choices: ['new', 'existing'] }),
  spec(C, 'initial-cluster-token', 'string', 'etcd-cluster', 'Initial cluster token for the etcd cluster during bootstrap.'),
  spec(C, 'advertise-client-urls', 'urls', [defaultClientUrl], "List of this member's client URLs to advertise to the public."),
  spec(C, 'discovery', 'string', '', 'Discovery URL used to bootstrap the cluster (not supported by Lattice).'),
  spec(C, 'discovery-fallback', 'string', 'proxy', "Expected behavior ('exit' or 'proxy') when discovery services fails.", { choices: ['proxy', 'exit'], ...ign }),
  spec(C, 'discovery-proxy', 'string', '', 'HTTP proxy to use for traffic to discovery service.', ign),
  spec(C, 'discovery-srv', 'string', '', 'DNS srv domain used to bootstrap the cluster (not supported by Lattice).'),
  spec(C, 'discovery-srv-name', 'string', '', 'Suffix to the dns srv name queried when bootstrapping.', ign),
  spec(C, 'strict-reconfig-check', 'bool', true, 'Reject reconfiguration requests that would cause quorum loss.'),
  // On by default as in etcd 3.5: with check-quorum alone, a follower that times out first can be ignored by one
  // still inside its leader lease, and the term it spent then delays the election by another timeout.
  spec(C, 'pre-vote', 'bool', true, 'Enable to run an additional Raft election phase.'),
  spec(C, 'auto-compaction-retention', 'string', '0', 'Auto compaction retention length. 0 means disable auto compaction.'),
  spec(C, 'auto-compaction-mode', 'string', 'periodic', "Interpret 'auto-compaction-retention' one of: periodic|revision."),
  spec(C, 'enable-v2', 'bool', false, 'Accept etcd V2 client requests (not supported by Lattice).', ign),

  spec(PX, 'proxy', 'string', 'off', "Proxy mode setting ('off', 'readonly' or 'on').", { choices: ['off', 'readonly', 'on'] }),
  spec(PX, 'proxy-failure-wait', 'uint', 5000, 'Time (in milliseconds) an endpoint will be held in a failed state.', ign),
  spec(PX, 'proxy-refresh-interval', 'uint', 30000, 'Time (in milliseconds) of the endpoints refresh interval.', ign),
  spec(PX, 'proxy-dial-timeout', 'uint', 1000, 'Time (in milliseconds) for a dial to timeout.', ign),
  spec(PX, 'proxy-write-timeout', 'uint', 5000, 'Time (in milliseconds) for a write to timeout.', ign),
  spec(PX, 'proxy-read-timeout', 'uint', 0, 'Time (in milliseconds) for a read to timeout.', ign),

  spec(SEC, 'cert-file', 'string', '', 'Path to the client server TLS cert file.'),
  spec(SEC, 'key-file', 'string', '', 'Path to the client server TLS key file.'),
  spec(SEC, 'client-cert-auth', 'bool', false, 'Enable client cert authentication.'),
  spec(SEC, 'client-crl-file', 'string', '', 'Path to the client certificate revocation list file.'),
  spec(SEC, 'client-cert-allowed-hostname', 'string', '', 'Allowed TLS hostname for client cert authentication.'),
  spec(SEC, 'trusted-ca-file', 'string', '', 'Path to the client server TLS trusted CA cert file.'),
  spec(SEC, 'auto-tls', 'bool', false, 'Client TLS using generated certificates.'),
  spec(SEC, 'peer-cert-file', 'string', '', 'Path to the peer server TLS cert file.'),
  spec(SEC, 'peer-key-file', 'string', '', 'Path to the peer server TLS key file.'),
  spec(SEC, 'peer-client-cert-auth', 'bool', false, 'Enable peer client cert authentication.'),
  spec(SEC, 'peer-trusted-ca-file', 'string', '', 'Path to the peer server TLS trusted CA file.'),
  spec(SEC, 'peer-auto-tls', 'bool', false, 'Peer TLS using generated certificates.'),
  spec(SEC, 'peer-crl-file', 'string', '', 'Path to the peer certificate revocation list file.'),
  spec(SEC, 'peer-cert-allowed-cn', 'string', '', 'Allowed CN for inter peer authentication.'),
  spec(SEC, 'peer-cert-allowed-hostname', 'string', '', 'Allowed TLS hostname for inter peer authentication.'),
  spec(SEC, 'cipher-suites', 'strings', [], 'Comma-separated list of supported TLS cipher suites between client/server and peers.'),
  spec(SEC, 'experimental-peer-skip-client-san-verification', 'bool', false, 'Skip verification of SAN field in client certificate for peer connections.', ign),
  spec(SEC, 'cors', 'string', '*', 'Comma-separated white list of origins for CORS (empty or * means allow all).', ign),
  spec(SEC, 'host-whitelist', 'string', '*', 'Comma-separated acceptable hostnames from HTTP client requests (empty means allow all).'),

  spec(L, 'logger', 'string', 'capnslog', "Specify 'zap' for structured logging or 'capnslog'. Lattice always writes zap-style JSON lines."),
  spec(L, 'log-output', 'strings', ['default'], "[TO BE DEPRECATED IN v3.5] use '--log-outputs'.", ign),
  spec(L, 'log-outputs', 'strings', ['default'], "Specify 'stdout' or 'stderr', or a list of comma separated output targets."),
  spec(L, 'debug', 'bool', false, "[TO BE DEPRECATED IN v3.5] Enable debug-level logging. Use '--log-level=debug' instead."),
  spec(L, 'log-level', 'string', 'info', 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.'),
  spec(L, 'log-package-levels', 'string', '', '[TO BE DEPRECATED IN v3.5] Specify a particular log level for each etcd package.', ign),

  spec(S, 'version', 'bool', false, 'Print the version and exit.'),

  spec(P, 'enable-pprof', 'bool', false, 'Enable runtime profiling data via HTTP server.', ign),
  spec(P, 'metrics', 'string', 'basic', "Set level of detail for exported metrics, specify 'extensive' to include histogram metrics."),
  spec(P, 'listen-metrics-urls', 'urls', [], 'List of URLs to listen on for the metrics and health endpoints.'),

  spec(A, 'auth-token', 'string', 'simple', "Specify a v3 authentication token type and its options ('simple' or 'jwt')."),
  spec(A, 'bcrypt-cost', 'uint', 10, 'Specify the cost / strength of the bcrypt algorithm for hashing auth passwords.'),
  spec(A, 'auth-token-ttl', 'uint', 300, 'Time (in seconds) of the auth-token-ttl.'),
  spec(A, 'enable-grpc-gateway', 'bool', true, 'Enable GRPC gateway.'),

  spec(X, 'experimental-initial-corrupt-check', 'bool', false, 'Enable to check data corruption before serving any client/peer traffic.', ign),
  spec(X, 'experimental-corrupt-check-time', 'duration', 0, 'Duration of time between cluster corruption check passes.', ign),
  spec(X, 'experimental-enable-v2v3', 'string', '', 'v3 prefix for serving emulated v2 state.', ign),
  spec(X, 'experimental-backend-bbolt-freelist-type', 'string', '', 'Freelist type that boltdb backend uses.', ign),
  // On by default in Lattice (etcd: off), so a leader change neither resets nor extends a long lease's TTL.
  spec(X, 'experimental-enable-lease-checkpoint', 'bool', true, 'Enable leader to send regular checkpoints to other members to prevent reset of remaining TTL on leader change.'),
  spec(X, 'experimental-lease-checkpoint-interval', 'duration', 5 * 60 * 1000, 'Duration of periodic lease checkpoints (etcd 3.5).'),
  spec(X, 'experimental-enable-lease-checkpoint-persist', 'bool', false, 'Enable persisting remainingTTL.', ign),
  spec(X, 'experimental-compaction-batch-limit', 'int', 0, 'Sets the maximum revisions deleted in each compaction batch.', ign),
  spec(X, 'experimental-auto-compaction-revision-check-interval', 'duration', 5 * 60 * 1000, 'How often revision-mode auto-compaction checks the retention (Lattice; etcd: fixed 5m).'),
  spec(X, 'experimental-watch-progress-notify-interval', 'duration', 10 * 60 * 1000, 'Duration of periodical watch progress notification.'),
  spec(X, 'experimental-snapshot-catchup-entries', 'uint', defaultSnapshotCatchUpEntries, 'Number of entries for a slow follower to catch up after compacting the raft storage entries.'),
  spec(X, 'experimental-warning-apply-duration', 'duration', 100, 'Time duration after which a warning is generated if request takes more time.', ign),

  spec(U, 'unsafe-no-fsync', 'bool', false, 'Disables fsync, unsafe, will cause data loss.'),
  spec(U, 'force-new-cluster', 'bool', false, 'Force to create a new one member cluster.'),

  spec(LA, 'engine', 'string', 'rocksdb', "Storage engine: 'memory' or 'rocksdb'.", { choices: ['memory', 'rocksdb'], envPrefix: 'LATTICE' }),
  spec(LA, 'actor-placement', 'string', 'main', "Where actors run: 'main' thread or 'worker' threads.", { choices: ['main', 'worker'], envPrefix: 'LATTICE' }),
  spec(LA, 'transport-workers', 'uint', 0, `Child processes that serve plain-text client connections (HTTP/2 framing, socket I/O) and relay their calls to the server (0-${maxTransportWorkers}; 0: the server serves them).`, { envPrefix: 'LATTICE' }),
  spec(LA, 'shards', 'uint', 1, `Number of key-range shards (1-${maxShards}).`, { envPrefix: 'LATTICE' }),
  spec(LA, 'durability', 'string', 'sync', "When a write is acknowledged: 'sync' (fsynced on a quorum), 'quorum' (written on a quorum, fsynced in the background) or 'async' (single member: fsynced in the background).", { choices: ['sync', 'quorum', 'async'], envPrefix: 'LATTICE' }),
  spec(LA, 'fsync-policy', 'string', 'always', "'always': the Raft WAL is fsynced (before the acknowledgement in sync mode, in the background otherwise); 'never': never (as --unsafe-no-fsync).", { choices: ['always', 'never'], envPrefix: 'LATTICE' }),
  spec(LA, 'fsync-interval', 'duration', 10, 'quorum and async modes: the longest an acknowledged write waits for its background fsync.', { envPrefix: 'LATTICE' }),
  spec(LA, 'max-client-connections', 'uint', 0, 'Open connections per client listener; more are refused (0: no limit).', { envPrefix: 'LATTICE' }),
  spec(LA, 'client-idle-timeout', 'duration', 0, 'A client connection with no traffic either way for this long is closed (0: never).', { envPrefix: 'LATTICE' }),
  spec(LA, 'tls-min-version', 'string', 'TLS1.2', "Minimum TLS version for client and peer TLS (etcd 3.5's flag): 'TLS1.2' or 'TLS1.3'.", { choices: ['TLS1.2', 'TLS1.3'], envPrefix: 'LATTICE' }),
  spec(LA, 'api-cors-origins', 'strings', [], 'Comma-separated browser origins allowed to call /api cross-origin (* for any); none by default.', { envPrefix: 'LATTICE' }),
  spec(LA, 'tenants-file', 'string', '', 'A JSON list of tenants (docs/tenants.md); the config file\'s [tenants] tables are the usual place.', { envPrefix: 'LATTICE' }),

  // etcd's `ignored` list: flags of older versions, accepted with a warning.
  ...[
    'cluster-active-size',
    'cluster-remove-delay',
    'cluster-sync-interval',
    'config',
    'force',
    'max-result-buffer',
    'max-retry-attempts',
    'peer-heartbeat-interval',
    'peer-election-timeout',
    'retry-interval',
    'snapshot',
    'v',
    'vv',
  ].map((n) => spec('Legacy', n, 'legacy', false, '', ign)),
];

const specByName = new Map(flagSpecs.map((s) => [s.name, s]));

function getSpec(name: string): FlagSpec {
  const s = specByName.get(name);
  if (!s) throw new Error(`internal: no flag spec for ${name}`);
  return s;
}

export const envKey = (prefix: string, flag: string): string => `${prefix}_${flag.replace(/-/g, '_').toUpperCase()}`;

// ---------------------------------------------------------------------------------------------------------
// Value conversion with Go's flag/strconv rules and error texts

/** Go strconv.ParseBool. */
function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

/** Go strconv.ParseInt/ParseUint with base 0; returns 'parse error' / 'value out of range' like Go's flag package. */
function parseGoInt(s: string, unsigned: boolean): number | string {
  const m = /^([+-]?)(0[xX][0-9a-fA-F](_?[0-9a-fA-F])*|0[bB][01](_?[01])*|0[oO][0-7](_?[0-7])*|0[0-7]*|[1-9](_?\d)*)$/.exec(s);
  if (!m) return 'parse error';
  const sign = m[1] ?? '';
  let body = m[2] ?? '';
  if (unsigned && sign !== '') return 'parse error';
  const hasPrefix = /^0[xXbBoO]/.test(body);
  if (body.includes('_') && !hasPrefix) return 'parse error';
  body = body.replace(/_/g, '');
  if (/^0[0-7]+$/.test(body)) body = '0o' + body.slice(1);
  let v = BigInt(body);
  if (sign === '-') v = -v;
  const limit = unsigned ? 1n << 64n : 1n << 63n;
  if (v >= limit || v < -limit) return 'value out of range';
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) return 'value out of range';
  return Number(v);
}

const durationUnitsMs: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go time.ParseDuration, returning milliseconds; undefined when invalid. */
export function parseGoDuration(s: string): number | undefined {
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const m = /^(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (!m || m[1] === '' || m[1] === '.') return undefined;
    const unit = durationUnitsMs[m[2] ?? ''];
    if (unit === undefined) return undefined;
    total += Number(m[1]) * unit;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

/** Converts a textual value for a flag; returns the value or Go's error detail. */
function convert(spec: FlagSpec, text: string): { ok: true; value: FlagValue } | { ok: false; detail: string } {
  switch (spec.kind) {
    case 'string':
      if (spec.choices && !spec.choices.includes(text)) return { ok: false, detail: 'invalid value' };
      return { ok: true, value: text };
    case 'legacy':
    case 'bool': {
      const b = parseGoBool(text);
      return b === undefined ? { ok: false, detail: 'parse error' } : { ok: true, value: b };
    }
    case 'uint':
    case 'uint32':
    case 'int': {
      const n = parseGoInt(text, spec.kind !== 'int');
      if (spec.kind === 'uint32' && typeof n === 'number' && n > maxUint32) return { ok: false, detail: 'value out of range' };
      return typeof n === 'string' ? { ok: false, detail: n } : { ok: true, value: n };
    }
    case 'duration': {
      const d = parseGoDuration(text);
      return d === undefined ? { ok: false, detail: 'parse error' } : { ok: true, value: d };
    }
    case 'urls':
      try {
        return { ok: true, value: parseUrlList(text) };
      } catch (e) {
        return { ok: false, detail: (e as Error).message };
      }
    case 'strings':
      return { ok: true, value: [...new Set(text.split(','))].sort(byteOrder) };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Go flag-package command-line scanning

interface ScannedArgs {
  readonly values: Map<string, FlagValue>;
  readonly help: boolean;
  readonly positional: readonly string[];
  readonly warnings: string[];
}

function scanArgs(argv: readonly string[]): ScannedArgs {
  const values = new Map<string, FlagValue>();
  const warnings: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const s = argv[i] ?? '';
    if (s.length < 2 || s[0] !== '-') break;
    let minuses = 1;
    if (s[1] === '-') {
      minuses = 2;
      if (s.length === 2) {
        i++;
        break;
      }
    }
    const body = s.slice(minuses);
    if (body === '' || body[0] === '-' || body[0] === '=') throw new ConfigError('usage', `bad flag syntax: ${s}`);
    i++;
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const spec = specByName.get(name);
    if (!spec) {
      if (name === 'help' || name === 'h') return { values, help: true, positional: [], warnings };
      throw new ConfigError('usage', `flag provided but not defined: -${name}`);
    }
    if (spec.kind === 'bool' || spec.kind === 'legacy') {
      const r = convert(spec, inline ?? 'true');
      if (!r.ok) {
        throw new ConfigError(
          'usage',
          inline === undefined
            ? `invalid boolean flag ${name}: ${r.detail}`
            : `invalid boolean value ${JSON.stringify(inline)} for -${name}: ${r.detail}`,
        );
      }
      if (spec.kind === 'legacy') warnings.push(`flag "-${name}" is no longer supported - ignoring.`);
      values.set(name, r.value);
      continue;
    }
    let text = inline;
    if (text === undefined && i < argv.length) text = argv[i++];
    if (text === undefined) throw new ConfigError('usage', `flag needs an argument: -${name}`);
    const r = convert(spec, text);
    if (!r.ok) throw new ConfigError('usage', `invalid value ${JSON.stringify(text)} for flag -${name}: ${r.detail}`);
    values.set(name, r.value);
  }
  return { values, help: false, positional: argv.slice(i), warnings };
}

// ---------------------------------------------------------------------------------------------------------
// Config file (etcd's YAML format: embed/config.go configYAML + etcdmain configProxy)

const fileUrlKeys = new Set([
  'listen-peer-urls',
  'listen-client-urls',
  'initial-advertise-peer-urls',
  'advertise-client-urls',
  'listen-metrics-urls',
]);
// Keys that exist only in the file format.
const fileOnlyKeys = new Set(['client-transport-security', 'peer-transport-security']);
const notInFile = new Set(['config-file', 'version']);

function fromFile(path: string, text: string): { values: Map<string, FlagValue>; warnings: string[] } {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError('invalid', `error parsing config file ${JSON.stringify(path)}: ${(e as Error).message}`);
  }
  const values = new Map<string, FlagValue>();
  const warnings: string[] = [];
  if (doc === null || doc === undefined) return { values, warnings };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError('invalid', `error parsing config file ${JSON.stringify(path)}: expected a mapping at the top level`);
  }
  const bad = (key: string, want: string, v: unknown): ConfigError =>
    new ConfigError(
      'invalid',
      `error parsing config file ${JSON.stringify(path)}: cannot use ${JSON.stringify(v)} for ${JSON.stringify(key)} (want ${want})`,
    );
  for (const [rawKey, v] of Object.entries(doc as Record<string, unknown>)) {
    // Go's encoding/json matches keys to field tags case-insensitively; a null leaves the default.
    const key = rawKey.toLowerCase();
    if (v === null || v === undefined) continue;
    if (fileOnlyKeys.has(key)) {
      if (typeof v !== 'object' || Array.isArray(v)) throw bad(rawKey, 'a mapping', v);
      // etcd's securityConfig: five settings per side, the same as the flags
      const prefix = key === 'peer-transport-security' ? 'peer-' : '';
      for (const [rawSub, sub] of Object.entries(v as Record<string, unknown>)) {
        const name = rawSub.toLowerCase();
        if (sub === null || sub === undefined) continue;
        if (name === 'cert-file' || name === 'key-file' || name === 'trusted-ca-file') {
          if (typeof sub === 'object') throw bad(`${rawKey}.${rawSub}`, 'a string', sub);
          if (sub !== '') values.set(prefix + name, String(sub));
        } else if (name === 'client-cert-auth' || name === 'auto-tls') {
          if (typeof sub !== 'boolean') throw bad(`${rawKey}.${rawSub}`, 'true or false', sub);
          values.set(prefix + name, sub);
        } else {
          warnings.push(`unrecognized key ${JSON.stringify(`${rawKey}.${rawSub}`)} in config file ${path} (ignored)`);
        }
      }
      continue;
    }
    const spec = specByName.get(key);
    if (!spec || notInFile.has(key) || spec.kind === 'legacy') {
      warnings.push(`unrecognized key ${JSON.stringify(rawKey)} in config file ${path} (ignored)`);
      continue;
    }
    if (fileUrlKeys.has(key)) {
      if (typeof v !== 'string') throw bad(rawKey, 'a comma-separated string', v);
      if (v === '') continue;
      try {
        values.set(key, parseUrlList(v));
      } catch (e) {
        throw new ConfigError('invalid', `unexpected error setting up ${key}: ${(e as Error).message}`);
      }
      continue;
    }
    switch (spec.kind) {
      case 'string':
        // sigs.k8s.io/yaml turns scalars into strings when the target field is a string.
        if (typeof v === 'object') throw bad(rawKey, 'a string', v);
        values.set(key, String(v));
        break;
      case 'bool':
        if (typeof v !== 'boolean') throw bad(rawKey, 'true or false', v);
        values.set(key, v);
        break;
      case 'uint':
      case 'uint32':
      case 'int':
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || (spec.kind !== 'int' && v < 0) || (spec.kind === 'uint32' && v > maxUint32)) {
          throw bad(rawKey, spec.kind === 'uint32' ? 'an integer from 0 to 4294967295' : spec.kind === 'uint' ? 'a non-negative integer' : 'an integer', v);
        }
        values.set(key, v);
        break;
      case 'duration':
        // time.Duration in JSON is integer nanoseconds; a Go duration string is accepted too.
        if (typeof v === 'number') values.set(key, v / 1e6);
        else if (typeof v === 'string' && parseGoDuration(v) !== undefined) values.set(key, parseGoDuration(v) ?? 0);
        else throw bad(rawKey, 'nanoseconds or a duration like "5s"', v);
        break;
      case 'strings':
        if (Array.isArray(v) && v.every((x) => typeof x === 'string')) values.set(key, v as string[]);
        else if (typeof v === 'string') values.set(key, v.split(','));
        else throw bad(rawKey, 'a list of strings', v);
        break;
      case 'urls':
        break;
    }
  }
  // Values set from the file get the same choice checks as flags.
  for (const [key, v] of values) {
    const spec = specByName.get(key);
    if (spec?.choices && typeof v === 'string' && !spec.choices.includes(v)) {
      if (key === 'initial-cluster-state') {
        if (v === '') values.set(key, 'new');
        else throw new ConfigError('invalid', `unexpected clusterState ${JSON.stringify(v)}`);
      } else {
        throw new ConfigError('invalid', `invalid value ${JSON.stringify(v)} for ${JSON.stringify(key)} in config file (want one of ${spec.choices.join(', ')})`);
      }
    }
  }
  return { values, warnings };
}

// ---------------------------------------------------------------------------------------------------------
// parseConfig

/** Parses etcd-style argv (without node and script) and environment into a validated config. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv, opts: ParseOptions = {}): ParseResult {
  const scanned = scanArgs(argv);
  if (scanned.help) return { kind: 'help' };
  const first = scanned.positional[0];
  if (first !== undefined) throw new ConfigError('invalid', `'${first}' is not a valid flag`);
  if (scanned.values.get('version') === true) return { kind: 'version' };

  const warnings: string[] = [...scanned.warnings];
  const values = new Map<string, FlagValue>();
  const setBy = new Map<string, Source>();

  const cliConfigFile = scanned.values.get('config-file');
  const configFile = (typeof cliConfigFile === 'string' && cliConfigFile !== '' ? cliConfigFile : undefined) ?? (env[envKey('ETCD', 'config-file')] || undefined);

  if (configFile !== undefined && opts.fileValues !== undefined) {
    throw new ConfigError('usage', `--config (lattice.toml) and --config-file (etcd YAML) cannot be used together`);
  }
  if (configFile !== undefined) {
    const read = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
    let text: string;
    try {
      text = read(configFile);
    } catch (e) {
      throw new ConfigError('invalid', `cannot read config file ${JSON.stringify(configFile)}: ${(e as Error).message}`);
    }
    const file = fromFile(configFile, text);
    for (const [k, v] of file.values) {
      values.set(k, v);
      setBy.set(k, 'file');
    }
    warnings.push(...file.warnings);
    warnings.push(
      `loaded server configuration from ${configFile}; other configuration command line flags and environment variables will be ignored if provided`,
    );
  } else {
    for (const [k, v] of opts.fileValues ?? []) {
      values.set(k, v);
      setBy.set(k, 'file');
    }
    for (const [k, v] of scanned.values) {
      values.set(k, v);
      setBy.set(k, 'flag');
    }
    applyEnv(env, values, setBy, warnings, opts.envConflict ?? 'warn');
  }
  if (opts.onEffective !== undefined) {
    const effective = new Map<string, FlagValue>();
    for (const s of flagSpecs) effective.set(s.name, values.get(s.name) ?? s.def);
    opts.onEffective(effective);
  }
  return build(values, setBy, configFile, warnings);
}

/** A flag as a config file may set it: its name, kind and default. */
export interface FileFlag {
  readonly name: string;
  readonly kind: 'string' | 'bool' | 'uint' | 'uint32' | 'int' | 'duration' | 'urls' | 'strings';
  readonly def: FlagValue;
  readonly support: 'yes' | 'ignored';
}

/** Every flag a lattice.toml may set in its [etcd] table (all but --config-file, --version and etcd's legacy flags). */
export const fileFlags: readonly FileFlag[] = flagSpecs.flatMap((s) =>
  s.kind === 'legacy' || notInFile.has(s.name) ? [] : [{ name: s.name, kind: s.kind, def: s.def, support: s.support }],
);

/**
 * A TOML value for a flag, checked exactly as the same text on the command line: strings as given,
 * booleans and integers as their text, arrays of strings joined by commas. Durations are strings
 * ("5s", "100ms"). Returns the value or what is wrong with it.
 */
export function flagValueFromFile(name: string, value: unknown): { ok: true; value: FlagValue } | { ok: false; detail: string } {
  const s = specByName.get(name);
  if (s === undefined || s.kind === 'legacy' || notInFile.has(name)) return { ok: false, detail: 'unknown key' };
  let text: string;
  switch (typeof value) {
    case 'string':
      text = value;
      break;
    case 'boolean':
      if (s.kind !== 'bool') return { ok: false, detail: `a boolean where ${describeKind(s.kind)} is expected` };
      text = String(value);
      break;
    case 'number':
    case 'bigint':
      if (s.kind !== 'uint' && s.kind !== 'uint32' && s.kind !== 'int') return { ok: false, detail: `a number where ${describeKind(s.kind)} is expected` };
      text = String(value);
      break;
    default:
      if (Array.isArray(value) && (s.kind === 'urls' || s.kind === 'strings') && value.every((x) => typeof x === 'string')) {
        text = (value as string[]).join(',');
        break;
      }
      return { ok: false, detail: `${Array.isArray(value) ? 'an array' : 'a table or date'} where ${describeKind(s.kind)} is expected` };
  }
  if (s.kind === 'bool' && typeof value === 'string') return { ok: false, detail: 'a string where a boolean (true or false) is expected' };
  const r = convert(s, text);
  if (!r.ok) return { ok: false, detail: `invalid value ${JSON.stringify(text)}${r.detail === 'invalid value' ? '' : `: ${r.detail}`}${s.choices ? ` (one of ${s.choices.join(', ')})` : ''}` };
  return r;
}

function describeKind(kind: FlagKind): string {
  switch (kind) {
    case 'bool':
    case 'legacy':
      return 'a boolean (true or false)';
    case 'uint':
    case 'uint32':
      return 'a non-negative integer';
    case 'int':
      return 'an integer';
    case 'duration':
      return 'a duration string like "5s"';
    case 'urls':
      return 'a URL or an array of URLs';
    case 'strings':
      return 'a string or an array of strings';
    case 'string':
      return 'a string';
  }
}

function applyEnv(
  env: NodeJS.ProcessEnv,
  values: Map<string, FlagValue>,
  setBy: Map<string, Source>,
  warnings: string[],
  onConflict: 'warn' | 'fail',
): void {
  const known = new Set<string>();
  for (const spec of flagSpecs) {
    const key = envKey(spec.envPrefix, spec.name);
    known.add(key);
    const text = env[key];
    if (text === undefined || text === '') continue;
    if (setBy.get(spec.name) === 'flag') {
      const msg = `conflicting environment variable ${JSON.stringify(key)} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`;
      if (onConflict === 'fail') throw new ConfigError('invalid', msg);
      warnings.push(msg);
      continue;
    }
    const r = convert(spec, text);
    if (!r.ok) throw new ConfigError('invalid', `invalid value ${JSON.stringify(text)} for ${key}: ${r.detail}`);
    if (spec.kind === 'legacy') warnings.push(`flag "-${spec.name}" is no longer supported - ignoring.`);
    values.set(spec.name, r.value);
    setBy.set(spec.name, 'env');
  }
  for (const [key, value] of Object.entries(env)) {
    if ((key.startsWith('ETCD_') || key.startsWith('LATTICE_')) && !known.has(key)) {
      warnings.push(`unrecognized environment variable ${key}=${value ?? ''}`);
    }
  }
}

function build(
  values: Map<string, FlagValue>,
  setBy: Map<string, Source>,
  configFile: string | undefined,
  warnings: string[],
): ServerConfig {
  const get = (name: string): FlagValue => (values.has(name) ? values.get(name) : getSpec(name).def) as FlagValue;
  const str = (name: string): string => String(get(name));
  const num = (name: string): number => Number(get(name));
  const bool = (name: string): boolean => get(name) === true;
  const list = (name: string): string[] => {
    const v = get(name);
    return Array.isArray(v) ? [...(v as readonly string[])] : [];
  };
  const isSet = (name: string): boolean => setBy.has(name);
  const invalid = (msg: string): ConfigError => new ConfigError('invalid', msg);

  // Bootstrap modes Lattice cannot honour would silently produce a different cluster: refuse them.
  if (str('discovery') !== '' || str('discovery-srv') !== '') {
    throw invalid('--discovery and --discovery-srv are not supported by Lattice; bootstrap with --initial-cluster');
  }
  if (str('proxy') !== 'off') throw invalid(`--proxy=${str('proxy')} is not supported by Lattice (only 'off')`);

  let advertiseClientUrls = list('advertise-client-urls');
  // etcd: listen-client-urls given on the command line without advertise-client-urls clears the default.
  if (configFile === undefined && isSet('listen-client-urls') && !isSet('advertise-client-urls')) advertiseClientUrls = [];

  const name = str('name');
  const listenPeerUrls = list('listen-peer-urls');
  const listenClientUrls = list('listen-client-urls');
  const listenMetricsUrls = list('listen-metrics-urls');
  const initialAdvertisePeerUrls = list('initial-advertise-peer-urls');

  // embed.Config.Validate, in etcd's order.
  const logger = str('logger');
  if (logger !== 'zap' && logger !== 'capnslog') throw invalid(`unknown logger option ${JSON.stringify(logger)}`);
  const logOutputs = list('log-outputs');
  validateLogOutputs(logger, logOutputs);
  if (isSet('log-output') && isSet('log-outputs')) {
    throw invalid(`'--log-output=${JSON.stringify(list('log-output'))}' and '--log-outputs=${JSON.stringify(logOutputs)}' are incompatible; only set --log-outputs`);
  }
  let logLevel = str('log-level');
  if (bool('debug')) logLevel = 'debug';
  if (!isLogLevel(logLevel)) {
    throw invalid(`unknown log level ${JSON.stringify(logLevel)} (only supports debug, info, warn, error, panic, or fatal)`);
  }

  for (const urls of [listenPeerUrls, listenClientUrls, listenMetricsUrls]) {
    for (const u of urls) {
      if (u.startsWith('unix')) continue;
      const host = hostOf(u);
      if (host !== 'localhost' && !isIp(host)) throw invalid(`expected IP in URL for binding (${u})`);
    }
  }
  for (const [flag, urls] of [
    ['--initial-advertise-peer-urls', initialAdvertisePeerUrls],
    ['--advertise-client-urls', advertiseClientUrls],
  ] as const) {
    const empty = urls.find((u) => hostOf(u) === '');
    if (empty !== undefined) throw invalid(`${flag} ${JSON.stringify(urls.join(','))} must be "host:port" (unexpected empty host (${empty}))`);
  }

  const state = str('initial-cluster-state');
  if (state !== 'new' && state !== 'existing') throw invalid(`unexpected clusterState ${JSON.stringify(state)}`);

  const tickMs = num('heartbeat-interval');
  const electionMs = num('election-timeout');
  if (tickMs <= 0) throw invalid(`--heartbeat-interval must be >0 (set to ${tickMs}ms)`);
  if (electionMs <= 0) throw invalid(`--election-timeout must be >0 (set to ${electionMs}ms)`);
  if (5 * tickMs > electionMs) {
    throw invalid(`--election-timeout[${electionMs}ms] should be at least as 5 times as --heartbeat-interval[${tickMs}ms]`);
  }
  if (electionMs > maxElectionTimeoutMs) {
    throw invalid(`--election-timeout[${electionMs}ms] is too long, and should be set less than ${maxElectionTimeoutMs}ms`);
  }

  if (listenClientUrls.length > 0 && advertiseClientUrls.length === 0) {
    throw invalid('--advertise-client-urls is required when --listen-client-urls is set explicitly');
  }

  const compactionMode = str('auto-compaction-mode');
  if (compactionMode !== 'periodic' && compactionMode !== 'revision') {
    throw invalid(`unknown auto-compaction-mode ${JSON.stringify(compactionMode)}`);
  }
  const retention = str('auto-compaction-retention') || '0';
  const retentionValue = parseCompactionRetention(compactionMode, retention);

  if (bool('experimental-enable-lease-checkpoint-persist') && !bool('experimental-enable-lease-checkpoint')) {
    throw invalid('setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint');
  }

  // etcdmain UpdateDefaultClusterFromName: `--name foo` alone implies `foo=<advertise peer urls>`.
  let initialClusterText = str('initial-cluster');
  const defaultInitialCluster = String(getSpec('initial-cluster').def);
  if (name !== defaultName && initialClusterText === defaultInitialCluster) {
    initialClusterText = initialAdvertisePeerUrls.map((u) => `${name || defaultName}=${u}`).join(',');
  }
  let initialCluster: Map<string, string[]>;
  try {
    initialCluster = parseInitialCluster(initialClusterText);
  } catch (e) {
    throw invalid(`--initial-cluster: ${(e as Error).message}`);
  }

  let dataDir = str('data-dir');
  if (dataDir === '') {
    dataDir = `${name}.etcd`;
    warnings.push(`'data-dir' was empty; using default data-dir ${dataDir}`);
  }

  let quota = num('quota-backend-bytes');
  if (quota === 0) quota = defaultQuotaBackendBytes;
  if (quota > maxQuotaBackendBytes) {
    warnings.push(`quota-backend-bytes ${quota} exceeds the maximum value ${maxQuotaBackendBytes}`);
  }
  const snapshotCount = num('snapshot-count') === 0 ? defaultSnapshotCount : num('snapshot-count');

  const engine = str('engine');
  if (engine !== 'memory' && engine !== 'rocksdb') throw invalid(`unknown engine ${JSON.stringify(engine)} (memory|rocksdb)`);
  const placement = str('actor-placement');
  if (placement !== 'main' && placement !== 'worker') {
    throw invalid(`unknown actor-placement ${JSON.stringify(placement)} (main|worker)`);
  }
  const shards = num('shards');
  const transportWorkers = num('transport-workers');
  if (transportWorkers > maxTransportWorkers) throw invalid(`--transport-workers must be between 0 and ${maxTransportWorkers} (set to ${transportWorkers})`);
  if (shards < 1 || shards > maxShards) throw invalid(`--shards must be between 1 and ${maxShards} (set to ${shards})`);

  // Only values that differ from etcd's default matter: a stock etcd.conf.yml lists every key.
  const sameAsDefault = (v: FlagValue | undefined, d: FlagValue): boolean =>
    Array.isArray(v) && Array.isArray(d) ? v.join(',') === d.join(',') : v === d;
  const ignoredFlags = [...setBy.keys()]
    .filter((k) => {
      if (fileOnlyKeys.has(k)) return true;
      const s = specByName.get(k);
      return s?.support === 'ignored' && s.kind !== 'legacy' && !sameAsDefault(values.get(k), s.def);
    })
    .sort(byteOrder);
  if (ignoredFlags.length > 0) {
    warnings.push(`flags accepted but not implemented by Lattice (ignored): ${ignoredFlags.map((f) => '--' + f).join(', ')}`);
  }

  const security = transportSecurityFromFlags({ str, bool, list });
  if (!security.ok) throw invalid(security.error);
  const durability = durabilityFromFlags(str('durability'), str('fsync-policy'), bool('unsafe-no-fsync'), num('fsync-interval'), initialCluster.size);
  if (!durability.ok) throw invalid(durability.error);

  return {
    kind: 'server',
    name,
    dataDir,
    walDir: str('wal-dir'),
    listenClientUrls,
    advertiseClientUrls,
    listenPeerUrls,
    initialAdvertisePeerUrls,
    listenMetricsUrls,
    initialCluster,
    initialClusterToken: str('initial-cluster-token'),
    initialClusterTokenGiven: isSet('initial-cluster-token'),
    initialClusterState: state,
    snapshotCount,
    snapshotCatchUpEntries: num('experimental-snapshot-catchup-entries'),
    heartbeatIntervalMs: tickMs,
    electionTimeoutMs: electionMs,
    initialElectionTickAdvance: bool('initial-election-tick-advance'),
    preVote: bool('pre-vote'),
    leaseCheckpointIntervalMs: bool('experimental-enable-lease-checkpoint')
      ? num('experimental-lease-checkpoint-interval') > 0
        ? num('experimental-lease-checkpoint-interval')
        : 5 * 60 * 1000
      : undefined,
    quotaBackendBytes: quota,
    maxRequestBytes: num('max-request-bytes'),
    maxTxnOps: num('max-txn-ops'),
    maxConcurrentStreams: num('max-concurrent-streams'),
    grpcKeepAliveMinTimeMs: num('grpc-keepalive-min-time'),
    grpcKeepAliveIntervalMs: num('grpc-keepalive-interval'),
    grpcKeepAliveTimeoutMs: num('grpc-keepalive-timeout'),
    logger,
    logLevel,
    logOutputs,
    autoCompactionMode: compactionMode,
    autoCompactionRetention: retention,
    autoCompactionRetentionValue: retentionValue,
    autoCompactionRevisionCheckIntervalMs: num('experimental-auto-compaction-revision-check-interval'),
    enablePprof: bool('enable-pprof'),
    metrics: str('metrics'),
    enableV2: bool('enable-v2'),
    enableGrpcGateway: bool('enable-grpc-gateway'),
    forceNewCluster: bool('force-new-cluster'),
    strictReconfigCheck: bool('strict-reconfig-check'),
    unsafeNoFsync: bool('unsafe-no-fsync'),
    watchProgressNotifyIntervalMs: num('experimental-watch-progress-notify-interval') > 0 ? Math.max(num('experimental-watch-progress-notify-interval'), 100) : 10 * 60 * 1000,
    authToken: str('auth-token'),
    bcryptCost: num('bcrypt-cost'),
    authTokenTtlSeconds: num('auth-token-ttl'),
    clientTls: security.client,
    peerTls: security.peer,
    engine,
    actorPlacement: placement,
    transportWorkers,
    shards,
    configFile,
    apiCorsOrigins: list('api-cors-origins').filter((o) => o !== ''),
    hostWhitelist: str('host-whitelist').split(',').map((h) => h.trim()).filter((h) => h !== ''),
    ...durability.settings,
    maxClientConnections: num('max-client-connections'),
    clientIdleTimeoutMs: num('client-idle-timeout'),
    tenants: tenantsFromFile(str('tenants-file'), (p: string) => readFileSync(p, 'utf8')),
    ignoredFlags,
    warnings,
  };
}

function tenantsFromFile(file: string, read: (p: string) => string): TenantSpec[] {
  if (file === '') return [];
  try {
    return parseTenantsJson(read(file), file);
  } catch (e) {
    throw new ConfigError('invalid', `--tenants-file: ${(e as Error).message}`);
  }
}

function validateLogOutputs(logger: string, outputs: readonly string[]): void {
  if (logger === 'capnslog') {
    if (outputs.length !== 1) {
      throw new ConfigError('invalid', `--logger=capnslog supports only 1 value in '--log-outputs', got ${JSON.stringify(outputs)}`);
    }
    const o = outputs[0] ?? '';
    if (o !== 'default' && o !== 'stderr' && o !== 'stdout') {
      throw new ConfigError('invalid', `unknown log-output ${JSON.stringify(o)} (only supports "default", "stderr", "stdout")`);
    }
    return;
  }
  if (outputs.includes('default') && outputs.length > 1) {
    throw new ConfigError('invalid', 'multi logoutput for "default" is not supported yet');
  }
}

/** embed/etcd.go parseCompactionRetention: an integer is hours (periodic) or revisions; else a Go duration. */
function parseCompactionRetention(mode: CompactionMode, retention: string): number {
  if (/^[+]?\d+$/.test(retention)) {
    const h = Number(retention);
    return mode === 'revision' ? h : h * 3_600_000;
  }
  const d = parseGoDuration(retention);
  if (d === undefined) {
    throw new ConfigError('invalid', `error parsing CompactionRetention: time: invalid duration ${JSON.stringify(retention)}`);
  }
  return d;
}

// ---------------------------------------------------------------------------------------------------------
// Bootstrap checks (etcdserver/config.go VerifyBootstrap / VerifyJoinExisting), run on an empty data dir

/**
 * Checks the initial cluster the way etcd does before bootstrapping a fresh data dir: this member must be
 * listed, its peer URLs must match --initial-advertise-peer-urls (compared as strings: etcd also leaves
 * `localhost` and IPs unresolved, but DNS-resolves other host names), and no URL may appear twice. Throws ConfigError('invalid') with etcd's message.
 */
export function verifyBootstrap(cfg: ServerConfig): void {
  const mine = cfg.initialCluster.get(cfg.name);
  if (mine === undefined) {
    throw new ConfigError('invalid', `couldn't find local name ${JSON.stringify(cfg.name)} in the initial cluster configuration`);
  }
  if (cfg.initialClusterState === 'new') advertiseMatchesCluster(cfg, mine);
  const seen = new Set<string>();
  for (const urls of cfg.initialCluster.values()) {
    for (const u of urls) {
      if (seen.has(u)) {
        throw new ConfigError('invalid', `initial cluster ${formatInitialCluster(cfg.initialCluster)} has duplicate url`);
      }
      seen.add(u);
    }
  }
}

function advertiseMatchesCluster(cfg: ServerConfig, clusterUrls: readonly string[]): void {
  const ap = [...cfg.initialAdvertisePeerUrls].sort(byteOrder);
  const ic = [...clusterUrls].sort(byteOrder);
  let detail: string;
  if (ap.length !== ic.length) {
    detail = `len(${goQuoteList(ap)}) != len(${goQuoteList(ic)})`;
  } else {
    // etcd leaves `localhost` and IPs unresolved and DNS-resolves other host names; Lattice resolves none.
    const i = ap.findIndex((u, k) => u !== ic[k]);
    if (i < 0) return;
    detail = `resolved urls: ${JSON.stringify(ap[i])} != ${JSON.stringify(ic[i])}`;
  }
  const apSet = new Set(ap);
  const icSet = new Set(ic);
  const missingFromAp = ic.filter((u) => !apSet.has(u));
  if (missingFromAp.length > 0) {
    throw new ConfigError(
      'invalid',
      `--initial-cluster has ${missingFromAp.map((u) => `${cfg.name}=${u}`).join(',')} but missing from --initial-advertise-peer-urls=${ap.join(',')} (${detail})`,
    );
  }
  const own = formatInitialCluster(new Map([[cfg.name, ap]]));
  const missingFromIc = ap.filter((u) => !icSet.has(u));
  if (missingFromIc.length > 0) {
    throw new ConfigError('invalid', `--initial-advertise-peer-urls has ${missingFromIc.join(',')} but missing from --initial-cluster=${own}`);
  }
  throw new ConfigError('invalid', `failed to resolve ${ap.join(',')} to match --initial-cluster=${own} (${detail})`);
}

const goQuoteList = (xs: readonly string[]): string => `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;

// ---------------------------------------------------------------------------------------------------------
// Help

/** The short usage block printed after a command-line error (etcd prints its usageline the same way). */
export function usageText(): string {
  return [
    'Usage:',
    '',
    '  lattice [flags]',
    '    Start a Lattice server (an etcd v3-compatible key-value server).',
    '',
    '  lattice --version',
    '    Show the version of Lattice.',
    '',
    '  lattice -h | --help',
    '    Show the help information about Lattice.',
    '',
    '  lattice [start] --config lattice.toml [flags]',
    "    Start with Lattice's TOML configuration file; flags and ETCD_*/LATTICE_* variables override it.",
    '',
    '  lattice config check <lattice.toml> | lattice config print [--config <lattice.toml>] [flags]',
    '    Validate a configuration file; print the effective configuration as TOML.',
    '',
    '  lattice --config-file',
    '    Path to the server configuration file. Note that if a configuration file is provided, other command line flags and environment variables will be ignored.',
  ].join('\n') + '\n';
}

/** The text for --help: usage, then every flag grouped like etcd's, with its default. */
export function helpText(): string {
  const lines: string[] = [
    usageText(),
    'Flags may be given as --flag value, --flag=value, -flag value or -flag=value, or as environment',
    'variables ETCD_<FLAG> (LATTICE_<FLAG> for the Lattice section), e.g. ETCD_DATA_DIR. Flags marked',
    '(ignored) are accepted for compatibility with etcd but not implemented yet.',
  ];
  let section = '';
  for (const s of flagSpecs) {
    if (s.kind === 'legacy' || s.name === 'version' || s.name === 'config-file') continue;
    if (s.section !== section) {
      section = s.section;
      lines.push('', `${section}:`);
    }
    const def = Array.isArray(s.def) ? (s.def as readonly string[]).join(',') : String(s.def);
    const shown = s.kind === 'duration' ? `${Number(def) / 1000}s` : s.name === 'data-dir' ? '${name}.etcd' : def;
    lines.push(`  --${s.name} '${shown}'${s.support === 'ignored' ? ' (ignored)' : ''}`, `    ${s.help}`);
  }
  return lines.join('\n') + '\n';
}
