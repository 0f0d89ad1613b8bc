import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, parseConfig, type ServerConfig } from '../../src/server/config.js';
import { parseServerArgs, runConfigCommand, takeConfigFlag } from '../../src/config/config-cli.js';
import { ConfigFileError, parseLatticeToml } from '../../src/config/lattice-toml.js';
import { effectiveToml } from '../../src/config/config-print.js';
import type { FlagValue } from '../../src/server/config.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeAllTempDirs } from '../helpers/temp-dirs.js';
import { repoPath } from '../helpers/paths.js';

const test = suite('lattice.toml');
test.after(() => removeAllTempDirs());

/** Starts from a file whose text is given; readFile is injected so no file is written. */
function start(text: string, argv: string[] = [], env: NodeJS.ProcessEnv = {}): ServerConfig {
  const { result } = parseServerArgs(['start', '--config', 'lattice.toml', ...argv], env, { readFile: () => text });
  if (result.kind !== 'server') throw new Error(`expected a server config, got ${result.kind}`);
  return result;
}

function fileError(text: string): ConfigFileError {
  try {
    parseLatticeToml('lattice.toml', text);
  } catch (e) {
    if (e instanceof ConfigFileError) return e;
    throw e;
  }
  throw new Error('expected a ConfigFileError');
}

function startError(text: string, argv: string[] = []): ConfigError {
  try {
    start(text, argv);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const everySection = `
[listeners.grpc]
bind = "127.0.0.1:12379"
client_cert_auth = true
trusted_ca_file = "/tls/ca.pem"
min_tls_version = "1.3"
max_connections = 7
idle_timeout_ms = 1500

[durability]
mode = "quorum"
fsync_policy = "always"
fsync_interval_ms = 25

[paths]
data_dir = "/var/lib/x"
wal_dir = "/var/lib/x-wal"

[telemetry]
metrics_bind = "127.0.0.1:12381"
log_level = "warn"

[etcd]
name = "n1"
advertise-client-urls = "http://127.0.0.1:12379"
initial-advertise-peer-urls = ["http://127.0.0.1:12380"]
listen-peer-urls = "http://127.0.0.1:12380"
initial-cluster = "n1=http://127.0.0.1:12380"
grpc-keepalive-interval = "30s"
snapshot-count = 5000
pre-vote = false
engine = "memory"
`;

test('every section key sets the setting of its flag', () => {
  const c = start(everySection);
  assert.equal(c.listenClientUrls, ['http://127.0.0.1:12379']);
  assert.is(c.clientTls.clientCertAuth, true);
  assert.is(c.clientTls.files.trustedCaFile, '/tls/ca.pem');
  assert.is(c.clientTls.minVersion, 'TLSv1.3');
  assert.is(c.peerTls.minVersion, 'TLSv1.3');
  assert.is(c.maxClientConnections, 7);
  assert.is(c.clientIdleTimeoutMs, 1500);
  assert.is(c.durabilityMode, 'quorum');
  assert.is(c.fsyncPolicy, 'always');
  assert.is(c.fsyncIntervalMs, 25);
  assert.is(c.dataDir, '/var/lib/x');
  assert.is(c.walDir, '/var/lib/x-wal');
  assert.equal(c.listenMetricsUrls, ['http://127.0.0.1:12381']);
  assert.is(c.logLevel, 'warn');
  assert.is(c.name, 'n1');
  assert.equal(c.initialAdvertisePeerUrls, ['http://127.0.0.1:12380']);
  assert.equal([...c.initialCluster], [['n1', ['http://127.0.0.1:12380']]]);
  assert.is(c.grpcKeepAliveIntervalMs, 30_000);
  assert.is(c.snapshotCount, 5000);
  assert.is(c.preVote, false);
  assert.is(c.engine, 'memory');
  assert.is(c.configFile, 'lattice.toml');
});

test('an [etcd] value gets the same defaults and checks as the flag on the command line', () => {
  // The defaults where the file says nothing are the command line's.
  const bare = start('');
  const cli = parseConfig([], {});
  if (cli.kind !== 'server') throw new Error('server expected');
  assert.equal({ ...bare, configFile: undefined }, { ...cli, configFile: undefined });
  // A value the flag parser refuses is refused in the file, with the flag parser's reason.
  const e = fileError('[etcd]\nsnapshot-count = "12x"\n');
  assert.match(e.message, /lattice\.toml:2: etcd\.snapshot-count: invalid value "12x": parse error/);
  assert.match(fileError('[etcd]\nheartbeat-interval = -5\n').message, /lattice\.toml:2: etcd\.heartbeat-interval: invalid value "-5"/);
  assert.match(fileError('[etcd]\ngrpc-keepalive-interval = 30\n').message, /a number where a duration string like "5s" is expected/);
  assert.match(fileError('[etcd]\npre-vote = "yes"\n').message, /etcd\.pre-vote: a string where a boolean/);
  assert.match(fileError('[etcd]\ninitial-cluster-state = "maybe"\n').message, /invalid value "maybe" \(one of new, existing\)/);
});

test('precedence: flags over ETCD_*/LATTICE_* variables over the file over defaults', () => {
  const file = '[etcd]\nname = "from-file"\n[durability]\nmode = "quorum"\n';
  assert.is(start('').name, 'default');
  assert.is(start(file).name, 'from-file');
  assert.is(start(file, [], { ETCD_NAME: 'from-env' }).name, 'from-env');
  assert.is(start(file, ['--name', 'from-flag'], { ETCD_NAME: 'from-env' }).name, 'from-flag');
  assert.is(start('').durabilityMode, 'sync');
  assert.is(start(file).durabilityMode, 'quorum');
  assert.is(start(file, [], { LATTICE_DURABILITY: 'sync' }).durabilityMode, 'sync');
  assert.is(start(file, ['--durability', 'async'], { LATTICE_DURABILITY: 'sync' }).durabilityMode, 'async');
});

test("etcd's YAML --config-file keeps etcd's rule (only the file counts) and cannot be mixed with --config", () => {
  const yaml = parseConfig(['--config-file', 'etcd.yml', '--name', 'ignored'], { ETCD_NAME: 'ignored' }, { readFile: () => 'name: from-yaml\n' });
  assert.is(yaml.kind === 'server' && yaml.name, 'from-yaml');
  const e = startError('', ['--config-file', 'etcd.yml']);
  assert.is(e.kind, 'usage');
  assert.match(e.message, /cannot be used together/);
});

test('a syntax error names the line and column', () => {
  const e = fileError('[etcd]\nname = "n1"\nsnapshot-count = [\n');
  assert.is(e.problems[0]?.line, 4);
  assert.match(e.message, /^lattice\.toml:4:\d+: TOML syntax error/);
});

test('an unknown key is an error naming its line, in every section', () => {
  const e = fileError(
    ['top = 1', '[listeners.grpc]', 'port = 1', '[listeners.http]', '[durability]', 'mod = "sync"', '[paths]', 'data = "x"', '[telemetry]', 'level = "x"', '[etcd]', 'data_dir = "x"', 'nonsense = 1', '[tenants.a]', 'prefix = "/a/"', 'quota = 1'].join('\n'),
  );
  const at = e.problems.map((p) => `${p.line}:${p.key}`);
  assert.equal(at, ['1:top', '3:listeners.grpc.port', '4:listeners.http', '6:durability.mod', '8:paths.data', '10:telemetry.level', '12:etcd.data_dir', '13:etcd.nonsense', '16:tenants.a.quota']);
  assert.match(e.message, /etcd\.data_dir: unknown key \(etcd flags keep their dashes: data-dir\)/);
});

test('a flag set twice in the file (a section name and its [etcd] name) is an error naming both', () => {
  const e = fileError('[paths]\ndata_dir = "a"\n[etcd]\ndata-dir = "b"\n');
  assert.match(e.message, /lattice\.toml:4: etcd\.data-dir: sets --data-dir, which paths\.data_dir \(line 2\) already sets/);
});

test('section values are type checked with the key and line', () => {
  const e = fileError('[listeners.grpc]\nmax_connections = -1\nidle_timeout_ms = "5s"\nmin_tls_version = "1.1"\nbind = 5\n[durability]\nmode = "fast"\nfsync_policy = "sometimes"\n');
  assert.equal(
    e.problems.map((p) => `${p.line}:${p.key}`),
    ['2:listeners.grpc.max_connections', '3:listeners.grpc.idle_timeout_ms', '4:listeners.grpc.min_tls_version', '5:listeners.grpc.bind', '7:durability.mode', '8:durability.fsync_policy'],
  );
});

test('bind takes host:port (https when the file gives the listener a certificate), URLs or an array', () => {
  assert.equal(start('[listeners.grpc]\nbind = ["127.0.0.1:1", "http://127.0.0.1:2"]\n[etcd]\nadvertise-client-urls = "http://127.0.0.1:1"').listenClientUrls, ['http://127.0.0.1:1', 'http://127.0.0.1:2']);
  const tls = parseLatticeToml('f', '[listeners.grpc]\nbind = "127.0.0.1:1"\ncert_file = "c"\nkey_file = "k"\n');
  assert.equal(tls.flagValues.get('listen-client-urls'), ['https://127.0.0.1:1']);
});

test('a failed check of the combined values names the file key that set the value, unless a flag overrode it', () => {
  const text = '[etcd]\nheartbeat-interval = 500\nelection-timeout = 1000\n';
  const e = startError(text);
  assert.ok(e instanceof ConfigFileError);
  assert.match(e.message, /^lattice\.toml:3: etcd\.election-timeout: --election-timeout\[1000ms\] should be at least as 5 times as --heartbeat-interval\[500ms\]/);
  // The flag overrides the file's election timeout; the heartbeat still comes from the file.
  assert.match(startError(text, ['--election-timeout', '1200']).message, /^lattice\.toml:2: etcd\.heartbeat-interval: --election-timeout\[1200ms\]/);
  const fromFlags = startError('', ['--heartbeat-interval', '500', '--election-timeout', '1000']);
  assert.not.ok(fromFlags instanceof ConfigFileError);
  assert.is(fromFlags.kind, 'invalid');
});

test('durability: async is refused for a multi-member cluster, quorum is not; --unsafe-no-fsync means fsync_policy never', () => {
  const cluster = '[etcd]\nname = "a"\ninitial-cluster = "a=http://127.0.0.1:1,b=http://127.0.0.1:2,c=http://127.0.0.1:3"\ninitial-advertise-peer-urls = "http://127.0.0.1:1"\n';
  const e = startError(`${cluster}[durability]\nmode = "async"\n`);
  assert.match(e.message, /^lattice\.toml:6: durability\.mode: --durability async \(\[durability\] mode = "async"\) is for a single-member .* this cluster has 3 members/);
  assert.is(start(`${cluster}[durability]\nmode = "quorum"\n`).durabilityMode, 'quorum');
  assert.is(start('[durability]\nmode = "async"\n').durabilityMode, 'async');
  assert.is(start('[etcd]\nunsafe-no-fsync = true\n').fsyncPolicy, 'never');
  assert.match(startError('[durability]\nfsync_interval_ms = 0\n').message, /--fsync-interval must be between 1ms and 10000ms/);
});

test('tenants parse into TenantSpec', () => {
  const c = start(
    '[tenants.team-a]\nprefix = "/t/a/"\nusers = ["alice"]\ncert_common_names = ["svc-a"]\nrequests_per_second = 2.5\nmax_keys = 10\nlease_ttl_min_seconds = 5\nlease_ttl_max_seconds = 60\n[tenants.b]\nprefix = "/t/b/"\n',
  );
  assert.equal(c.tenants, [
    { name: 'team-a', prefix: '/t/a/', users: ['alice'], certCommonNames: ['svc-a'], limits: { requestsPerSecond: 2.5, maxKeys: 10, leaseTtlMinSeconds: 5, leaseTtlMaxSeconds: 60 } },
    { name: 'b', prefix: '/t/b/', users: [], certCommonNames: [], limits: {} },
  ]);
});

test('tenants are validated: names, prefixes that nest, users and CNs in two tenants, limits', () => {
  const e = fileError(
    [
      '[tenants.Bad_Name]', 'prefix = "/x/"',
      '[tenants.a]', 'prefix = "/a/"', 'users = ["u"]', 'cert_common_names = ["cn"]',
      '[tenants.a-inner]', 'prefix = "/a/in/"',
      '[tenants.c]', 'prefix = "/c/"', 'users = ["u"]', 'cert_common_names = ["cn"]', 'max_keys = 0', 'requests_per_second = -1',
      '[tenants.d]', 'users = [1]',
      '[tenants.e]', 'prefix = ""', 'lease_ttl_min_seconds = 10', 'lease_ttl_max_seconds = 5',
    ].join('\n'),
  );
  const messages = e.problems.map((p) => `${p.line}:${p.key}: ${p.message}`);
  assert.ok(messages.some((m) => /^1:tenants\.Bad_Name: tenant name "Bad_Name" must be/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^8:tenants\.a-inner\.prefix: "\/a\/in\/" lies inside tenant "a"'s prefix "\/a\/"/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^11:tenants\.c\.users: "u" already belongs to tenant "a"/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^12:tenants\.c\.cert_common_names: "cn" already belongs to tenant "a"/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^13:tenants\.c\.max_keys: must be a positive integer/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^14:tenants\.c\.requests_per_second: must be a positive number/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^15:tenants\.d: prefix is required/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^16:tenants\.d\.users: must be an array of non-empty strings/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^18:tenants\.e\.prefix: must be a non-empty string/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^19:tenants\.e\.lease_ttl_min_seconds: is above lease_ttl_max_seconds/.test(m)), messages.join('\n'));
});

test("tenants come from lattice.toml or --tenants-file, not both; the tenant module's own rules apply too", () => {
  const json = join(makeTempDir('tenants-file'), 'tenants.json');
  writeFileSync(json, JSON.stringify([{ name: 'b', prefix: '/b/', users: [], certCommonNames: [], limits: {} }]));
  assert.equal(start('', ['--tenants-file', json]).tenants.map((t) => t.name), ['b']);
  assert.match(startError('[tenants.a]\nprefix = "/a/"\n', ['--tenants-file', json]).message, /tenants are given both by lattice\.toml's \[tenants\] tables and by --tenants-file/);
  const reserved = fileError('[tenants.a]\nprefix = "\\u0000lattice/"\n');
  assert.match(reserved.message, /lattice\.toml:1: tenants: tenant a: prefix overlaps the reserved/);
});

test('config print writes a lattice.toml that parses back to the same configuration', () => {
  const example = readFileSync(repoPath('examples', 'lattice.toml'), 'utf8');
  let values: ReadonlyMap<string, FlagValue> = new Map();
  const argv = ['--config', 'lattice.toml', '--name', 'flagged', '--initial-cluster', 'flagged=http://127.0.0.1:2380'];
  const first = parseServerArgs(argv, { LATTICE_DURABILITY: 'quorum' }, { readFile: () => example, onEffective: (v) => (values = v) }).result;
  if (first.kind !== 'server') throw new Error('server expected');
  const printed = effectiveToml(first, values, 'lattice.toml');
  const again = start(printed);
  const comparable = (c: ServerConfig): object => ({ ...c, configFile: undefined, warnings: undefined, initialCluster: [...c.initialCluster] });
  assert.equal(comparable(again), comparable(first));
  assert.is(again.durabilityMode, 'quorum');
  assert.is(again.name, 'flagged');
});

test('the committed example passes config check; a bad file exits 1 with its messages', () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t) };
  assert.is(runConfigCommand(['check', repoPath('examples', 'lattice.toml')], {}, io), 0);
  assert.match(out.join(''), /OK \(\d+ settings, 2 tenants\)/);
  assert.is(runConfigCommand(['check', '/nonexistent/lattice.toml'], {}, io), 1);
  assert.match(err.join(''), /lattice\.toml: cannot read the config file/);
  assert.is(runConfigCommand(['frobnicate'], {}, io), 2);
});

test('--config takes a file name; a Go boolean after = stays etcd\'s legacy flag', () => {
  assert.equal(takeConfigFlag(['--config', 'a.toml', '--name', 'x']), { configPath: 'a.toml', rest: ['--name', 'x'] });
  assert.equal(takeConfigFlag(['-config=b.toml']), { configPath: 'b.toml', rest: [] });
  assert.equal(takeConfigFlag(['--config=true']), { configPath: undefined, rest: ['--config=true'] });
  assert.equal(takeConfigFlag(['--config', '--name', 'x']), { configPath: undefined, rest: ['--config', '--name', 'x'] });
});

test('min_tls_version = "1.3" with cipher-suites is refused as etcd 3.5 refuses TLS1.3 with cipher suites', () => {
  const e = startError('[listeners.grpc]\nmin_tls_version = "1.3"\n[etcd]\ncipher-suites = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"\n');
  assert.match(e.message, /cipher suites cannot be configured when only TLS1\.3 is enabled/);
});

test.run();
