#!/usr/bin/env node
// One HTTP load on a freshly started Lattice, for A/B runs of two builds and for profiles: autocannon
// (50 connections) for 2 s unmeasured, then SECONDS measured; prints one JSON line with req/s,
// latency percentiles and the server's CPU per request (from /proc, all threads). NODE_FLAGS go to
// the server's node (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" or "--trace-gc-nvp"); REPO points
// at another checkout with its own build (the A/B's other side).
//
// Usage: node bench/http-entry.mjs LOAD [SECONDS]   LOAD: range | put | get | apiput
//        env ENGINE=rocksdb|memory, REPO=<checkout>, NODE_FLAGS="...", CONNECTIONS=50, SERVER_LOG=1
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import autocannon from 'autocannon';

const [load = 'range', seconds = '8'] = process.argv.slice(2);
const repo = process.env.REPO ?? new URL('..', import.meta.url).pathname;
const connections = Number(process.env.CONNECTIONS ?? 50);
const nodeFlags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const b64 = (s) => Buffer.from(s).toString('base64');
const value = 'v'.repeat(256);

const port = await freePort();
const peer = await freePort();
const data = mkdtempSync(join(tmpdir(), 'http-entry-'));
const ep = `127.0.0.1:${port}`;
const url = `http://${ep}`;
const child = spawn(
  process.execPath,
  [
    ...nodeFlags,
    join(repo, 'bin/lattice.js'),
    ...['--data-dir', data, '--engine', process.env.ENGINE ?? 'rocksdb'],
    ...['--listen-client-urls', url, '--advertise-client-urls', url],
    ...['--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--initial-cluster', `default=http://127.0.0.1:${peer}`],
  ],
  { stdio: ['ignore', 'ignore', process.env.SERVER_LOG === '1' ? 'inherit' : 'ignore'] },
);
try {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await fetch(`${url}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64('bench/key'), value: b64(value) }) });
  const loads = {
    range: { url: `${url}/v3/kv/range`, method: 'POST', body: JSON.stringify({ key: b64('bench/key') }) },
    put: { url: `${url}/v3/kv/put`, method: 'POST', body: JSON.stringify({ key: b64('bench/key'), value: b64(value) }) },
    get: { url: `${url}/api/kv/bench/key`, method: 'GET' },
    apiput: { url: `${url}/api/kv/bench/key`, method: 'PUT', body: value },
  };
  const opts = loads[load];
  if (opts === undefined) throw new Error(`unknown load ${load} (range, put, get, apiput)`);
  await autocannon({ ...opts, connections, duration: 2 });
  const cpu0 = cpuSeconds(child.pid);
  const r = await autocannon({ ...opts, connections, duration: Number(seconds) });
  const cpu = cpuSeconds(child.pid) - cpu0;
  console.log(JSON.stringify({ load, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, p999: r.latency.p99_9, max: r.latency.max, non2xx: r.non2xx, usPerReq: Math.round((cpu * 1e6) / r.requests.total) }));
} finally {
  await new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
  rmSync(data, { recursive: true, force: true });
}
