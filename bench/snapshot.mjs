// Snapshot save and restore, Lattice vs etcd 3.4: for each server, start it on a fresh data dir,
// load N keys (256-byte values by default, in txns of up to 100 puts), then time `etcdctl snapshot save` against it
// (MB/s of the file, the server's peak RSS while it streams) and the restore of that file
// (`etcdctl snapshot restore` for etcd's file, `lattice snapshot restore` for both files;
// MB/s and the restoring process's peak RSS from /usr/bin/time).
// Usage: node bench/snapshot.mjs [keys=100000] [engine=rocksdb]   (build first: npx tsc -p .)
// VALUE_BYTES=4096 loads larger values (fewer keys for a large file: 4 KiB x 256k keys is about 1 GiB).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import grpc from '@grpc/grpc-js';
import { KVClient, RangeRequest, TxnRequest } from '../dist/src/gen/etcd/etcdserver/etcdserverpb/rpc.js';

const keys = Number(process.argv[2] ?? 100_000);
const engine = process.argv[3] ?? 'rocksdb';
const valueBytes = Number(process.env.VALUE_BYTES ?? 256);
// A txn stays under etcd's 1.5 MiB request limit whatever the value size.
const putsPerTxn = Math.max(1, Math.min(100, Math.floor((1024 * 1024) / valueBytes)));
const txnConcurrency = 16;
const rssSampleMs = 20;
/** etcd's largest quota, so a large VALUE_BYTES load is not stopped by the 2 GiB default. */
const quotaBackendBytes = 8 * 1024 * 1024 * 1024;
const latticeBin = new URL('../bin/lattice.js', import.meta.url).pathname;

const freePort = () => new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
const rssKb = (pid) => { try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]); } catch { return 0; } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes) => bytes / 1e6;

function timed(command, args) {
  const start = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', command, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${r.stderr.slice(-1500)}`);
  const peakKb = Number(r.stderr.trim().split('\n').at(-1));
  return { seconds, peakMb: peakKb / 1024 };
}

async function startServer(kind, dir) {
  const [client, peer] = [await freePort(), await freePort()];
  const flags = ['--name', 'm', '--data-dir', join(dir, 'data'), '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`, '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--initial-cluster', `m=http://127.0.0.1:${peer}`, '--quota-backend-bytes', String(quotaBackendBytes)];
  const child = kind === 'etcd' ? spawn('etcd', flags, { stdio: 'ignore' }) : spawn(process.execPath, [latticeBin, ...flags, '--engine', engine], { stdio: 'ignore' });
  const kv = new KVClient(`127.0.0.1:${client}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  for (let i = 0; ; i++) {
    const ok = await new Promise((r) => kv.range(RangeRequest.fromPartial({ key: Buffer.from('x') }), { deadline: Date.now() + 500 }, (e) => r(!e)));
    if (ok) break;
    if (i > 200) throw new Error(`${kind} did not start`);
    await sleep(100);
  }
  return { child, kv, endpoint: `http://127.0.0.1:${client}` };
}

async function load(kv) {
  const value = Buffer.alloc(valueBytes, 'v');
  let next = 0;
  const worker = async () => {
    for (;;) {
      const first = next;
      if (first >= keys) return;
      next += putsPerTxn;
      const success = [];
      for (let i = first; i < Math.min(first + putsPerTxn, keys); i++) success.push({ requestPut: { key: Buffer.from(`key-${String(i).padStart(10, '0')}`), value } });
      await new Promise((resolve, reject) => kv.txn(TxnRequest.fromPartial({ success }), (e) => (e ? reject(e) : resolve())));
    }
  };
  await Promise.all(Array.from({ length: txnConcurrency }, worker));
}

async function saveFrom(kind, root) {
  const dir = mkdtempSync(join(root, `${kind}-`));
  const server = await startServer(kind, dir);
  try {
    const loadStart = Date.now();
    await load(server.kv);
    const loadSeconds = (Date.now() - loadStart) / 1000;
    await sleep(2000); // let the server settle (Lattice persists behind its apply)
    const rssBefore = rssKb(server.child.pid);
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKb(server.child.pid))), rssSampleMs);
    const file = join(root, `${kind}.db`);
    const start = process.hrtime.bigint();
    const r = spawnSync('etcdctl', ['--endpoints', server.endpoint, '--command-timeout=600s', 'snapshot', 'save', file], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    clearInterval(sampler);
    if (r.status !== 0) throw new Error(`snapshot save from ${kind}: ${r.stderr.slice(-1500)}`);
    const bytes = statSync(file).size;
    return { kind, file, bytes, loadSeconds, saveSeconds: seconds, saveMBps: mb(bytes) / seconds, serverRssBeforeMb: rssBefore / 1024, serverRssPeakMb: peak / 1024 };
  } finally {
    server.kv.close();
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
  }
}

function restoreWith(tool, file, root, label) {
  const target = join(root, `restored-${label}`);
  const common = ['--name', 'm', '--initial-cluster', 'm=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--data-dir', target];
  const t = tool === 'etcdctl' ? timed('etcdctl', ['snapshot', 'restore', file, ...common]) : timed(process.execPath, [latticeBin, 'snapshot', 'restore', file, '--engine', engine, ...common]);
  rmSync(target, { recursive: true, force: true });
  const bytes = statSync(file).size;
  return { label, bytes, seconds: t.seconds, MBps: mb(bytes) / t.seconds, peakRssMb: t.peakMb };
}

const root = mkdtempSync(join(tmpdir(), 'snapshot-bench-'));
const loadBefore = loadavg()[0];
try {
  const etcd = await saveFrom('etcd', root);
  const lattice = await saveFrom('lattice', root);
  const restores = [
    restoreWith('etcdctl', etcd.file, root, 'etcdctl restore (etcd file)'),
    restoreWith('lattice', etcd.file, root, `lattice restore --engine ${engine} (etcd file)`),
    restoreWith('etcdctl', lattice.file, root, 'etcdctl restore (Lattice file)'),
    restoreWith('lattice', lattice.file, root, `lattice restore --engine ${engine} (Lattice file)`),
  ];
  const f = (n, d = 1) => n.toFixed(d);
  console.log(`## Snapshot save/restore: ${keys} keys of ${valueBytes} B, Lattice --engine ${engine} (node bench/snapshot.mjs ${keys} ${engine})\n`);
  console.log('| save from | file MB | load s | save s | save MB/s | server RSS before / peak during save (MB) |');
  console.log('|---|---|---|---|---|---|');
  for (const s of [etcd, lattice]) console.log(`| ${s.kind} | ${f(mb(s.bytes))} | ${f(s.loadSeconds)} | ${f(s.saveSeconds, 2)} | ${f(s.saveMBps)} | ${f(s.serverRssBeforeMb, 0)} / ${f(s.serverRssPeakMb, 0)} |`);
  console.log(`\nsave ratio Lattice/etcd (MB/s): ${f(lattice.saveMBps / etcd.saveMBps, 2)}\n`);
  console.log('| restore | file MB | s | MB/s | peak RSS (MB) |');
  console.log('|---|---|---|---|---|');
  for (const r of restores) console.log(`| ${r.label} | ${f(mb(r.bytes))} | ${f(r.seconds, 2)} | ${f(r.MBps)} | ${f(r.peakRssMb, 0)} |`);
  console.log(`\nrestore ratio Lattice/etcd on etcd's file (MB/s): ${f(restores[1].MBps / restores[0].MBps, 2)}`);
  console.log(`load average (1 min) at start / end: ${f(loadBefore)} / ${f(loadavg()[0])}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
