// RSS per live lease: starts a server (etcd or Lattice) on free ports in a temp data dir, reads its
// RSS, grants N leases (TTL 3600 s, none kept alive, no keys), reads RSS 3 s later and again after
// SETTLE_S seconds (default 30) with the server idle: by then both runtimes have collected the
// garbage of the grant calls and given some back (V8's memory reducer, Go's scavenger), so the second
// figure is the leases themselves more than the burst that made them.
// Usage: node bench/lease-memory.mjs etcd|lattice [leases=100000] [engine=rocksdb]   (env SETTLE_S)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import grpc from '@grpc/grpc-js';
import { LeaseClient } from '../dist/src/gen/etcd/etcdserver/etcdserverpb/rpc.js';

const who = process.argv[2] ?? 'lattice';
const leases = Number(process.argv[3] ?? 100_000);
const engine = process.argv[4] ?? 'rocksdb';
const concurrency = 256;

const freePort = () => new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'lease-mem-'));
const [client, peer] = [await freePort(), await freePort()];
const flags = ['--data-dir', join(dir, 'data'), '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`, '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--initial-cluster', `default=http://127.0.0.1:${peer}`];
const child = who === 'etcd' ? spawn('etcd', flags, { stdio: 'ignore' }) : spawn(process.execPath, [new URL('../bin/lattice.js', import.meta.url).pathname, ...flags, '--engine', engine], { stdio: 'ignore' });
try {
  const lc = new LeaseClient(`127.0.0.1:${client}`, grpc.credentials.createInsecure());
  for (let i = 0; ; i++) {
    const ok = await new Promise((r) => lc.leaseLeases({}, { deadline: Date.now() + 500 }, (e) => r(!e)));
    if (ok) break;
    if (i > 100) throw new Error('server did not start');
    await sleep(200);
  }
  await sleep(1000);
  const before = rssMb(child.pid);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < leases) {
      next++;
      await new Promise((resolve, reject) => lc.leaseGrant({ ID: 0n, TTL: 3600n }, (e) => (e ? reject(e) : resolve())));
    }
  }));
  await sleep(3000);
  const after = rssMb(child.pid);
  const settleS = Number(process.env.SETTLE_S ?? 30);
  await sleep(Math.max(0, settleS * 1000 - 3000));
  const settled = rssMb(child.pid);
  const perLease = (mb) => Math.round(((mb - before) * 1024 * 1024) / leases);
  console.log(JSON.stringify({ server: who, engine: who === 'etcd' ? 'bbolt' : engine, leases, rssBeforeMb: +before.toFixed(1), rssAfterMb: +after.toFixed(1), bytesPerLease: perLease(after), settleS, rssSettledMb: +settled.toFixed(1), bytesPerLeaseSettled: perLease(settled) }));
  lc.close();
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
