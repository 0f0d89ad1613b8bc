#!/usr/bin/env node
// A noisy neighbour: tenant "quiet" puts from 8 loops while tenant "noisy" hammers from 200 loops
// (bench/tenant-noisy-client.mjs, its own process), far past its requests_per_second; the quiet tenant's latency (p50, p99) with and without the
// neighbour, on one fresh single member (auth on, both tenants bound to users). A control phase runs
// the same noisy client against a second member on the same machine: what the quiet tenant loses
// there is the machine's (CPU taken by the noisy client and the other member), not the measured
// member's isolation. Phases rotate every round so that load from other processes spreads over all.
// serverCpuMsPerS: the measured member's CPU (user + system) per second of the phase, from /proc.
//
// Usage: node bench/tenant-neighbour.mjs [seconds per phase, default 10] [rounds, default 3]
//        (env ENGINE=rocksdb|memory, NOISY_RPS=500)
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { Etcd3 } from 'etcd3';

const seconds = Number(process.argv[2] ?? 10);
const rounds = Number(process.argv[3] ?? 3);
const engine = process.env.ENGINE ?? 'rocksdb';
const noisyRps = Number(process.env.NOISY_RPS ?? 500);
const quietLoops = 8;
const noisyLoops = 200;
const repo = new URL('..', import.meta.url).pathname;

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const dir = mkdtempSync(join(tmpdir(), 'tenant-bench-'));
const tenantsFile = join(dir, 'tenants.json');
writeFileSync(
  tenantsFile,
  JSON.stringify([
    { name: 'quiet', prefix: '/tenants/quiet/', users: ['quiet'] },
    { name: 'noisy', prefix: '/tenants/noisy/', users: ['noisy'], limits: { requestsPerSecond: noisyRps } },
  ]),
);
/**
 * One fresh member with auth on and both tenants' users. Two are started: the measured one, and a
 * second one for the control phase, where the noisy client hammers the other member, so the machine
 * carries the same load (the noisy client, its served and refused calls) but the measured member
 * does none of the noisy tenant's work.
 */
const startMember = async (name) => {
  const port = await freePort();
  const peer = await freePort();
  const ep = `127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      join(repo, 'bin/lattice.js'),
      '--data-dir', join(dir, `data-${name}`),
      '--listen-client-urls', `http://${ep}`, '--advertise-client-urls', `http://${ep}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `default=http://127.0.0.1:${peer}`,
      '--engine', engine, '--tenants-file', tenantsFile,
    ],
    { stdio: 'ignore' },
  );
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
  for (const t of ['quiet', 'noisy']) {
    ctl('role', 'add', t);
    ctl('role', 'grant-permission', t, 'readwrite', `/tenants/${t}/`, '--prefix=true');
    ctl('user', 'add', `${t}:${t}pw`);
    ctl('user', 'grant-role', t, t);
  }
  ctl('auth', 'enable');
  /** The member's CPU time so far (user + system, ms), from /proc: what the load cost it, whatever else runs on the machine. */
  const cpuMs = () => {
    try {
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    } catch {
      return NaN;
    }
  };
  const stop = () =>
    new Promise((r) => {
      if (child.exitCode !== null) return r();
      child.once('exit', r);
      child.kill('SIGTERM');
    });
  return { ep, cpuMs, stop };
};

const members = [];
try {
  members.push(await startMember('measured'), await startMember('control'));
  const [measured, control] = members;
  const ep = measured.ep;
  const serverCpuMs = measured.cpuMs;

  const quiet = new Etcd3({ hosts: `http://${ep}`, auth: { username: 'quiet', password: 'quietpw' } });
  const value = 'v'.repeat(256);
  await quiet.put('warm').value(value);

  const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
  /**
   * where: 'alone' | 'allowance' (the neighbour's client paced at 95 % of its rate, on the measured
   * member: what a well-behaved neighbour costs) | 'same' (the noisy client hammers the measured
   * member) | 'other' (it hammers the control member).
   */
  const phase = async (where) => {
    const withNeighbour = where !== 'alone';
    let stopHammer = () => undefined;
    let noisyOk = 0;
    let noisyRefused = 0;
    const hammer = withNeighbour
      ? new Promise((resolve) => {
          const c = spawn(process.execPath, [join(repo, 'bench/tenant-noisy-client.mjs'), where === 'other' ? control.ep : ep, 'noisy', 'noisypw', String(noisyLoops), ...(where === 'allowance' ? [String(Math.floor(noisyRps * 0.95))] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          c.stdout.on('data', (d) => (out += d));
          c.on('exit', () => {
            try {
              const counts = JSON.parse(out.trim());
              noisyOk = counts.served;
              noisyRefused = counts.refused;
            } catch {
              // no counts: the client failed (its stderr says why)
            }
            resolve();
          });
          stopHammer = () => c.kill('SIGTERM');
        })
      : Promise.resolve();
    // the neighbour is up and refused at its limit before the quiet tenant is measured
    if (withNeighbour) await new Promise((r) => setTimeout(r, 1500));
    const latencies = [];
    const cpuBefore = serverCpuMs();
    const until = Date.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: quietLoops }, async (_, i) => {
        while (Date.now() < until) {
          const t = process.hrtime.bigint();
          await quiet.put(`k${i}`).value(value);
          latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
        }
      }),
    );
    const serverCpuPerSecond = (serverCpuMs() - cpuBefore) / seconds;
    stopHammer();
    await hammer;
    latencies.sort((a, b) => a - b);
    return { where, quietPuts: latencies.length, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), serverCpuMsPerS: Math.round(serverCpuPerSecond), noisyOk, noisyRefused };
  };

  const results = [];
  for (let r = 0; r < rounds; r++) {
    // the order turns every round, so that no phase always follows the same one
    const order = ['alone', 'allowance', 'same', 'other'];
    for (let k = 0; k < r % order.length; k++) order.push(order.shift());
    for (const where of order) {
      const res = await phase(where);
      results.push(res);
      console.log(JSON.stringify({ round: r + 1, engine, seconds, ...res }));
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const of = (where) => results.filter((r) => r.where === where);
  console.log(`\n| quiet tenant (${quietLoops} loops, puts) | p50 ms | p99 ms | puts/s | measured member's CPU ms/s |\n|---|--:|--:|--:|--:|`);
  for (const [label, rs] of [
    ['alone', of('alone')],
    [`beside the neighbour within its allowance (paced at ${Math.floor(noisyRps * 0.95)} req/s), same member`, of('allowance')],
    [`beside a noisy tenant (${noisyLoops} loops, ${noisyRps} req/s allowed) on the same member`, of('same')],
    ['control: the same noisy client hammering another member on this machine', of('other')],
  ]) {
    console.log(`| ${label} | ${median(rs.map((r) => r.p50)).toFixed(2)} | ${median(rs.map((r) => r.p99)).toFixed(2)} | ${Math.round(median(rs.map((r) => r.quietPuts)) / seconds)} | ${median(rs.map((r) => r.serverCpuMsPerS))} |`);
  }
  for (const where of ['allowance', 'same', 'other']) console.log(`noisy tenant per phase (${where}): ${of(where).map((r) => `${r.noisyOk} served / ${r.noisyRefused} refused`).join('; ')}`);
  quiet.close();
} finally {
  await Promise.all(members.map((m) => m.stop()));
  rmSync(dir, { recursive: true, force: true });
}
