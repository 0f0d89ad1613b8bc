import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ConfigError,
  listenAddress,
  normalizeUrl,
  parseConfig,
  parseGoDuration,
  verifyBootstrap,
  type ParseResult,
  type ServerConfig,
} from '../../src/server/config.js';
import { createLogger } from '../../src/server/logger.js';
import { freePorts } from '../helpers/free-port.js';
import { repoPath } from '../helpers/paths.js';
import { spawnProcess, stopAllProcesses } from '../helpers/processes.js';
import { defaultTestTimeoutMs, withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeAllTempDirs } from '../helpers/temp-dirs.js';

const test = suite('server config');
const it = (name: string, body: () => void | Promise<void>, timeoutMs = defaultTestTimeoutMs): void =>
  test(name, () => withTimeout(Promise.resolve().then(body), timeoutMs, name));

test.after(async () => {
  await stopAllProcesses();
  removeAllTempDirs();
});

function server(r: ParseResult): ServerConfig {
  if (r.kind !== 'server') throw new Error(`expected a server config, got ${r.kind}`);
  return r;
}
const parse = (argv: string[], env: NodeJS.ProcessEnv = {}): ServerConfig => server(parseConfig(argv, env));

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

// --- defaults ---------------------------------------------------------------------------------------------

it('with no flags the defaults are etcd 3.4 defaults', () => {
  const c = parse([]);
  assert.is(c.name, 'default');
  assert.is(c.dataDir, 'default.etcd');
  assert.equal(c.listenClientUrls, ['http://localhost:2379']);
  assert.equal(c.advertiseClientUrls, ['http://localhost:2379']);
  assert.equal(c.listenPeerUrls, ['http://localhost:2380']);
  assert.equal(c.initialAdvertisePeerUrls, ['http://localhost:2380']);
  assert.equal([...c.initialCluster], [['default', ['http://localhost:2380']]]);
  assert.is(c.initialClusterToken, 'etcd-cluster');
  assert.is(c.initialClusterState, 'new');
  assert.is(c.snapshotCount, 100000);
  assert.is(c.heartbeatIntervalMs, 100);
  assert.is(c.electionTimeoutMs, 1000);
  assert.is(c.maxRequestBytes, 1572864);
  assert.is(c.maxTxnOps, 128);
  assert.is(c.quotaBackendBytes, 2 * 1024 ** 3);
  assert.is(c.logLevel, 'info');
  assert.is(c.unsafeNoFsync, false);
  assert.is(c.strictReconfigCheck, true);
  assert.is(c.engine, 'rocksdb');
  assert.is(c.actorPlacement, 'main');
  assert.is(c.shards, 1);
  assert.equal(c.ignoredFlags, []);
  assert.ok(c.warnings.some((w) => w.includes("'data-dir' was empty; using default data-dir default.etcd")));
});

it('--name alone derives the data dir and the initial cluster from it, as etcd does', () => {
  const c = parse(['--name', 'infra1', '--initial-advertise-peer-urls', 'http://127.0.0.1:12380', '--listen-peer-urls', 'http://127.0.0.1:12380']);
  assert.is(c.dataDir, 'infra1.etcd');
  assert.equal([...c.initialCluster], [['infra1', ['http://127.0.0.1:12380']]]);
  verifyBootstrap(c);
});

it('--quota-backend-bytes 0 means the 2 GiB default; a negative quota is kept (no quota)', () => {
  assert.is(parse(['--quota-backend-bytes', '0']).quotaBackendBytes, 2 * 1024 ** 3);
  assert.is(parse(['--quota-backend-bytes=-1']).quotaBackendBytes, -1);
  assert.is(parse(['--quota-backend-bytes', '8589934592']).quotaBackendBytes, 8 * 1024 ** 3);
});

// --- command-line syntax ----------------------------------------------------------------------------------

it('accepts --flag value, --flag=value, -flag value and -flag=value alike', () => {
  for (const argv of [
    ['--name', 'a', '--snapshot-count', '42'],
    ['--name=a', '--snapshot-count=42'],
    ['-name', 'a', '-snapshot-count', '42'],
    ['-name=a', '-snapshot-count=42'],
  ]) {
    const c = parse(argv);
    assert.is(c.name, 'a', argv.join(' '));
    assert.is(c.snapshotCount, 42, argv.join(' '));
  }
});

it('a bare boolean flag means true; =false turns it off; a separate "false" is a stray argument as in Go', () => {
  assert.is(parse(['--force-new-cluster']).forceNewCluster, true);
  assert.is(parse(['--unsafe-no-fsync']).unsafeNoFsync, true);
  assert.is(parse(['--strict-reconfig-check=false']).strictReconfigCheck, false);
  assert.is(parse(['-force-new-cluster=1']).forceNewCluster, true);
  const e = configError(() => parseConfig(['--force-new-cluster', 'false'], {}));
  assert.is(e.message, "'false' is not a valid flag");
  assert.is(e.exitCode, 1);
});

it('a flag value may start with a dash, as with Go flags', () => {
  assert.is(parse(['--initial-cluster-token', '-tok']).initialClusterToken, '-tok');
});

it('an unknown flag is a usage error with etcd\'s message and exit code 2', () => {
  const e = configError(() => parseConfig(['--name', 'x', '--foo'], {}));
  assert.is(e.kind, 'usage');
  assert.is(e.message, 'flag provided but not defined: -foo');
  assert.is(e.exitCode, 2);
  assert.is(configError(() => parseConfig(['-foo=1'], {})).message, 'flag provided but not defined: -foo');
});

it('reports a missing argument, a bad number and a bad boolean like Go\'s flag package', () => {
  assert.is(configError(() => parseConfig(['--name'], {})).message, 'flag needs an argument: -name');
  assert.is(configError(() => parseConfig(['--snapshot-count', 'abc'], {})).message, 'invalid value "abc" for flag -snapshot-count: parse error');
  assert.is(configError(() => parseConfig(['--max-txn-ops=-1'], {})).message, 'invalid value "-1" for flag -max-txn-ops: parse error');
  assert.is(
    configError(() => parseConfig(['--force-new-cluster=maybe'], {})).message,
    'invalid boolean value "maybe" for -force-new-cluster: parse error',
  );
  assert.is(
    configError(() => parseConfig(['--initial-cluster-state', 'bogus'], {})).message,
    'invalid value "bogus" for flag -initial-cluster-state: invalid value',
  );
  assert.is(configError(() => parseConfig(['---name=x'], {})).message, 'bad flag syntax: ---name=x');
});

it('parses numbers with Go base prefixes and durations with Go units', () => {
  assert.is(parse(['--snapshot-count', '0x10']).snapshotCount, 16);
  assert.is(parse(['--grpc-keepalive-min-time', '1m30s']).grpcKeepAliveMinTimeMs, 90_000);
  assert.is(parseGoDuration('1.5h'), 5_400_000);
  assert.is(parseGoDuration('300ms'), 300);
  assert.is(parseGoDuration('5'), undefined);
});

it('-h, -help and --help ask for help; --version asks for the version', () => {
  for (const f of ['-h', '--help', '-help', '--h']) assert.is(parseConfig([f], {}).kind, 'help', f);
  assert.is(parseConfig(['--version'], {}).kind, 'version');
  assert.is(parseConfig(['--version', '--name', 'x'], {}).kind, 'version');
  // The command line is still checked first, as etcd does.
  assert.is(configError(() => parseConfig(['--version', '--foo'], {})).kind, 'usage');
});

it('flags after -- are stray arguments', () => {
  assert.is(configError(() => parseConfig(['--', '--name', 'x'], {})).message, "'--name' is not a valid flag");
});

it('legacy flags etcd ignores are accepted with its warning', () => {
  const c = parse(['-v', '--name', 'x']);
  assert.ok(c.warnings.includes('flag "-v" is no longer supported - ignoring.'));
});

it('TLS flags are taken (not ignored) and an unknown cipher suite fails as in etcd', () => {
  const c = parse(['--cert-file', '/x.pem', '--key-file', '/k.pem', '--client-cert-auth', '--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256']);
  assert.equal(c.ignoredFlags, []);
  assert.is(c.clientTls.files.certFile, '/x.pem');
  assert.ok(c.clientTls.clientCertAuth);
  assert.ok(c.peerTls.ciphers?.includes('ECDHE-RSA-AES128-GCM-SHA256'));
  assert.throws(() => parse(['--cipher-suites', 'TLS_NOPE']), /unexpected TLS cipher suite "TLS_NOPE"/);
});

it('--tls-min-version TLS1.3 with --cipher-suites is refused at start with etcd 3.5\'s message', () => {
  const suites = ['--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'];
  const e = configError(() => parse(['--tls-min-version', 'TLS1.3', ...suites]));
  assert.is(e.kind, 'invalid');
  assert.is(e.message, 'cipher suites cannot be configured when only TLS1.3 is enabled');
  // either alone is fine, and so is TLS 1.2 with suites
  assert.is(parse(['--tls-min-version', 'TLS1.3']).clientTls.minVersion, 'TLSv1.3');
  assert.is(parse(['--tls-min-version', 'TLS1.2', ...suites]).peerTls.minVersion, 'TLSv1.2');
});

it("the config file's client-transport-security and peer-transport-security set the TLS flags", () => {
  const yaml = ['name: tlsnode', 'client-transport-security:', '  cert-file: /c.pem', '  key-file: /k.pem', '  client-cert-auth: true', '  trusted-ca-file: /ca.pem', 'peer-transport-security:', '  auto-tls: true', ''].join('\n');
  const c = parseConfig(['--config-file', 'tls.yml'], {}, { readFile: () => yaml });
  if (c.kind !== 'server') throw new Error('expected server');
  assert.equal(c.clientTls.files, { certFile: '/c.pem', keyFile: '/k.pem', trustedCaFile: '/ca.pem', crlFile: '' });
  assert.ok(c.clientTls.clientCertAuth);
  assert.ok(c.peerTls.autoTls);
  assert.equal(c.ignoredFlags, []);
});

it('etcd flags Lattice does not implement are accepted and listed in ignoredFlags', () => {
  const c = parse(['--host-whitelist', 'example.com', '--enable-pprof', '--wal-dir', '/w', '--max-wals', '3']);
  assert.equal(c.ignoredFlags, ['enable-pprof', 'max-wals', 'wal-dir']);
  assert.equal(c.hostWhitelist, ['example.com']);
  assert.ok(c.warnings.some((w) => w.includes('--enable-pprof, --max-wals, --wal-dir')));
  assert.is(c.walDir, '/w');
});

it('discovery and proxy modes are refused rather than silently ignored', () => {
  assert.match(configError(() => parseConfig(['--discovery', 'https://d.example/x'], {})).message, /not supported by Lattice/);
  assert.match(configError(() => parseConfig(['--proxy', 'on'], {})).message, /not supported by Lattice/);
  parse(['--proxy', 'off']);
});

// --- URLs -------------------------------------------------------------------------------------------------

it('URL lists are normalised, deduplicated and sorted like etcd\'s', () => {
  const c = parse([
    '--listen-client-urls', 'http://127.0.0.1:2379,HTTP://localhost:2379,http://127.0.0.1:2379',
    '--advertise-client-urls', 'http://10.0.0.1:2379',
  ]);
  assert.equal(c.listenClientUrls, ['http://127.0.0.1:2379', 'http://localhost:2379']);
});

it('rejects URLs etcd rejects, with etcd\'s text', () => {
  assert.is(
    configError(() => parseConfig(['--listen-client-urls', 'http://127.0.0.1:2379/x'], {})).message,
    'invalid value "http://127.0.0.1:2379/x" for flag -listen-client-urls: URL must not contain a path: http://127.0.0.1:2379/x',
  );
  assert.match(configError(() => parseConfig(['--listen-peer-urls', 'ftp://1.2.3.4:1'], {})).message, /URL scheme must be http, https, unix, or unixs/);
  assert.match(configError(() => parseConfig(['--listen-peer-urls', 'http://1.2.3.4'], {})).message, /does not have the form "host:port"/);
  assert.is(
    configError(() => parseConfig(['--listen-client-urls', 'http://foo.com:3379', '--advertise-client-urls', 'http://x:1'], {})).message,
    'expected IP in URL for binding (http://foo.com:3379)',
  );
  assert.is(normalizeUrl(' https://[::1]:2379 '), 'https://[::1]:2379');
});

it('listen-client-urls given without advertise-client-urls is an error, as in etcd', () => {
  const e = configError(() => parseConfig(['--listen-client-urls', 'http://127.0.0.1:3379'], {}));
  assert.is(e.kind, 'invalid');
  assert.is(e.message, '--advertise-client-urls is required when --listen-client-urls is set explicitly');
});

it('listenAddress maps localhost to 127.0.0.1 and tells TLS from the scheme', () => {
  assert.equal(listenAddress('http://localhost:2379'), { host: '127.0.0.1', port: 2379, tls: false });
  assert.equal(listenAddress('https://0.0.0.0:2379'), { host: '0.0.0.0', port: 2379, tls: true });
  assert.equal(listenAddress('http://[::1]:4001'), { host: '::1', port: 4001, tls: false });
  assert.throws(() => listenAddress('unix://localhost:1'), (e: unknown) => e instanceof ConfigError);
});

// --- validation -------------------------------------------------------------------------------------------

it('election timeout must be at least 5 heartbeats and below 50 s', () => {
  assert.is(
    configError(() => parseConfig(['--heartbeat-interval', '300', '--election-timeout', '1000'], {})).message,
    '--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]',
  );
  assert.match(configError(() => parseConfig(['--election-timeout', '60000'], {})).message, /is too long/);
});

it('an initial cluster that does not match this member fails bootstrap with etcd\'s message', () => {
  const c = parse(['--initial-advertise-peer-urls', 'http://127.0.0.1:3380', '--listen-peer-urls', 'http://127.0.0.1:3380']);
  // Verbatim from etcd 3.4.23 with the same flags.
  assert.is(
    configError(() => verifyBootstrap(c)).message,
    '--initial-cluster has default=http://localhost:2380 but missing from --initial-advertise-peer-urls=http://127.0.0.1:3380 (resolved urls: "http://127.0.0.1:3380" != "http://localhost:2380")',
  );
  const other = parse(['--name', 'a', '--initial-cluster', 'b=http://127.0.0.1:1']);
  assert.is(configError(() => verifyBootstrap(other)).message, 'couldn\'t find local name "a" in the initial cluster configuration');
  const dup = parse(['--name', 'a', '--initial-cluster', 'a=http://localhost:2380,b=http://localhost:2380']);
  assert.match(configError(() => verifyBootstrap(dup)).message, /has duplicate url/);
});

it('a multi-member initial cluster parses into name → sorted URLs', () => {
  const c = parse([
    '--name', 'n2',
    '--initial-advertise-peer-urls', 'http://127.0.0.1:2,http://10.0.0.2:2',
    '--initial-cluster', 'n1=http://127.0.0.1:1,n2=http://127.0.0.1:2,n2=http://10.0.0.2:2,n3=http://127.0.0.1:3',
    '--initial-cluster-state', 'existing',
  ]);
  assert.equal(c.initialCluster.get('n2'), ['http://10.0.0.2:2', 'http://127.0.0.1:2']);
  assert.is(c.initialCluster.size, 3);
  assert.is(c.initialClusterState, 'existing');
  verifyBootstrap(c);
});

it('Lattice flags validate their values', () => {
  const c = parse(['--engine', 'memory', '--actor-placement=worker', '--shards', '4']);
  assert.is(c.engine, 'memory');
  assert.is(c.actorPlacement, 'worker');
  assert.is(c.shards, 4);
  assert.match(configError(() => parseConfig(['--engine', 'leveldb'], {})).message, /invalid value "leveldb" for flag -engine/);
  assert.match(configError(() => parseConfig(['--shards', '0'], {})).message, /--shards must be between 1/);
});

it('log level is checked and --debug means debug', () => {
  assert.is(parse(['--log-level', 'warn']).logLevel, 'warn');
  assert.is(parse(['--debug']).logLevel, 'debug');
  assert.match(configError(() => parseConfig(['--log-level', 'loud'], {})).message, /unknown log level "loud"/);
  assert.match(configError(() => parseConfig(['--logger', 'x'], {})).message, /unknown logger option "x"/);
  assert.equal(parse(['--logger', 'zap', '--log-outputs', 'stderr,stdout']).logOutputs, ['stderr', 'stdout']);
});

// --- environment ------------------------------------------------------------------------------------------

it('ETCD_* variables set flags (upper case, dashes as underscores); LATTICE_* set Lattice flags', () => {
  const c = parse([], {
    ETCD_NAME: 'envname',
    ETCD_DATA_DIR: '/tmp/envdir',
    ETCD_LISTEN_CLIENT_URLS: 'http://127.0.0.1:5379',
    ETCD_ADVERTISE_CLIENT_URLS: 'http://127.0.0.1:5379',
    ETCD_UNSAFE_NO_FSYNC: 'true',
    LATTICE_ENGINE: 'memory',
    LATTICE_SHARDS: '2',
    PATH: '/usr/bin',
  });
  assert.is(c.name, 'envname');
  assert.is(c.dataDir, '/tmp/envdir');
  assert.equal(c.listenClientUrls, ['http://127.0.0.1:5379']);
  assert.is(c.unsafeNoFsync, true);
  assert.is(c.engine, 'memory');
  assert.is(c.shards, 2);
});

it('a listen-client-urls set from the environment also needs advertise-client-urls', () => {
  assert.match(configError(() => parseConfig([], { ETCD_LISTEN_CLIENT_URLS: 'http://127.0.0.1:5379' })).message, /--advertise-client-urls is required/);
});

it('a command-line flag wins over its ETCD_* variable, with etcd\'s conflict message as a warning', () => {
  const c = parse(['--name', 'flag'], { ETCD_NAME: 'env' });
  assert.is(c.name, 'flag');
  assert.ok(c.warnings.some((w) => w.startsWith('conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line flag')));
  // etcd 3.4 itself exits 1 here; envConflict: 'fail' mirrors that.
  const e = configError(() => parseConfig(['--name', 'flag'], { ETCD_NAME: 'env' }, { envConflict: 'fail' }));
  assert.is(e.exitCode, 1);
});

it('bad values and unknown names in the environment are reported', () => {
  assert.is(
    configError(() => parseConfig([], { ETCD_SNAPSHOT_COUNT: 'many' })).message,
    'invalid value "many" for ETCD_SNAPSHOT_COUNT: parse error',
  );
  assert.ok(parse([], { ETCD_FOO: '1' }).warnings.includes('unrecognized environment variable ETCD_FOO=1'));
  assert.is(parse([], { ETCD_NAME: '' }).name, 'default');
});

// --- config file ------------------------------------------------------------------------------------------

const yamlConfig = `
# etcd's sample config format
name: 'filenode'
data-dir: /var/lib/filenode
listen-peer-urls: http://127.0.0.1:7380
listen-client-urls: http://127.0.0.1:7379,http://localhost:7379
initial-advertise-peer-urls: http://127.0.0.1:7380
advertise-client-urls: http://127.0.0.1:7379
initial-cluster: filenode=http://127.0.0.1:7380
initial-cluster-token: 'file-token'
initial-cluster-state: 'new'
snapshot-count: 5000
heartbeat-interval: 50
election-timeout: 500
quota-backend-bytes: 0
max-txn-ops: 64
log-level: debug
logger: zap
log-outputs: [stderr]
force-new-cluster: false
unsafe-no-fsync: true
wal-dir:
grpc-keepalive-min-time: 3000000000
engine: memory
shards: 3
client-transport-security:
  cert-file:
  key-file:
`;

it('--config-file loads etcd\'s YAML format and ignores other flags and ETCD_* variables', () => {
  const dir = makeTempDir('config');
  const path = join(dir, 'etcd.conf.yml');
  writeFileSync(path, yamlConfig);
  const c = parse(['--config-file', path, '--name', 'ignored'], { ETCD_SNAPSHOT_COUNT: '7' });
  assert.is(c.name, 'filenode');
  assert.is(c.dataDir, '/var/lib/filenode');
  assert.equal(c.listenClientUrls, ['http://127.0.0.1:7379', 'http://localhost:7379']);
  assert.equal(c.listenPeerUrls, ['http://127.0.0.1:7380']);
  assert.equal([...c.initialCluster], [['filenode', ['http://127.0.0.1:7380']]]);
  assert.is(c.initialClusterToken, 'file-token');
  assert.is(c.snapshotCount, 5000);
  assert.is(c.heartbeatIntervalMs, 50);
  assert.is(c.electionTimeoutMs, 500);
  assert.is(c.quotaBackendBytes, 2 * 1024 ** 3);
  assert.is(c.maxTxnOps, 64);
  assert.is(c.logLevel, 'debug');
  assert.equal(c.logOutputs, ['stderr']);
  assert.is(c.unsafeNoFsync, true);
  assert.is(c.grpcKeepAliveMinTimeMs, 3000);
  assert.is(c.engine, 'memory');
  assert.is(c.shards, 3);
  assert.is(c.configFile, path);
  assert.equal(c.ignoredFlags, []);
  verifyBootstrap(c);
});

// etcd 3.4's etcd.conf.yml.sample, with every key it lists.
const etcdSample = `
name: 'default'
data-dir:
wal-dir:
snapshot-count: 10000
heartbeat-interval: 100
election-timeout: 1000
quota-backend-bytes: 0
listen-peer-urls: http://localhost:2380
listen-client-urls: http://localhost:2379
max-snapshots: 5
max-wals: 5
cors:
initial-advertise-peer-urls: http://localhost:2380
advertise-client-urls: http://localhost:2379
discovery:
discovery-fallback: 'proxy'
discovery-proxy:
discovery-srv:
initial-cluster:
initial-cluster-token: 'etcd-cluster'
initial-cluster-state: 'new'
strict-reconfig-check: false
enable-v2: true
enable-pprof: true
proxy: 'off'
proxy-failure-wait: 5000
proxy-refresh-interval: 30000
proxy-dial-timeout: 1000
proxy-write-timeout: 5000
proxy-read-timeout: 0
client-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  trusted-ca-file:
  auto-tls: false
peer-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  trusted-ca-file:
  auto-tls: false
debug: false
logger: zap
log-outputs: [stderr]
force-new-cluster: false
auto-compaction-mode: periodic
auto-compaction-retention: "1"
`;

it("etcd's sample config file is accepted; only non-default unimplemented settings are listed as ignored", () => {
  const c = parseConfig(['--config-file', 'sample.yml'], {}, { readFile: () => etcdSample });
  if (c.kind !== 'server') throw new Error('expected server');
  assert.is(c.dataDir, 'default.etcd');
  assert.equal([...c.initialCluster], [['default', ['http://localhost:2380']]]);
  assert.is(c.snapshotCount, 10000);
  assert.is(c.strictReconfigCheck, false);
  assert.is(c.autoCompactionRetentionValue, 3_600_000);
  assert.equal(c.ignoredFlags, ['enable-pprof', 'enable-v2']);
});

it('ETCD_CONFIG_FILE names the config file too; bad content is an invalid-config error', () => {
  const dir = makeTempDir('config');
  const path = join(dir, 'c.yml');
  writeFileSync(path, 'name: fromenv\n');
  assert.is(parse([], { ETCD_CONFIG_FILE: path }).name, 'fromenv');
  writeFileSync(path, 'snapshot-count: lots\n');
  assert.is(configError(() => parseConfig(['--config-file', path], {})).kind, 'invalid');
  writeFileSync(path, 'listen-client-urls: localhost:1\n');
  assert.match(configError(() => parseConfig(['--config-file', path], {})).message, /unexpected error setting up listen-client-urls/);
  assert.match(configError(() => parseConfig(['--config-file', join(dir, 'missing.yml')], {})).message, /cannot read config file/);
});

// --- logger -----------------------------------------------------------------------------------------------

it('the logger writes zap-shaped JSON lines and filters by level', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', write: (l) => lines.push(l), clock: () => new Date(0), caller: 'x' });
  log.debug('hidden');
  log.info('shown', { id: 2n ** 63n, err: new Error('boom') });
  log.named('y').warn('w');
  assert.is(lines.length, 2);
  assert.equal(JSON.parse(lines[0] ?? ''), {
    level: 'info',
    ts: '1970-01-01T00:00:00.000Z',
    caller: 'x',
    msg: 'shown',
    id: '9223372036854775808',
    err: 'boom',
  });
  assert.is((JSON.parse(lines[1] ?? '') as { caller: string }).caller, 'y');
});

// --- the binary -------------------------------------------------------------------------------------------

const bin = repoPath('bin', 'lattice.js');

it('lattice --version prints the version block and exits 0', async () => {
  const p = spawnProcess({ name: 'lattice --version', command: process.execPath, args: [bin, '--version'] });
  const exit = await p.exited;
  assert.is(exit.code, 0, p.output());
  assert.match(p.output(), /^Lattice Version: \d+\.\d+\.\d+\netcd API Version: 3\.4\nNode Version: v\d+/);
});

it('lattice with an unknown flag prints "lattice: flag provided but not defined" and exits 2', async () => {
  const p = spawnProcess({ name: 'lattice --foo', command: process.execPath, args: [bin, '--foo'] });
  const exit = await p.exited;
  assert.is(exit.code, 2);
  assert.match(p.output(), /^lattice: flag provided but not defined: -foo\nUsage:/);
});

it('lattice with invalid values exits 1 with "error verifying flags"', async () => {
  const p = spawnProcess({ name: 'lattice bad', command: process.execPath, args: [bin, '--listen-client-urls', 'http://127.0.0.1:1'] });
  const exit = await p.exited;
  assert.is(exit.code, 1);
  assert.match(p.output(), /lattice: error verifying flags, --advertise-client-urls is required/);
});

it('lattice starts, logs its configuration as JSON, and exits 0 on SIGTERM', async () => {
  const dir = makeTempDir('cli');
  const [client, peer] = await freePorts(2);
  const c = `http://127.0.0.1:${client}`;
  const pu = `http://127.0.0.1:${peer}`;
  const p = spawnProcess({
    name: 'lattice',
    command: process.execPath,
    args: [bin, '--name', 'cli', '--data-dir', join(dir, 'data'), '--engine', 'memory',
      '--listen-client-urls', c, '--advertise-client-urls', c, '--listen-peer-urls', pu, '--initial-advertise-peer-urls', pu],
    cwd: dir,
  });
  const line = await p.waitForLine(/"msg":"configuration"/, 20_000);
  const logged = JSON.parse(line) as Record<string, unknown>;
  assert.is(logged['level'], 'info');
  assert.is(logged['name'], 'cli');
  assert.is(logged['initial-cluster'], `cli=${pu}`);
  const exit = await p.stop();
  assert.is(exit.code, 0, p.tail());
});

test.run();
