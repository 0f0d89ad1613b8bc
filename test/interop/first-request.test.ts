// Values from 1 KiB to 1.5 MiB sent as the first request of fresh connections, by etcdctl, Go
// clientv3 and the npm etcd3 client: 1,000 calls, every one must succeed. The sizes crowd around
// 64 KiB, the initial HTTP/2 flow-control window: a first request larger than that used to fail
// with `transport is closing` in 2-3 % of calls, when grpc-go sent the request and a full window
// of body before its ACK of the server preface (see src/adapters/http2/http2-path.ts).
// Run: npx tsc -p tsconfig.json; node dist/test/interop/first-request.test.js
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import { etcdctl } from '../helpers/etcdctl.js';
import { buildGoProgram } from '../helpers/go-build.js';
import { startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { runCommand } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

/** etcd's default --max-request-bytes, less room for the rest of the PutRequest. */
const largestValueBytes = 1.5 * 1024 * 1024 - 256;
/** One cycle of value sizes: most just below, at and above 64 KiB, a few large ones. */
const valueSizes: readonly number[] = [
  1024, 16_384, 60_000, 65_000, 65_535, 65_536, 66_000, 68_000, 70_000, 72_000,
  75_000, 80_000, 100_000, 131_072, 262_144, 70_000, 524_288, 80_000, 1024 * 1024, largestValueBytes,
];
const etcdctlCalls = 250;
const goCalls = 500;
const npmCalls = 250;
/** History is compacted after this many puts, so 1,000 large values do not pile up in the server. */
const callsPerCompaction = valueSizes.length;
const goBatchTimeoutMs = 60_000;
/** Each client's whole run; about a tenth of this on a quiet machine. */
const clientRunTimeoutMs = 180_000;

interface Failure {
  call: number;
  size: number;
  error: string;
}

const sizeOfCall = (call: number): number => valueSizes[call % valueSizes.length]!;

/** Compacts away everything before the latest revision, through a connection of its own. */
async function compactAll(endpoint: string): Promise<void> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    const { header } = await client.get('first/none').exec();
    await client.kv.compact({ revision: header.revision, physical: true });
  } finally {
    client.close();
  }
}

/** Asserts that key holds a value of the expected size (what the last call wrote). */
async function assertStored(endpoint: string, key: string, bytes: number): Promise<void> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    const value = await client.get(key).buffer();
    assert.is(value?.length, bytes, `${key} holds the last value written`);
  } finally {
    client.close();
  }
}

function assertNoFailures(client: string, calls: number, failures: Failure[]): void {
  const shown = failures.slice(0, 5).map((f) => `call ${f.call} (${f.size} bytes): ${f.error}`);
  assert.equal(shown, [], `${client}: ${failures.length} of ${calls} first requests failed`);
}

const start = (): Promise<LatticeServer> => startLattice('memory');

const ctl = serverSuite('first requests from etcdctl', start, missingTools(['etcdctl']));

ctl.it(`${etcdctlCalls} etcdctl put runs, value on stdin, alternating host:port and http:// endpoints`, async (server) => {
  const hostPort = server.endpoint.replace(/^http:\/\//, '');
  const failures: Failure[] = [];
  for (let call = 0; call < etcdctlCalls; call++) {
    const size = sizeOfCall(call);
    const result = await etcdctl(call % 2 === 0 ? hostPort : server.endpoint, ['put', 'first/etcdctl'], 'v'.repeat(size));
    if (result.code !== 0 || result.stdout !== 'OK\n') failures.push({ call, size, error: result.stderr.trim().split('\n').pop() ?? '' });
    if ((call + 1) % callsPerCompaction === 0) await compactAll(server.endpoint);
  }
  assertNoFailures('etcdctl', etcdctlCalls, failures);
  await assertStored(server.endpoint, 'first/etcdctl', sizeOfCall(etcdctlCalls - 1));
}, clientRunTimeoutMs);

ctl.run();

const go = serverSuite('first requests from Go clientv3', start, missingTools(['go']));

go.it(`${goCalls} clientv3 clients, one Put each`, async (server) => {
  const binary = await buildGoProgram('freshconn');
  const failures: Failure[] = [];
  let calls = 0;
  // one batch of fresh clients per process, then a compaction
  while (calls < goCalls) {
    const result = await runCommand(
      binary,
      ['--endpoints', server.endpoint, '--op', 'put', '--key', 'first/go', '--sizes', valueSizes.join(',')],
      { timeoutMs: goBatchTimeoutMs },
    );
    assert.is(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n').filter((line) => line.length > 0);
    assert.is(lines.length, valueSizes.length, 'one line per call');
    for (const line of lines) {
      const { size, error } = JSON.parse(line) as { size: number; error?: string };
      if (error !== undefined) failures.push({ call: calls, size, error });
      calls++;
    }
    await compactAll(server.endpoint);
  }
  assertNoFailures('Go clientv3', goCalls, failures);
  await assertStored(server.endpoint, 'first/go', valueSizes[valueSizes.length - 1]!);
}, clientRunTimeoutMs);

go.run();

const npm = serverSuite('first requests from the npm etcd3 client', start);

npm.it(`${npmCalls} etcd3 clients, one put each`, async (server) => {
  const failures: Failure[] = [];
  for (let call = 0; call < npmCalls; call++) {
    const size = sizeOfCall(call);
    const client = new Etcd3({ hosts: server.endpoint });
    try {
      await client.put('first/npm').value(Buffer.alloc(size, 0x76));
    } catch (err) {
      failures.push({ call, size, error: err instanceof Error ? err.message : String(err) });
    } finally {
      client.close();
    }
    if ((call + 1) % callsPerCompaction === 0) await compactAll(server.endpoint);
  }
  assertNoFailures('npm etcd3', npmCalls, failures);
  await assertStored(server.endpoint, 'first/npm', sizeOfCall(npmCalls - 1));
}, clientRunTimeoutMs);

npm.run();
