// Differential test of Maintenance.HashKV: the same etcdctl writes against a fresh real etcd and a
// fresh Lattice (each engine), then `etcdctl endpoint hashkv --rev R -w json` at every revision
// must give the same hash, compact revision and header revision, or the same error.
import * as assert from 'uvu/assert';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { errorLines, etcdctl, parseJsonOutput } from '../helpers/etcdctl.js';
import { engines, startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

const skipReason = missingTools(['etcd', 'etcdctl']);
const stepsTimeoutMs = 120_000;

/** A txn that writes three changes in one revision (sub-revisions 0, 1, 2), one a delete. */
const txnInput = 'value("a") = "11"\n\nput e 5\ndel c\nput f 6\n\nput g 7\n\n';

/** Writes before the compaction: overwrites, deletes, a txn, a range delete; ends at revision 12. */
const writesBefore: string[][] = [
  ['put', 'a', '1'], // 2
  ['put', 'b', '2'], // 3
  ['put', 'a', '11'], // 4
  ['put', 'c', '3'], // 5
  ['put', 'd', '4'], // 6
  ['del', 'b'], // 7
  ['txn'], // 8: put e, del c, put f
  ['put', 'a', '12'], // 9
  ['put', 'g1', ''], // 10 (empty value: the field is left out of the stored KeyValue)
  ['put', 'g2', 'x'], // 11
  ['del', 'd'], // 12
];
const compactAt = 9;
/** Writes after the compaction; ends at revision 17. */
const writesAfter: string[][] = [
  ['put', 'h', '8'], // 13
  ['put', 'e', '55'], // 14
  ['del', 'g', '--prefix'], // 15: two tombstones
  ['put', 'b', 'again'], // 16
  ['del', 'f'], // 17
];
/** Deletes every key: Keep(rev) is then empty, and etcd stops skipping compacted revisions. */
const deleteAll = ['del', '', '--from-key']; // 18

interface Both {
  readonly etcd: EtcdServer;
  readonly lattice: LatticeServer;
}

async function run(endpoint: string, args: string[]): Promise<void> {
  const r = args[0] === 'txn' ? await etcdctl(endpoint, ['txn'], txnInput) : await etcdctl(endpoint, args);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} failed on ${endpoint}: ${r.stderr}`);
}

async function applyBoth(both: Both, steps: readonly string[][]): Promise<void> {
  for (const step of steps) {
    await run(both.etcd.endpoint, step);
    await run(both.lattice.endpoint, step);
  }
}

/** What `endpoint hashkv --rev rev` says, without the member's IDs: hash, compact revision, header revision, or the error. */
async function hashKv(endpoint: string, rev: number): Promise<string> {
  const r = await etcdctl(endpoint, ['endpoint', 'hashkv', '--rev', String(rev), '-w', 'json']);
  if (r.code !== 0) return `error ${errorLines(r.stderr).map((l) => l.replace(endpoint, '<endpoint>')).join(' | ')}`;
  const [entry] = parseJsonOutput(r.stdout) as { HashKV: { header: { revision: number }; hash: number; compact_revision: number } }[];
  if (entry === undefined) throw new Error(`no hashkv entry in ${r.stdout}`);
  const h = entry.HashKV;
  return `hash ${h.hash} compact_revision ${h.compact_revision} header.revision ${h.header.revision}`;
}

async function compareAt(both: Both, revs: readonly number[]): Promise<string[]> {
  const lines: string[] = [];
  for (const rev of revs) {
    const expected = await hashKv(both.etcd.endpoint, rev);
    const actual = await hashKv(both.lattice.endpoint, rev);
    assert.is(actual, expected, `hashkv --rev ${rev} (engine ${both.lattice.engine})`);
    lines.push(`rev ${rev}: ${expected}`);
  }
  return lines;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

for (const engine of engines) {
  const differential = serverSuite(
    `hashkv differential (${engine})`,
    async () => {
      const [etcd, lattice] = await startBoth(() => startEtcd(), () => startLattice(engine));
      return { etcd, lattice, stop: () => stopAll(etcd, lattice) };
    },
    skipReason,
  );

  differential.it(
    'on a fresh store hashkv at revision 0 and 1 equals etcd, and revision 2 is a future revision',
    async (both) => {
      await compareAt(both, [0, 1, 2]);
    },
    stepsTimeoutMs,
  );

  differential.it(
    'after puts, overwrites, deletes and a txn hashkv at every revision equals etcd',
    async (both) => {
      await applyBoth(both, writesBefore);
      await compareAt(both, [0, ...range(1, 13)]);
    },
    stepsTimeoutMs,
  );

  differential.it(
    'after a compaction hashkv equals etcd: compacted at and below it, same hash above it and at 0',
    async (both) => {
      await applyBoth(both, [['compact', String(compactAt), '--physical']]);
      await compareAt(both, [0, 1, compactAt - 1, compactAt, ...range(compactAt + 1, 13)]);
    },
    stepsTimeoutMs,
  );

  differential.it(
    'after more writes hashkv at every revision above the compaction equals etcd',
    async (both) => {
      await applyBoth(both, writesAfter);
      await compareAt(both, [0, compactAt, ...range(compactAt + 1, 18)]);
    },
    stepsTimeoutMs,
  );

  differential.it(
    'with every key deleted (Keep empty) hashkv equals etcd, which then hashes compacted revisions too',
    async (both) => {
      await applyBoth(both, [deleteAll]);
      await compareAt(both, [0, ...range(compactAt + 1, 19)]);
    },
    stepsTimeoutMs,
  );

  differential.run();
}
