#!/usr/bin/env node
// Get latency during a defragment, Lattice vs etcd 3.4 (etcd blocks every read and write while it
// defragments, etcd issue 9222). For each server: start it fresh, write SIZE_MB of incompressible
// values under distinct keys, delete every other key and compact (so there is space to reclaim),
// then run a concurrent get load and, once it is steady, call Defragment. Reports p50/p99/max get
// latency of the gets that overlapped the defragment, the longest gap between completed gets, the
// defragment's duration and dbSize before/after.
//
// Usage: node bench/defrag.mjs            (build first: npx tsc -p .)
// Env:   SIZE_MB (default 256)  VALUE_KB (default 8)  GETTERS (default 16)
//        SERVERS (default "etcd lattice-rocksdb lattice-memory")  OUT (default bench/results/<time>-defrag)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const sizeMb = Number(process.env.SIZE_MB ?? 256);
const valueBytes = Number(process.env.VALUE_KB ?? 8) * 1024;
const getters = Number(process.env.GETTERS ?? 16);
const servers = (process.env.SERVERS ?? 'etcd lattice-rocksdb lattice-memory').split(/\s+/).filter(Boolean);
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
const out = process.env.OUT ?? join(repo, 'bench', 'results', `${stamp}-defrag`);
/** Puts in flight while filling. */
const fillConcurrency = 64;
/** Steady load before and after the defragment, in ms. */
const settleMs = 1000;
/** A bench run gives up on a server after this long. */
const maxDefragMs = 10 * 60 * 1000;

const log = (...a) => console.error(`[defrag ${new Date().toISOString().slice(11, 19)}]`, ...a);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function start(kind, dir, logFile) {
  const [client, peer] = [await freePort(), await freePort()];
  const c = `http://127.0.0.1:${client}`;
  const p = `http://127.0.0.1:${peer}`;
  const flags = ['--name', 'bench', '--data-dir', join(dir, 'data'), '--listen-client-urls', c, '--advertise-client-urls', c, '--listen-peer-urls', p,
    '--initial-advertise-peer-urls', p, '--initial-cluster', `bench=${p}`, '--quota-backend-bytes', String(8 * 1024 ** 3)];
  const fd = openSync(logFile, 'a');
  const child = kind === 'etcd'
    ? spawn('etcd', flags, { stdio: ['ignore', fd, fd] })
    : spawn(process.execPath, [join(repo, 'bin', 'lattice.js'), ...flags, '--engine', kind.replace('lattice-', '')], { stdio: ['ignore', fd, fd] });
  const client3 = new Etcd3({ hosts: c });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await client3.get('probe');
      break;
    } catch (e) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${kind} did not start: ${e}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { child, client: client3, endpoint: c };
}

async function dbSize(client) {
  const st = await client.maintenance.status();
  return Number(st.dbSize);
}

async function fill(client, keys) {
  let next = 0;
  const worker = async () => {
    while (next < keys) {
      const i = next++;
      await client.put(`key/${String(i).padStart(8, '0')}`).value(randomBytes(valueBytes));
    }
  };
  await Promise.all(Array.from({ length: fillConcurrency }, worker));
  let del = 0;
  const deleter = async () => {
    while (del < keys) {
      const i = del;
      del += 2;
      await client.delete().key(`key/${String(i).padStart(8, '0')}`);
    }
  };
  await Promise.all(Array.from({ length: fillConcurrency }, deleter));
  const st = await client.maintenance.status();
  await client.kv.compact({ revision: st.header.revision, physical: true });
}

const quantile = (sorted, q) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function measure(kind) {
  const dir = mkdtempSync(join(tmpdir(), `defrag-bench-${kind}-`));
  const server = await start(kind, dir, join(out, `${kind}.log`));
  try {
    const keys = Math.ceil((sizeMb * 1024 * 1024) / valueBytes);
    const t0 = Date.now();
    await fill(server.client, keys);
    const fillS = (Date.now() - t0) / 1000;
    const before = await dbSize(server.client);
    log(`${kind}: wrote ${keys} keys of ${valueBytes} B in ${fillS.toFixed(1)} s, deleted half and compacted; dbSize ${(before / 2 ** 20).toFixed(0)} MiB`);
    // Separate clients for the load, so the defragment call does not share their connection.
    const loadClients = Array.from({ length: 4 }, () => new Etcd3({ hosts: server.endpoint }));
    const samples = []; // [startMs, endMs]
    let stop = false;
    let lastDone = performance.now();
    let maxGap = 0;
    let window = null;
    const getter = async (g) => {
      const c = loadClients[g % loadClients.length];
      while (!stop) {
        const i = 1 + 2 * Math.floor(Math.random() * (keys / 2 - 1));
        const s = performance.now();
        await c.get(`key/${String(i).padStart(8, '0')}`).buffer();
        const e = performance.now();
        samples.push([s, e]);
        if (window !== null && e >= window[0] && e - lastDone > maxGap) maxGap = e - lastDone;
        lastDone = e;
      }
    };
    const load = Promise.all(Array.from({ length: getters }, (_, g) => getter(g)));
    await new Promise((r) => setTimeout(r, settleMs));
    const d0 = performance.now();
    window = [d0, Infinity];
    await Promise.race([server.client.maintenance.defragment(), new Promise((_, rej) => setTimeout(() => rej(new Error('defragment took too long')), maxDefragMs))]);
    const d1 = performance.now();
    window[1] = d1;
    await new Promise((r) => setTimeout(r, settleMs));
    stop = true;
    await load;
    const after = await dbSize(server.client);
    for (const c of loadClients) c.close();
    const during = samples.filter(([s, e]) => e >= d0 && s <= d1).map(([s, e]) => e - s).sort((a, b) => a - b);
    const baseline = samples.filter(([, e]) => e < d0).map(([s, e]) => e - s).sort((a, b) => a - b);
    const row = {
      server: kind, sizeMb, keys, valueBytes, getters, fillS,
      dbSizeBeforeMiB: +(before / 2 ** 20).toFixed(1), dbSizeAfterMiB: +(after / 2 ** 20).toFixed(1),
      defragMs: Math.round(d1 - d0), getsDuring: during.length,
      p50Ms: +quantile(during, 0.5).toFixed(1), p99Ms: +quantile(during, 0.99).toFixed(1), maxMs: +(during.at(-1) ?? NaN).toFixed(1),
      maxGapMs: +maxGap.toFixed(1), baselineP99Ms: +quantile(baseline, 0.99).toFixed(1),
    };
    log(JSON.stringify(row));
    return row;
  } finally {
    server.client.close();
    server.child.kill('SIGTERM');
    await new Promise((r) => (server.child.exitCode !== null ? r() : server.child.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

mkdirSync(out, { recursive: true });
const rows = [];
for (const kind of servers) rows.push(await measure(kind));
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`;
const table = [
  `Defragment of a ${sizeMb} MiB store (${valueBytes / 1024} KiB values, half deleted and compacted), ${getters} concurrent gets; ${machine}`,
  '',
  '| server | dbSize before → after (MiB) | defragment (ms) | gets during | p50 (ms) | p99 (ms) | max (ms) | longest gap between gets (ms) | p99 before (ms) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.server} | ${r.dbSizeBeforeMiB} → ${r.dbSizeAfterMiB} | ${r.defragMs} | ${r.getsDuring} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.maxGapMs} | ${r.baselineP99Ms} |`),
].join('\n');
writeFileSync(join(out, 'results.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
writeFileSync(join(out, 'defrag.md'), table + '\n');
console.log(table);
process.exit(0);
