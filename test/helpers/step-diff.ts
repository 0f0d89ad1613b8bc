// Line-by-line comparison of two scripted runs (one output line per step), for the differential tests.
import * as assert from 'uvu/assert';

/** Differences printed in full before the rest are only counted. */
const maxReportedDifferences = 25;

/** One entry per step whose lines differ, naming the step (nameOf reads it from etcd's line). */
export function stepDifferences(etcdLines: readonly string[], latticeLines: readonly string[], nameOf: (line: string) => string): string[] {
  const report: string[] = [];
  const length = Math.max(etcdLines.length, latticeLines.length);
  for (let i = 0; i < length; i++) {
    const expected = etcdLines[i] ?? '(no line)';
    const actual = latticeLines[i] ?? '(no line)';
    if (expected === actual) continue;
    const name = etcdLines[i] !== undefined ? nameOf(expected) : `step ${i}`;
    report.push(`step ${i}: ${name}\n    etcd:    ${expected}\n    lattice: ${actual}`);
  }
  return report;
}

/** Fails the test when report is not empty, printing the first differences. */
export function assertNoDifferences(report: readonly string[], steps: number, what: string): void {
  if (report.length === 0) return;
  const shown = report.slice(0, maxReportedDifferences).join('\n');
  const more = report.length > maxReportedDifferences ? `\n... and ${report.length - maxReportedDifferences} more` : '';
  console.log(`\n${report.length} of ${steps} steps differ (${what}):\n${shown}${more}\n`);
  assert.unreachable(`${report.length} of ${steps} steps differ from etcd (listed above)`);
}
