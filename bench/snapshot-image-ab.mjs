// An A/B of the snapshot image build between two builds of Lattice, in one process: each build
// opens its own engine on the same generated store (N records of 256-byte values, as
// bench/snapshot.mjs loads them), then the two take turns, R saves each (takeEtcdSnapshot, then the
// image read back with its SHA-256) and R whole-store hashes each. Taking turns in one process keeps
// both under the same load on a shared machine; CPU time is the process's user+system time over the
// step (RocksDB's reads on its own threads included).
// Usage: node bench/snapshot-image-ab.mjs DIST_A DIST_B [keys=100000] [engine=rocksdb] [repeats=15]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [distA, distB] = [resolve(process.argv[2]), resolve(process.argv[3])];
const keys = Number(process.argv[4] ?? 100_000);
const engineName = process.argv[5] ?? 'rocksdb';
const repeats = Number(process.argv[6] ?? 15);
const root = mkdtempSync(join(tmpdir(), 'image-ab-'));

async function setUp(dist, label) {
  const load = (path) => import(pathToFileURL(join(dist, path)).href);
  const { openEngine } = await load('src/engines/open-engine.js');
  const { takeEtcdSnapshot, ImageSlots } = await load('src/snapshot/snapshot-export.js');
  const { hashStore } = await load('src/maintenance/store-hash.js');
  const { encodeRecord } = await load('src/mvcc/kv-record.js');
  const { recordKey, APPLIED_KEY, encodeApplied } = await load('src/store/storage-keys.js');
  const engine = await openEngine(engineName, join(root, label));
  const value = Buffer.alloc(256, 'v');
  for (let first = 0; first < keys; first += 1000) {
    const ops = [];
    for (let i = first; i < Math.min(first + 1000, keys); i++) {
      const rev = i + 2;
      const key = `key-${String(i).padStart(10, '0')}`;
      ops.push({ type: 'put', key: recordKey(rev, 0), value: encodeRecord({ key, value, createRevision: rev, modRevision: rev, sub: 0, version: 1, lease: 0n, tombstone: false }) });
    }
    await engine.write(ops, { sync: false });
  }
  await engine.write([{ type: 'put', key: APPLIED_KEY, value: encodeApplied({ index: keys + 1, revision: keys + 1 }) }], { sync: true });
  const tempDir = join(root, `${label}-tmp`);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(tempDir);
  return {
    label,
    engine,
    rows: { build: { cpu: [], wall: [] }, save: { cpu: [], wall: [] }, hash: { cpu: [], wall: [] } },
    save: async (row) => {
      let cpu = process.cpuUsage();
      let wall = performance.now();
      const image = await takeEtcdSnapshot({ engine, members: () => [], clusterVersion: '3.4.0', tempDir, appliedRevision: () => 0, slots: new ImageSlots(1) });
      record(row.build, cpu, wall);
      for await (const _ of image.chunks());
      record(row.save, cpu, wall);
      cpu = process.cpuUsage();
      wall = performance.now();
      await hashStore(engine);
      record(row.hash, cpu, wall);
    },
  };
}

function record(into, cpuBefore, wallBefore) {
  const d = process.cpuUsage(cpuBefore);
  into.cpu.push((d.user + d.system) / 1000);
  into.wall.push(performance.now() - wallBefore);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const a = await setUp(distA, 'a');
const b = await setUp(distB, 'b');
const loadStart = loadavg()[0];
for (let r = 0; r < repeats; r++) {
  for (const side of r % 2 === 0 ? [a, b] : [b, a]) await side.save(side.rows);
}
console.log(`${keys} keys, ${engineName}, ${repeats} turns each, load average ${loadStart.toFixed(1)} / ${loadavg()[0].toFixed(1)}`);
console.log('| step | A cpu ms (median / min) | B cpu ms (median / min) | A wall ms (median) | B wall ms (median) |');
console.log('|---|--:|--:|--:|--:|');
for (const step of ['build', 'save', 'hash']) {
  const [ra, rb] = [a.rows[step], b.rows[step]];
  console.log(`| ${step} | ${median(ra.cpu).toFixed(0)} / ${Math.min(...ra.cpu).toFixed(0)} | ${median(rb.cpu).toFixed(0)} / ${Math.min(...rb.cpu).toFixed(0)} | ${median(ra.wall).toFixed(0)} | ${median(rb.wall).toFixed(0)} |`);
}
console.log(`A: ${distA}\nB: ${distB}`);
await a.engine.close();
await b.engine.close();
rmSync(root, { recursive: true, force: true });
