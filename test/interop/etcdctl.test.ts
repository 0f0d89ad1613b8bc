// etcdctl (3.4) against a server, as users run it. Every case states what
// etcd 3.4 prints; against Lattice each case also runs on a reference etcd
// fed the same commands, and deterministic outputs must be byte-identical.
import * as assert from 'uvu/assert';
import { errorLines, etcdctl, parseJsonOutput, rawNumberField } from '../helpers/etcdctl.js';
import { startEtcd } from '../helpers/etcd-server.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import type { CommandResult } from '../helpers/processes.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

interface Target {
  endpoint: string;
}

interface Case {
  name: string;
  args: string[];
  /** Fed to stdin (interactive txn). */
  input?: string;
  /** Exact stdout etcd prints. */
  stdout?: string;
  /** Exact `Error:` line etcd prints; implies exit code 1. */
  error?: string;
  /** Parsed JSON output (per-cluster IDs removed) must equal this. */
  json?: unknown;
  /** Free-form check for outputs that are not deterministic (IDs, timings, sizes). */
  check?: (result: CommandResult, target: Target) => void;
  /** Compare exit code, stdout and errors with the reference etcd (default: true unless check is set). */
  sameAsEtcd?: boolean;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

const healthLine = (endpoint: string) =>
  new RegExp(`^${endpoint.replace(/[.]/g, '\\.')} is healthy: successfully committed proposal: took = [0-9.]+(ns|µs|ms|s)$`);

/** Stateful: each case runs after the previous ones on the same fresh server. */
const cases: Case[] = [
  { name: 'put prints OK', args: ['put', 'k1', 'v1'], stdout: 'OK\n' },
  { name: 'get prints key and value lines', args: ['get', 'k1'], stdout: 'k1\nv1\n' },
  { name: 'put --prev-kv prints OK and the previous pair', args: ['put', 'k1', 'v2', '--prev-kv'], stdout: 'OK\nk1\nv1\n' },
  {
    name: 'get -w json prints the header revision and base64 kvs',
    args: ['get', 'k1', '-w', 'json'],
    json: { header: { revision: 3 }, kvs: [{ key: b64('k1'), create_revision: 2, mod_revision: 3, version: 2, value: b64('v2') }], count: 1 },
  },
  { name: 'put p/a', args: ['put', 'p/a', '1'], stdout: 'OK\n' },
  { name: 'put p/b', args: ['put', 'p/b', '2'], stdout: 'OK\n' },
  { name: 'get --prefix lists keys in order', args: ['get', 'p/', '--prefix'], stdout: 'p/a\n1\np/b\n2\n' },
  { name: 'get --keys-only prints keys with empty lines', args: ['get', 'p/', '--prefix', '--keys-only'], stdout: 'p/a\n\np/b\n\n' },
  { name: 'get --print-value-only prints values', args: ['get', 'p/', '--prefix', '--print-value-only'], stdout: '1\n2\n' },
  {
    name: 'get --limit 1 -w json reports more and the full count',
    args: ['get', 'p/', '--prefix', '--limit', '1', '-w', 'json'],
    json: { header: { revision: 5 }, kvs: [{ key: b64('p/a'), create_revision: 4, mod_revision: 4, version: 1, value: b64('1') }], more: true, count: 2 },
  },
  {
    name: 'get --sort-by=MODIFY --order=DESCEND',
    args: ['get', 'p/', '--prefix', '--sort-by=MODIFY', '--order=DESCEND'],
    stdout: 'p/b\n2\np/a\n1\n',
  },
  { name: 'get --rev reads an old value', args: ['get', 'k1', '--rev=2'], stdout: 'k1\nv1\n' },
  { name: 'get --from-key', args: ['get', 'p/b', '--from-key'], stdout: 'p/b\n2\n' },
  { name: 'get of a missing key prints nothing', args: ['get', 'missing'], stdout: '' },
  { name: 'put --ignore-value on a missing key fails', args: ['put', 'nokey', '--ignore-value'], error: 'Error: etcdserver: key not found' },
  { name: 'put of an empty key fails', args: ['put', '', 'v'], error: 'Error: etcdserver: key is not provided' },
  { name: 'del of a missing key prints 0', args: ['del', 'nothing'], stdout: '0\n' },
  { name: 'del prints the number deleted', args: ['del', 'k1'], stdout: '1\n' },
  { name: 'del --prefix --prev-kv prints count and pairs', args: ['del', 'p/', '--prefix', '--prev-kv'], stdout: '2\np/a\n1\np/b\n2\n' },
  {
    name: 'txn from stdin takes the failure branch',
    args: ['txn'],
    input: 'value("k2") = "x"\n\nput k2 y\n\nput k2 z\n\n',
    stdout: 'FAILURE\n\nOK\n',
  },
  {
    name: 'txn from stdin takes the success branch',
    args: ['txn'],
    input: 'value("k2") = "z"\nversion("k2") = "1"\n\nput k2 y\nget k2\n\nput k2 never\n\n',
    stdout: 'SUCCESS\n\nOK\n\nk2\ny\n',
  },
  {
    name: 'txn --interactive prompts and prints the branch',
    args: ['txn', '--interactive'],
    input: 'mod("k2") > "0"\n\nput k3 w\n\n\n',
    stdout: 'compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nSUCCESS\n\nOK\n',
  },
  {
    name: 'txn -w json prints nested responses',
    args: ['txn', '-w', 'json'],
    input: 'create("k3") = "10"\n\nget k3\n\ndel k3\n\n',
    json: {
      header: { revision: 10 },
      succeeded: true,
      responses: [{ Response: { ResponseRange: { header: { revision: 10 }, kvs: [{ key: b64('k3'), create_revision: 10, mod_revision: 10, version: 1, value: b64('w') }], count: 1 } } }],
    },
  },
  { name: 'compact prints the compacted revision', args: ['compact', '3'], stdout: 'compacted revision 3\n' },
  { name: 'compact at the same revision fails', args: ['compact', '3'], error: 'Error: etcdserver: mvcc: required revision has been compacted' },
  { name: 'compact at a future revision fails', args: ['compact', '1000'], error: 'Error: etcdserver: mvcc: required revision is a future revision' },
  { name: 'get below the compacted revision fails', args: ['get', 'k1', '--rev=2'], error: 'Error: etcdserver: mvcc: required revision has been compacted' },
  { name: 'compact --physical', args: ['compact', '5', '--physical'], stdout: 'compacted revision 5\n' },
  {
    name: 'endpoint status prints one line: endpoint, member id, 3.4 version, db size, leader, not learner, term and indexes',
    args: ['endpoint', 'status'],
    check: (result, target) => {
      assert.is(result.code, 0, result.stderr);
      const pattern = /^(\S+), ([0-9a-f]+), (3\.4\.\d+), \d+(\.\d+)? (B|kB|MB|GB), true, false, (\d+), (\d+), (\d+), $/;
      const match = pattern.exec(result.stdout.replace(/\n$/, ''));
      assert.ok(match, `unexpected endpoint status line: ${JSON.stringify(result.stdout)}`);
      assert.is(match[1], target.endpoint);
      assert.ok(Number(match[6]) >= 1, 'raft term >= 1');
    },
  },
  {
    name: 'endpoint status -w json: version 3.4.x, leader is the member itself, current revision',
    args: ['endpoint', 'status', '-w', 'json'],
    check: (result, target) => {
      assert.is(result.code, 0, result.stderr);
      const status = (parseJsonOutput(result.stdout) as { Endpoint: string; Status: { header: { revision: number }; version: string; dbSize: number; raftIndex: number; raftTerm: number } }[])[0];
      assert.ok(status, 'one status entry');
      assert.is(status.Endpoint, target.endpoint);
      assert.match(status.Status.version, /^3\.4\.\d+$/);
      assert.is(status.Status.header.revision, 10);
      assert.ok(status.Status.dbSize > 0, 'dbSize > 0');
      assert.ok(status.Status.raftIndex > 0 && status.Status.raftTerm > 0, 'raft index and term > 0');
      const member = rawNumberField(result.stdout, 'member_id');
      assert.ok(member !== null && member !== '0', 'member_id is set');
      assert.is(rawNumberField(result.stdout, 'leader'), member, 'a single member is its own leader');
      assert.ok((rawNumberField(result.stdout, 'cluster_id') ?? '0') !== '0', 'cluster_id is set');
    },
  },
  {
    name: 'endpoint health reports healthy on stderr',
    args: ['endpoint', 'health'],
    check: (result, target) => {
      assert.is(result.code, 0, result.stderr);
      const lines = result.stderr.split('\n').filter((line) => line.includes('is healthy'));
      assert.is(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', healthLine(target.endpoint));
    },
  },
  {
    name: 'endpoint health -w json',
    args: ['endpoint', 'health', '-w', 'json'],
    check: (result, target) => {
      assert.is(result.code, 0, result.stderr);
      const health = JSON.parse(result.stdout) as { endpoint: string; health: boolean; took: string }[];
      assert.is(health.length, 1);
      assert.is(health[0]?.endpoint, target.endpoint);
      assert.is(health[0]?.health, true);
      assert.match(health[0]?.took ?? '', /^[0-9.]+(ns|µs|ms|s)$/);
    },
  },
];

function checkExpectations(testCase: Case, result: CommandResult, target: Target): void {
  const context = `etcdctl ${testCase.args.join(' ')}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  if (testCase.error !== undefined) {
    assert.is(result.code, 1, context);
    assert.equal(errorLines(result.stderr), [testCase.error], context);
  } else if (testCase.check === undefined) {
    assert.is(result.code, 0, context);
  }
  if (testCase.stdout !== undefined) assert.fixture(result.stdout, testCase.stdout, context);
  if (testCase.json !== undefined) assert.equal(parseJsonOutput(result.stdout), testCase.json, context);
  testCase.check?.(result, target);
}

function comparable(result: CommandResult, json: boolean): unknown {
  return { code: result.code, stdout: json ? parseJsonOutput(result.stdout) : result.stdout, errors: errorLines(result.stderr) };
}

interface Fixture {
  target: Target;
  reference: Target | null;
  stop(): Promise<void>;
}

function defineSuite(name: string, start: () => Promise<Fixture>): void {
  const s = serverSuite(name, start, missingTools(['etcd', 'etcdctl']));
  for (const testCase of cases) {
    s.it(testCase.name, async ({ target, reference }) => {
      const result = await etcdctl(target.endpoint, testCase.args, testCase.input);
      const expected = reference ? await etcdctl(reference.endpoint, testCase.args, testCase.input) : null;
      if (expected && (testCase.sameAsEtcd ?? testCase.check === undefined)) {
        const json = testCase.json !== undefined;
        assert.equal(comparable(result, json), comparable(expected, json), `differs from etcd: etcdctl ${testCase.args.join(' ')}`);
      }
      checkExpectations(testCase, result, target);
    });
  }
  s.run();
}

defineSuite('etcdctl against real etcd', async () => {
  const etcd = await startEtcd();
  return { target: etcd, reference: null, stop: () => etcd.stop() };
});

for (const engine of engines) {
  defineSuite(`etcdctl against Lattice (${engine}), compared with etcd`, async () => {
    const [lattice, etcd] = await startBoth(() => startLattice(engine), () => startEtcd());
    return { target: lattice, reference: etcd, stop: () => stopAll(lattice, etcd) };
  });
}
