#!/usr/bin/env node
// The HTTP loads of issue 14: autocannon (50 connections) against Lattice's friendly API
// (GET/PUT /api/kv/<key>) and JSON gateway (POST /v3/kv/range, /v3/kv/put), and against etcd's
// gateway for the same /v3 loads. Each server runs alone on fresh ports and a fresh data dir; the
// server's CPU seconds per entry come from /proc; each entry gets a 2 s unmeasured warm-up. Prints a markdown table and one JSON line per entry.
//
// Usage: node bench/api-http.mjs [seconds per entry, default 10]   (env ENGINE=rocksdb|memory, SERVERS="lattice etcd")
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import autocannon from 'autocannon';

const seconds = Number(process.argv[2] ?? 10);
const engine = process.env.ENGINE ?? 'rocksdb';
const servers = (process.env.SERVERS ?? 'lattice etcd').split(' ');
const connections = 50;
const value = 'v'.repeat(256);
const b64 = (s) => Buffer.from(s).toString('base64');
const repo = new URL('..', import.meta.url).pathname;
const ticksPerSecond = 100;
const warmupSeconds = 2;

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

async function start(name) {
  const port = await freePort();
  const peer = await freePort();
  const data = mkdtempSync(join(tmpdir(), 'api-bench-'));
  const ep = `127.0.0.1:${port}`;
  const common = ['--data-dir', data, '--listen-client-urls', `http://${ep}`, '--advertise-client-urls', `http://${ep}`, '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--initial-cluster', `default=http://127.0.0.1:${peer}`, '--name', 'default'];
  const child = name === 'etcd' ? spawn('etcd', common, { stdio: 'ignore' }) : spawn(process.execPath, [join(repo, 'bin/lattice.js'), ...common, '--engine', engine], { stdio: 'ignore' });
  const url = `http://${ep}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: child.pid, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }).then(() => rmSync(data, { recursive: true, force: true })) };
}

const loads = {
  'api GET /api/kv/<key>': (url) => ({ url: `${url}/api/kv/bench/key`, method: 'GET' }),
  'api PUT /api/kv/<key>': (url) => ({ url: `${url}/api/kv/bench/key`, method: 'PUT', body: value }),
  'gateway POST /v3/kv/range': (url) => ({ url: `${url}/v3/kv/range`, method: 'POST', body: JSON.stringify({ key: b64('bench/key') }) }),
  'gateway POST /v3/kv/put': (url) => ({ url: `${url}/v3/kv/put`, method: 'POST', body: JSON.stringify({ key: b64('bench/key'), value: b64(value) }) }),
};

const results = [];
for (const name of servers) {
  for (const [load, make] of Object.entries(loads)) {
    if (name === 'etcd' && load.startsWith('api')) continue;
    const server = await start(name);
    await fetch(`${server.url}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64('bench/key'), value: b64(value) }) });
    // a short unmeasured run first, so JIT warm-up and the first engine writes are not in the numbers
    await autocannon({ ...make(server.url), connections, duration: warmupSeconds });
    const cpu0 = cpuSeconds(server.pid);
    const r = await autocannon({ ...make(server.url), connections, duration: seconds });
    const cpu = cpuSeconds(server.pid) - cpu0;
    const line = { server: name, engine: name === 'etcd' ? 'bbolt' : engine, load, connections, seconds, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors, serverCpuS: cpu };
    console.log(JSON.stringify(line));
    results.push(line);
    await server.stop();
  }
}

const etcdOf = (load) => results.find((x) => x.server === 'etcd' && x.load === load);
console.log('\n| server | load | req/s | p50 ms | p99 ms | server CPU s | vs etcd req/s | vs etcd p99 |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const x of results) {
  const e = x.server === 'etcd' ? undefined : etcdOf(x.load.startsWith('api GET') ? 'gateway POST /v3/kv/range' : x.load.startsWith('api PUT') ? 'gateway POST /v3/kv/put' : x.load);
  const ratio = e ? (x.rps / e.rps).toFixed(2) + '×' : '';
  const p99 = e ? (x.p99 / e.p99).toFixed(2) + '×' : '';
  console.log(`| ${x.server} (${x.engine}) | ${x.load} | ${Math.round(x.rps)} | ${x.p50} | ${x.p99} | ${x.serverCpuS.toFixed(1)} | ${ratio} | ${p99} |`);
}
