// Differential test of the Watch API: the same scripted steps (watch-steps.json,
// run by test/interop/go/watchscript over raw gRPC Watch streams and clientv3's
// Watcher) against a fresh real etcd and a fresh Lattice; every step's
// normalised responses must be identical.
import * as assert from 'uvu/assert';
import { startEtcd } from '../helpers/etcd-server.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { assertNoDifferences, stepDifferences } from '../helpers/step-diff.js';
import { parseWatchStepLine, runWatchScript, watchStepCount } from '../helpers/watchscript.js';

/** Against etcd the script takes ~2 s; against a server that leaves responses out, the driver caps its waits near 60 s. */
const scriptTimeoutMs = 150_000;

const stepCount = watchStepCount();
const skipReason = missingTools(['etcd', 'go']);

const differences = (etcdLines: string[], latticeLines: string[]): string[] =>
  stepDifferences(etcdLines, latticeLines, (line) => parseWatchStepLine(line).name);

const determinism = serverSuite(
  'watch steps on real etcd',
  async () => {
    const [first, second] = await startBoth(() => startEtcd('first'), () => startEtcd('second'));
    return { first, second, stop: () => stopAll(first, second) };
  },
  skipReason,
);

determinism.it(
  'the watch steps give one line per step and identical output on two fresh etcd servers (collection is deterministic)',
  async ({ first, second }) => {
    const [a, b] = await Promise.all([runWatchScript(first.endpoint), runWatchScript(second.endpoint)]);
    assert.is(a.length, stepCount);
    const report = differences(a, b);
    assert.ok(report.length === 0, `etcd differs from itself:\n${report.join('\n')}`);
    const missing = a.filter((line) => {
      const result = parseWatchStepLine(line).result as { missing?: number; stream_error?: unknown } | undefined;
      return result?.missing !== undefined || result?.stream_error !== undefined;
    });
    assert.ok(missing.length === 0, `etcd left expected responses out (the steps expect too much):\n${missing.join('\n')}`);
  },
  scriptTimeoutMs,
);

determinism.run();

for (const engine of engines) {
  const differential = serverSuite(
    `watch differential (${engine})`,
    async () => {
      const [etcd, lattice] = await startBoth(() => startEtcd(), () => startLattice(engine));
      return { etcd, lattice, stop: () => stopAll(etcd, lattice) };
    },
    skipReason,
  );

  differential.it(
    `every Watch step on Lattice --engine ${engine} gives exactly etcd's responses`,
    async ({ etcd, lattice }) => {
      const [expected, actual] = await Promise.all([runWatchScript(etcd.endpoint), runWatchScript(lattice.endpoint)]);
      const report = differences(expected, actual);
      assertNoDifferences(report, expected.length, `engine ${engine}`);
    },
    scriptTimeoutMs,
  );

  differential.run();
}
