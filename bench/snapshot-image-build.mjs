// The image build of a save alone (no server, no client), timed in-process: a store of N records
// (256-byte values, as bench/snapshot.mjs loads them) written straight into an engine, then R saves
// (takeEtcdSnapshot, then every chunk of the image read with its SHA-256) and R whole-store hashes.
// CPU time is the process's user+system time over each step (RocksDB's reads on its own threads
// included); wall time is noisy on a shared machine. build: the image written to its temporary file;
// save: build plus reading it back with its SHA-256; hash: Maintenance.Hash's whole-store scan.
// Usage: node bench/snapshot-image-build.mjs [keys=100000] [engine=rocksdb] [repeats=5] [dist=./dist]
// (the dist argument lets one script time two builds: an A/B of a change).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const keys = Number(process.argv[2] ?? 100_000);
const engineName = process.argv[3] ?? 'rocksdb';
const repeats = Number(process.argv[4] ?? 5);
const dist = resolve(process.argv[5] ?? new URL('../dist', import.meta.url).pathname);
const load = (path) => import(pathToFileURL(join(dist, path)).href);

const { openEngine } = await load('src/engines/open-engine.js');
const { takeEtcdSnapshot, ImageSlots } = await load('src/snapshot/snapshot-export.js');
const { hashStore } = await load('src/maintenance/store-hash.js');
const { encodeRecord } = await load('src/mvcc/kv-record.js');
const { recordKey, APPLIED_KEY, encodeApplied } = await load('src/store/storage-keys.js');

const root = mkdtempSync(join(tmpdir(), 'image-build-'));
const engine = await openEngine(engineName, join(root, 'engine'));
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

const cpuMs = (before) => {
  const d = process.cpuUsage(before);
  return (d.user + d.system) / 1000;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = { build: { cpu: [], wall: [] }, save: { cpu: [], wall: [] }, hash: { cpu: [], wall: [] } };
let bytes = 0;
for (let r = 0; r < repeats; r++) {
  let cpu = process.cpuUsage();
  let wall = performance.now();
  const image = await takeEtcdSnapshot({ engine, members: () => [], clusterVersion: '3.4.0', tempDir: root, appliedRevision: () => 0, slots: new ImageSlots(1) });
  rows.build.cpu.push(cpuMs(cpu));
  rows.build.wall.push(performance.now() - wall);
  bytes = 0;
  for await (const chunk of image.chunks()) bytes += chunk.length;
  rows.save.cpu.push(cpuMs(cpu));
  rows.save.wall.push(performance.now() - wall);
  cpu = process.cpuUsage();
  wall = performance.now();
  await hashStore(engine);
  rows.hash.cpu.push(cpuMs(cpu));
  rows.hash.wall.push(performance.now() - wall);
}
await engine.close();
rmSync(root, { recursive: true, force: true });
console.log(`${keys} keys, ${engineName}, ${dist}: image ${(bytes / 1e6).toFixed(1)} MB, medians of ${repeats}, load average ${loadavg()[0].toFixed(1)}`);
for (const [step, { cpu, wall }] of Object.entries(rows)) {
  console.log(`  ${step.padEnd(6)} cpu ${median(cpu).toFixed(0).padStart(5)} ms (min ${Math.min(...cpu).toFixed(0).padStart(4)})  wall ${median(wall).toFixed(0).padStart(5)} ms (min ${Math.min(...wall).toFixed(0).padStart(4)})`);
}
