#!/usr/bin/env node
// The HTTP loads of issue 14: autocannon (50 connections) against Lattice's friendly API
// (GET/PUT /api/kv/<key>) and JSON gateway (POST /v3/kv/range, /v3/kv/put), and against etcd's
// gateway for the same /v3 loads. Each server runs alone on fresh ports and a fresh data dir; the
// server's CPU seconds per entry come from /proc; each entry gets a 2 s unmeasured warm-up. Prints a markdown table and one JSON line per entry.
//
// Usage: node bench/api-http.mjs [seconds per entry, default 10]   (env ENGINE=rocksdb|memory, SERVERS="lattice etcd")
import autocannon from 'autocannon';
import { cpuSeconds, httpLoads, startServer } from './http-bench-server.mjs';

const seconds = Number(process.argv[2] ?? 10);
const engine = process.env.ENGINE ?? 'rocksdb';
const servers = (process.env.SERVERS ?? 'lattice etcd').split(' ');
const connections = 50;
const warmupSeconds = 2;

const results = [];
for (const name of servers) {
  for (const { label: load, options: make } of Object.values(httpLoads)) {
    if (name === 'etcd' && load.startsWith('api')) continue;
    const server = await startServer(name, { engine });
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
