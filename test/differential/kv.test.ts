// Differential test of the KV API: the same scripted clientv3 steps
// (kv-steps.json, run by test/interop/go/kvscript) against a fresh real etcd
// and a fresh Lattice; every step's normalised result must be identical.
import * as assert from 'uvu/assert';
import { startEtcd } from '../helpers/etcd-server.js';
import { runKvScript, parseStepLine, kvStepsFile } from '../helpers/kvscript.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { readFileSync } from 'node:fs';

/** Differences printed in full before the rest are only counted. */
const maxReportedDifferences = 25;
const scriptTimeoutMs = 180_000;

const stepCount = (JSON.parse(readFileSync(kvStepsFile, 'utf8')) as unknown[]).length;
const skipReason = missingTools(['etcd', 'go']);

function differences(etcdLines: string[], latticeLines: string[]): string[] {
  const report: string[] = [];
  const length = Math.max(etcdLines.length, latticeLines.length);
  for (let i = 0; i < length; i++) {
    const expected = etcdLines[i] ?? '(no line)';
    const actual = latticeLines[i] ?? '(no line)';
    if (expected === actual) continue;
    const name = etcdLines[i] !== undefined ? parseStepLine(expected).name : `step ${i}`;
    report.push(`step ${i}: ${name}\n    etcd:    ${expected}\n    lattice: ${actual}`);
  }
  return report;
}

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
      if (report.length > 0) {
        const shown = report.slice(0, maxReportedDifferences).join('\n');
        const more = report.length > maxReportedDifferences ? `\n... and ${report.length - maxReportedDifferences} more` : '';
        console.log(`\n${report.length} of ${expected.length} steps differ (engine ${engine}):\n${shown}${more}\n`);
        assert.unreachable(`${report.length} of ${expected.length} steps differ from etcd (listed above)`);
      }
    },
    scriptTimeoutMs,
  );

  differential.run();
}
