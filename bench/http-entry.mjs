#!/usr/bin/env node
// One HTTP load on a freshly started Lattice, for A/B runs of two builds and for profiles: autocannon
// (50 connections) for 2 s unmeasured, then SECONDS measured; prints one JSON line with req/s,
// latency percentiles and the server's CPU per request (from /proc, all threads). NODE_FLAGS go to
// the server's node (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" or "--trace-gc-nvp"); REPO points
// at another checkout with its own build (the A/B's other side).
//
// Usage: node bench/http-entry.mjs LOAD [SECONDS]   LOAD: range | put | get | apiput
//        env ENGINE=rocksdb|memory, REPO=<checkout>, NODE_FLAGS="...", CONNECTIONS=50, SERVER_LOG=1
import autocannon from 'autocannon';
import { cpuSeconds, httpLoads, startServer } from './http-bench-server.mjs';

const [load = 'range', seconds = '8'] = process.argv.slice(2);
const connections = Number(process.env.CONNECTIONS ?? 50);
const chosen = httpLoads[load];
if (chosen === undefined) throw new Error(`unknown load ${load} (${Object.keys(httpLoads).join(', ')})`);

const server = await startServer('lattice', {
  engine: process.env.ENGINE ?? 'rocksdb',
  ...(process.env.REPO === undefined ? {} : { repo: process.env.REPO }),
  nodeFlags: (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean),
  serverLog: process.env.SERVER_LOG === '1',
});
try {
  const opts = chosen.options(server.url);
  await autocannon({ ...opts, connections, duration: 2 });
  const cpu0 = cpuSeconds(server.pid);
  const r = await autocannon({ ...opts, connections, duration: Number(seconds) });
  const cpu = cpuSeconds(server.pid) - cpu0;
  console.log(JSON.stringify({ load, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, p999: r.latency.p99_9, max: r.latency.max, non2xx: r.non2xx, usPerReq: Math.round((cpu * 1e6) / r.requests.total) }));
} finally {
  await server.stop();
}
