#!/usr/bin/env node
// Watch fan-out over HTTP (issue 14): CLIENTS streaming watchers of one key — Lattice's /api SSE,
// Lattice's /v3/watch gateway stream, and etcd's /v3/watch gateway stream — then PUTS puts to that key
// (one at a time, 256-byte values). Reports events delivered, the time until every watcher had every
// event, and events per server CPU-second (server CPU from /proc over the put phase). Clients come
// from 127.0.0.x source addresses, at most 50 per address (Lattice bounds watches per address at 64).
//
// Usage: node bench/api-watch-fanout.mjs   (env CLIENTS=1000 PUTS=200 ENGINE=rocksdb SERVERS="lattice-api lattice-gw etcd-gw")
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

const clients = Number(process.env.CLIENTS ?? 1000);
const puts = Number(process.env.PUTS ?? 200);
const engine = process.env.ENGINE ?? 'rocksdb';
const servers = (process.env.SERVERS ?? 'lattice-api lattice-gw etcd-gw').split(' ');
const perAddress = 50;
const repo = new URL('..', import.meta.url).pathname;
const b64 = (s) => Buffer.from(s).toString('base64');
const value = 'v'.repeat(256);

const freePort = () => new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); }); });
const cpuSeconds = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; };

async function start(kind) {
  const port = await freePort();
  const peer = await freePort();
  const data = mkdtempSync(join(tmpdir(), 'fanout-bench-'));
  const ep = `127.0.0.1:${port}`;
  const common = ['--data-dir', data, '--listen-client-urls', `http://${ep}`, '--advertise-client-urls', `http://${ep}`, '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--initial-cluster', `default=http://127.0.0.1:${peer}`, '--name', 'default'];
  const child = kind.startsWith('etcd') ? spawn('etcd', common, { stdio: 'ignore' }) : spawn(process.execPath, [join(repo, 'bin/lattice.js'), ...common, '--engine', engine], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`http://${ep}/health`)).ok) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, pid: child.pid, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }).then(() => rmSync(data, { recursive: true, force: true })) };
}

/** Opens one watcher; calls onEvent per event received; resolves once the server confirmed the watch. */
function openWatcher(kind, port, i, onEvent) {
  const localAddress = `127.0.0.${2 + Math.floor(i / perAddress)}`;
  const agent = new http.Agent({ keepAlive: false });
  return new Promise((resolve, reject) => {
    const sse = kind === 'lattice-api';
    const req = http.request({ host: '127.0.0.1', port, localAddress, agent, method: sse ? 'GET' : 'POST', path: sse ? '/api/watch/fan/key' : '/v3/watch', headers: sse ? { Accept: 'text/event-stream' } : {} }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`watcher ${i}: status ${res.statusCode}`));
      let buf = '';
      let created = false;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        if (!created && (sse ? buf.includes('event: created') : buf.includes('"created":true'))) {
          created = true;
          resolve(req);
        }
        // count events without a full parse: one per put
        const marker = sse ? 'event: change' : '"kv":';
        let at;
        while ((at = buf.indexOf(marker)) !== -1) {
          onEvent();
          buf = buf.slice(at + marker.length);
        }
        if (buf.length > 4096) buf = buf.slice(-64);
      });
    });
    req.on('error', reject);
    req.end(sse ? undefined : JSON.stringify({ create_request: { key: b64('fan/key') } }));
  });
}

for (const kind of servers) {
  const server = await start(kind);
  let events = 0;
  const reqs = [];
  for (let i = 0; i < clients; i++) reqs.push(await openWatcher(kind, server.port, i, () => events++));
  const cpu0 = cpuSeconds(server.pid);
  const t0 = Date.now();
  for (let i = 0; i < puts; i++) {
    await fetch(`http://127.0.0.1:${server.port}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64('fan/key'), value: b64(value) }) });
  }
  const expected = clients * puts;
  const deadline = Date.now() + 120_000;
  while (events < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const ms = Date.now() - t0;
  const cpu = cpuSeconds(server.pid) - cpu0;
  console.log(JSON.stringify({ server: kind, engine: kind.startsWith('etcd') ? 'bbolt' : engine, clients, puts, events, expected, ms, serverCpuS: cpu, eventsPerCpuS: Math.round(events / cpu) }));
  for (const r of reqs) r.destroy();
  await server.stop();
}
