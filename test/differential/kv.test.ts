// Differential test of the KV API: the same scripted clientv3 steps
// (kv-steps.json, run by test/interop/go/kvscript) against a fresh real etcd
// and a fresh Lattice; every step's normalised result must be identical.
import * as assert from 'uvu/assert';
import { startEtcd } from '../helpers/etcd-server.js';
import { runKvScript, parseStepLine, kvStepsFile } from '../helpers/kvscript.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { assertNoDifferences, stepDifferences } from '../helpers/step-diff.js';
import { readFileSync } from 'node:fs';

const scriptTimeoutMs = 180_000;

const stepCount = (JSON.parse(readFileSync(kvStepsFile, 'utf8')) as unknown[]).length;
const skipReason = missingTools(['etcd', 'go']);

const differences = (etcdLines: string[], latticeLines: string[]): string[] =>
  stepDifferences(etcdLines, latticeLines, (line) => parseStepLine(line).name);

const determinism = serverSuite(
  'kv steps on real etcd',
  async () => {
    const [first, second] = await startBoth(() => startEtcd('first'), () => startEtcd('second'));
    return { first, second, stop: () => stopAll(first, second) };
  },
  skipReason,
);

determinism.it(
  'the steps give one line per step and identical output on two fresh etcd servers (normalisation is deterministic)',
  async ({ first, second }) => {
    const a = await runKvScript(first.endpoint);
    const b = await runKvScript(second.endpoint);
    assert.is(a.length, stepCount);
    const report = differences(a, b);
    assert.ok(report.length === 0, `etcd differs from itself:\n${report.join('\n')}`);
  },
  scriptTimeoutMs,
);

determinism.run();

for (const engine of engines) {
  const differential = serverSuite(
    `kv differential (${engine})`,
    async () => {
      const [etcd, lattice] = await startBoth(() => startEtcd(), () => startLattice(engine));
      return { etcd, lattice, stop: () => stopAll(etcd, lattice) };
    },
    skipReason,
  );

  differential.it(
    `every KV step on Lattice --engine ${engine} gives exactly etcd's result`,
    async ({ etcd, lattice }) => {
      const expected = await runKvScript(etcd.endpoint);
      const actual = await runKvScript(lattice.endpoint);
      const report = differences(expected, actual);
      assertNoDifferences(report, expected.length, `engine ${engine}`);
    },
    scriptTimeoutMs,
  );

  differential.run();
}
