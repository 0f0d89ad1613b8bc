// /metrics against real etcd 3.4: after the same small load, every metric both export has the same
// type, help text and label names; the exposition parses strictly; values move with the load; the
// --listen-metrics-urls listener serves /metrics, /health, /livez and /readyz.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { freePort, loopbackHost } from '../helpers/free-port.js';
import { hasEtcd, missingTools, skip } from '../helpers/tools.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { labelNamesOf, parsePrometheusText, sampleValue, type MetricFamily } from '../helpers/prom-text.js';

const test = suite('metrics: /metrics, /livez, /readyz and --listen-metrics-urls');

let lattice: LatticeServer | undefined;
let etcd: EtcdServer | undefined;
let metricsUrl = '';
let logDir = '';

/** The metrics the issue names, which Lattice must export under etcd's names. */
const required = [
  'etcd_server_has_leader',
  'etcd_server_is_leader',
  'etcd_server_leader_changes_seen_total',
  'etcd_server_proposals_committed_total',
  'etcd_server_proposals_applied_total',
  'etcd_server_proposals_pending',
  'etcd_server_proposals_failed_total',
  'etcd_server_id',
  'etcd_server_version',
  'etcd_mvcc_db_total_size_in_bytes',
  'etcd_mvcc_db_total_size_in_use_in_bytes',
  'etcd_debugging_mvcc_keys_total',
  'etcd_mvcc_put_total',
  'etcd_mvcc_delete_total',
  'etcd_mvcc_range_total',
  'etcd_mvcc_txn_total',
  'etcd_debugging_mvcc_current_revision',
  'etcd_debugging_mvcc_compact_revision',
  'etcd_disk_wal_fsync_duration_seconds',
  'etcd_disk_backend_commit_duration_seconds',
  'etcd_network_peer_round_trip_time_seconds',
  'etcd_network_peer_sent_bytes_total',
  'etcd_network_peer_received_bytes_total',
  'grpc_server_started_total',
  'grpc_server_handled_total',
  'grpc_server_msg_received_total',
  'grpc_server_msg_sent_total',
  'grpc_server_handling_seconds',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'process_open_fds',
  'process_start_time_seconds',
  'nodejs_heap_size_used_bytes',
  'lattice_revision',
  'lattice_watch_hub_streams',
  'lattice_watch_hub_watchers',
  'lattice_lease_table_leases',
  'etcd_debugging_server_lease_expired_total',
];

async function scrape(url: string): Promise<Map<string, MetricFamily>> {
  const res = await fetch(url);
  assert.is(res.status, 200);
  return parsePrometheusText(await res.text());
}

async function ctl(endpoint: string, args: string[], input?: string): Promise<void> {
  const r = await etcdctl(endpoint, args, input);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
}

/** The same small load on either server: every KV call kind, a txn, a lease, a compaction. */
async function load(endpoint: string): Promise<void> {
  for (const k of ['a', 'b', 'c']) await ctl(endpoint, ['put', k, 'v']);
  await ctl(endpoint, ['get', 'a']);
  await ctl(endpoint, ['del', 'a']);
  await ctl(endpoint, ['txn'], 'value("b") = "v"\n\nput b w\nget c\n\n\n');
  await ctl(endpoint, ['lease', 'grant', '100']);
  await ctl(endpoint, ['compact', '3']);
}

test.before(async () => {
  const port = await freePort();
  metricsUrl = `http://${loopbackHost}:${port}`;
  const extra = ['--metrics', 'extensive'];
  logDir = makeTempDir('metrics-log');
  // both settle before either failure is thrown, so a server that did start is stopped in after()
  const [l, e] = await Promise.allSettled([
    startLattice('memory', 'lattice', [...extra, '--listen-metrics-urls', metricsUrl, '--logger', 'zap', '--log-outputs', `stdout,${join(logDir, 'lattice.log')}`]),
    hasEtcd() ? startEtcd('etcd', extra) : Promise.resolve(undefined),
  ]);
  if (l.status === 'fulfilled') lattice = l.value;
  if (e.status === 'fulfilled') etcd = e.value;
  if (l.status === 'rejected' || e.status === 'rejected') {
    await Promise.all([lattice?.stop(), etcd?.stop()]);
    throw l.status === 'rejected' ? l.reason : (e as PromiseRejectedResult).reason;
  }
  await Promise.all([load(l.value.endpoint), etcd === undefined ? undefined : load(etcd.endpoint)]);
});

test.after(async () => {
  await Promise.all([lattice?.stop(), etcd?.stop()]);
  removeTempDir(logDir);
});

test('/metrics on the client port is the Prometheus text format and parses strictly', async () => {
  const res = await fetch(`${lattice!.endpoint}/metrics`);
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusText(await res.text());
  for (const name of required) assert.ok(families.has(name), `${name} is exported`);
});

test('every metric Lattice and etcd 3.4 both export has the same type, help and label names', async () => {
  if (etcd === undefined) return skip(missingTools(['etcd']) ?? 'etcd missing');
  const [ours, theirs] = await Promise.all([scrape(`${lattice!.endpoint}/metrics`), scrape(`${etcd.endpoint}/metrics`)]);
  const shared = [...ours.keys()].filter((n) => theirs.has(n));
  assert.ok(shared.length >= 40, `${shared.length} metrics in common`);
  const differences: string[] = [];
  for (const name of shared) {
    const a = ours.get(name)!;
    const b = theirs.get(name)!;
    if (a.type !== b.type) differences.push(`${name}: type ${a.type}, etcd ${b.type}`);
    if (a.help !== b.help) differences.push(`${name}: help ${JSON.stringify(a.help)}, etcd ${JSON.stringify(b.help)}`);
    const [la, lb] = [labelNamesOf(a), labelNamesOf(b)];
    // a labelled vector has no series in etcd until something is counted: compare when both have some
    if (la.length > 0 && lb.length > 0 && la.join() !== lb.join()) differences.push(`${name}: labels ${la.join()}, etcd ${lb.join()}`);
  }
  assert.equal(differences, []);
  // every etcd metric the issue names, which etcd shows in a single member, is one Lattice has
  const etcdOnly = required.filter((n) => theirs.has(n) && !ours.has(n));
  assert.equal(etcdOnly, []);
});

test('grpc_server_* label every KV method as go-grpc-prometheus does, zeros included', async () => {
  const families = await scrape(`${lattice!.endpoint}/metrics`);
  const handled = families.get('grpc_server_handled_total')!;
  const compactNotFound = handled.samples.find((s) => s.labels['grpc_method'] === 'Compact' && s.labels['grpc_code'] === 'NotFound');
  assert.equal(compactNotFound?.labels, { grpc_type: 'unary', grpc_service: 'etcdserverpb.KV', grpc_method: 'Compact', grpc_code: 'NotFound' });
  const watch = families.get('grpc_server_started_total')!.samples.find((s) => s.labels['grpc_method'] === 'Watch');
  assert.is(watch?.labels['grpc_type'], 'bidi_stream');
});

test('a put moves etcd_mvcc_put_total, the OK Put count and the revision by one', async () => {
  const url = `${lattice!.endpoint}/metrics`;
  const okPut = { grpc_method: 'Put', grpc_code: 'OK' };
  const before = await scrape(url);
  await ctl(lattice!.endpoint, ['put', 'moved', 'v']);
  const after = await scrape(url);
  const delta = (name: string, labels: Record<string, string> = {}): number => (sampleValue(after, name, labels) ?? NaN) - (sampleValue(before, name, labels) ?? NaN);
  assert.is(delta('etcd_mvcc_put_total'), 1);
  assert.is(delta('grpc_server_handled_total', okPut), 1);
  assert.is(delta('grpc_server_started_total', { grpc_method: 'Put' }), 1);
  assert.is(delta('grpc_server_handling_seconds_count', { grpc_method: 'Put' }), 1);
  assert.is(delta('etcd_debugging_mvcc_current_revision'), 1);
  assert.is(delta('lattice_revision'), 1);
  assert.is(delta('etcd_debugging_mvcc_keys_total'), 1);
  assert.ok(delta('etcd_server_proposals_applied_total') >= 1);
  assert.ok(delta('etcd_disk_wal_fsync_duration_seconds_count') >= 1);
  // The engine takes applied state in batches a few milliseconds later (src/store/persist-queue.ts).
  let commits = delta('etcd_disk_backend_commit_duration_seconds_count');
  for (let i = 0; i < 50 && !(commits >= 1); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    commits = (sampleValue(await scrape(url), 'etcd_disk_backend_commit_duration_seconds_count') ?? NaN) - (sampleValue(before, 'etcd_disk_backend_commit_duration_seconds_count') ?? NaN);
  }
  assert.ok(commits >= 1, `backend commits after the put: ${commits}`);
  assert.is(sampleValue(after, 'etcd_server_has_leader'), 1);
  assert.is(sampleValue(after, 'etcd_server_is_leader'), 1);
  assert.is(sampleValue(after, 'etcd_server_leader_changes_seen_total'), 1);
  assert.is(sampleValue(after, 'etcd_debugging_mvcc_compact_revision'), 3);
  assert.is(sampleValue(after, 'lattice_lease_table_leases'), 1);
});

test('the load leaves the same mvcc counts on Lattice as on etcd', async () => {
  if (etcd === undefined) return skip(missingTools(['etcd']) ?? 'etcd missing');
  // both saw the same load before the tests above; the put test added one put on Lattice only
  const [ours, theirs] = await Promise.all([scrape(`${lattice!.endpoint}/metrics`), scrape(`${etcd.endpoint}/metrics`)]);
  assert.is(sampleValue(ours, 'etcd_mvcc_put_total'), (sampleValue(theirs, 'etcd_mvcc_put_total') ?? NaN) + 1);
  assert.is(sampleValue(ours, 'etcd_mvcc_delete_total'), sampleValue(theirs, 'etcd_mvcc_delete_total'));
  assert.is(sampleValue(ours, 'etcd_mvcc_txn_total'), sampleValue(theirs, 'etcd_mvcc_txn_total'));
  assert.is(sampleValue(ours, 'etcd_debugging_mvcc_keys_total'), (sampleValue(theirs, 'etcd_debugging_mvcc_keys_total') ?? NaN) + 1);
});

test('--listen-metrics-urls serves /metrics, /health, /livez and /readyz, and nothing else', async () => {
  const families = await scrape(`${metricsUrl}/metrics`);
  assert.ok(families.has('etcd_server_has_leader'));
  for (const [path, body] of [
    ['/health', '{"health":"true"}'],
    ['/health?serializable=true', '{"health":"true"}'],
    ['/livez', 'ok\n'],
    ['/readyz', 'ok\n'],
  ] as const) {
    const res = await fetch(`${metricsUrl}${path}`);
    assert.is(res.status, 200, path);
    assert.is(await res.text(), body, path);
  }
  assert.is((await fetch(`${metricsUrl}/v3/kv/range`, { method: 'POST', body: '{}' })).status, 404);
  assert.is((await fetch(`${lattice!.endpoint}/readyz`)).status, 200);
  assert.is((await fetch(`${lattice!.endpoint}/livez`)).status, 200);
});

test('an expired lease counts in etcd_debugging_server_lease_expired_total and leaves lattice_lease_table_leases', async () => {
  const url = `${lattice!.endpoint}/metrics`;
  const before = await scrape(url);
  await ctl(lattice!.endpoint, ['lease', 'grant', '1']);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const now = await scrape(url);
    if (sampleValue(now, 'etcd_debugging_server_lease_expired_total') === (sampleValue(before, 'etcd_debugging_server_lease_expired_total') ?? NaN) + 1) {
      assert.is(sampleValue(now, 'lattice_lease_table_leases'), sampleValue(before, 'lattice_lease_table_leases'));
      break;
    }
    if (Date.now() > deadline) assert.unreachable('the lease did not expire within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

test('the lines etcd users grep for are logged as zap-style JSON, to stdout and to a file alike', async () => {
  const fileLines = readFileSync(join(logDir, 'lattice.log'), 'utf8').split('\n').filter((l) => l !== '');
  const records = fileLines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const r of records) assert.equal(Object.keys(r).slice(0, 4), ['level', 'ts', 'caller', 'msg']);
  const messages = records.map((r) => String(r['msg']));
  for (const wanted of [
    'starting an etcd server',
    'became leader',
    'published local member to cluster through raft',
    'ready to serve client requests',
    'serving client traffic insecurely; this is strongly discouraged!',
    'serving metrics',
    'finished scheduled compaction',
  ]) {
    assert.ok(messages.includes(wanted), wanted);
  }
  assert.is(records.find((r) => r['msg'] === 'finished scheduled compaction')?.['compact-revision'], 3);
  // stdout carries the same lines (the process helper reads them there)
  assert.ok(lattice!.process.output().includes('"msg":"serving metrics"'));
});

test.run();
