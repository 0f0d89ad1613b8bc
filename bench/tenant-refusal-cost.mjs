#!/usr/bin/env node
// What one refused call of a tenant over its request rate costs the server: tenant "noisy"
// (requests_per_second = 1) ranges from 200 loops over raw gRPC (bench/tenant-noisy-client.mjs, a
// process of its own) against one fresh member (auth on); the server's CPU time (user + system, from
// /proc) over the phase divided by the calls it answered. Unlike bench/tenant-neighbour.mjs's
// latencies, this does not depend on what else the machine runs (only on how busy its caches are).
//
// Usage: node bench/tenant-refusal-cost.mjs [seconds, default 5] [rounds, default 3]   (env ENGINE)
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

const seconds = Number(process.argv[2] ?? 5);
const rounds = Number(process.argv[3] ?? 3);
const engine = process.env.ENGINE ?? 'rocksdb';
const repo = new URL('..', import.meta.url).pathname;

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const dir = mkdtempSync(join(tmpdir(), 'tenant-refusal-'));
const tenantsFile = join(dir, 'tenants.json');
writeFileSync(tenantsFile, JSON.stringify([{ name: 'noisy', prefix: '/tenants/noisy/', users: ['noisy'], limits: { requestsPerSecond: 1 } }]));
const [port, peer] = [await freePort(), await freePort()];
const ep = `127.0.0.1:${port}`;
const child = spawn(
  process.execPath,
  [
    join(repo, 'bin/lattice.js'),
    '--data-dir', join(dir, 'data'),
    '--listen-client-urls', `http://${ep}`, '--advertise-client-urls', `http://${ep}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `default=http://127.0.0.1:${peer}`,
    '--engine', engine, '--tenants-file', tenantsFile,
  ],
  { stdio: 'ignore' },
);
const serverCpuMs = () => {
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
};
try {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://${ep}/health`)).ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const ctl = (...args) => execFileSync('etcdctl', ['--endpoints', ep, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'pipe' });
  ctl('user', 'add', 'root:rootpw');
  ctl('role', 'add', 'noisy');
  ctl('role', 'grant-permission', 'noisy', 'readwrite', '/tenants/noisy/', '--prefix=true');
  ctl('user', 'add', 'noisy:noisypw');
  ctl('user', 'grant-role', 'noisy', 'noisy');
  ctl('auth', 'enable');
  const results = [];
  for (let r = 0; r < rounds; r++) {
    const c = spawn(process.execPath, [join(repo, 'bench/tenant-noisy-client.mjs'), ep, 'noisy', 'noisypw', '200'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => c.on('exit', resolve));
    // measured from the first second on: the client has its token and its connections
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const cpu0 = serverCpuMs();
    const t0 = Date.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const cpuMs = serverCpuMs() - cpu0;
    const elapsedS = (Date.now() - t0) / 1000;
    c.kill('SIGTERM');
    await exited;
    const counts = JSON.parse(out.trim());
    // the client's counts cover its whole run; the rate over it estimates the calls in the phase
    const callsPerS = (counts.served + counts.refused) / (elapsedS + 1);
    const res = { round: r + 1, engine, serverCpuMsPerS: Math.round(cpuMs / elapsedS), callsPerS: Math.round(callsPerS), refused: counts.refused, usPerCall: Number(((cpuMs / elapsedS) * 1000 / callsPerS).toFixed(1)) };
    results.push(res);
    console.log(JSON.stringify(res));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`\nserver CPU per refused call (median of ${rounds}): ${median(results.map((r) => r.usPerCall))} µs; calls/s ${median(results.map((r) => r.callsPerS))}`);
} finally {
  await new Promise((r) => {
    child.once('exit', r);
    child.kill('SIGTERM');
  });
  rmSync(dir, { recursive: true, force: true });
}
