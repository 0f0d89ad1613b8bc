#!/usr/bin/env node
// Connect-to-first-response latency of fresh client connections: Go clientv3 (dial + one Get),
// the npm etcd3 client (new client + one get) and etcdctl (one `get` process, wall time). Each
// variant is a Lattice entry script; servers are started fresh (memory engine) for each round,
// variants alternate round by round, and the table gives medians and p90 over all rounds.
//
// Usage: node bench/connect-latency.mjs [--calls N] [--rounds R] [label=path/to/bin/lattice.js ...]
//   default variant: this tree's bin/lattice.js (build it first); --calls is per client per round.
// To compare builds, point variants at frozen copies of bin/ + dist/ (with a node_modules link).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const serverReadyTimeoutMs = 20_000;
const etcdctlRunTimeoutMs = 30_000;

function parseArgs(argv) {
  const args = { calls: 50, rounds: 3, variants: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--calls') args.calls = Number(argv[++i]);
    else if (a === '--rounds') args.rounds = Number(argv[++i]);
    else if (/^[^=]+=/.test(a)) {
      const [label, path] = [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
      args.variants.push({ label, path });
    } else {
      process.stderr.write('usage: node bench/connect-latency.mjs [--calls N] [--rounds R] [label=bin/lattice.js ...]\n');
      process.exit(2);
    }
  }
  if (args.variants.length === 0) args.variants.push({ label: 'this tree', path: join(repo, 'bin', 'lattice.js') });
  return args;
}

const quantile = (xs, q) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.floor(q * v.length))];
};

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Builds test/interop/go/freshconn against the installed etcd Go sources (GOPATH mode). */
function buildFreshconn(dir) {
  const listing = spawnSync('dpkg', ['-L', 'golang-etcd-server-dev'], { encoding: 'utf8' });
  const suffix = '/src/go.etcd.io/etcd/clientv3';
  const line = (listing.stdout ?? '').split('\n').find((l) => l.trim().endsWith(suffix));
  const gopath = process.env.TEST_ETCD_GOPATH ?? (line ? line.trim().slice(0, -suffix.length) : '/usr/share/gocode');
  const binary = join(dir, 'freshconn');
  const result = spawnSync('go', ['build', '-o', binary, '.'], {
    cwd: join(repo, 'test', 'interop', 'go', 'freshconn'),
    env: { ...process.env, GOPATH: gopath, GO111MODULE: 'off', CGO_ENABLED: '0', GOFLAGS: '', GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'lattice-gocache') },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`go build freshconn failed:\n${result.stdout}${result.stderr}`);
  return binary;
}

async function startServer(entry, dir) {
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const child = spawn(process.execPath, [entry, '--engine', 'memory', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', `http://127.0.0.1:${peer}`],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not ready:\n${output}`)), serverReadyTimeoutMs);
    const onData = (c) => {
      output += c;
      if (/ready to serve client requests/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  await ready;
  return { url, stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); }) };
}

function runGo(binary, url, calls) {
  const r = spawnSync(binary, ['--endpoints', url, '--op', 'get', '--key', 'bench', '--repeat', String(calls)], { encoding: 'utf8' });
  const results = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { ms: results.filter((x) => !x.error).map((x) => x.ms), errors: results.filter((x) => x.error).length + (r.status === 0 ? 0 : 1) };
}

async function runNpm(url, calls) {
  const { Etcd3 } = await import('etcd3');
  const ms = [];
  let errors = 0;
  for (let i = 0; i < calls; i++) {
    const start = process.hrtime.bigint();
    const client = new Etcd3({ hosts: url });
    try {
      await client.get('bench').string();
      ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    } catch {
      errors++;
    } finally {
      client.close();
    }
  }
  return { ms, errors };
}

async function runEtcdctl(url, calls) {
  const ms = [];
  let errors = 0;
  const env = { ...process.env, ETCDCTL_API: '3' };
  for (let i = 0; i < calls; i++) {
    const start = process.hrtime.bigint();
    const code = await new Promise((resolve) => {
      const child = spawn('etcdctl', ['--endpoints', url, 'get', 'bench'], { env, stdio: 'ignore', timeout: etcdctlRunTimeoutMs });
      child.on('exit', resolve);
    });
    if (code === 0) ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    else errors++;
  }
  return { ms, errors };
}

const args = parseArgs(process.argv.slice(2));
const scratch = mkdtempSync(join(tmpdir(), 'connect-latency-'));
const clients = ['Go clientv3', 'npm etcd3', 'etcdctl'];
const samples = new Map(); // `${variant}\t${client}` → { ms: [], errors }
try {
  const freshconn = buildFreshconn(scratch);
  for (let round = 0; round < args.rounds; round++) {
    for (const [i, variant] of args.variants.entries()) {
      const dir = join(scratch, `r${round}-v${i}`);
      const server = await startServer(variant.path, dir);
      try {
        const measured = [runGo(freshconn, server.url, args.calls), await runNpm(server.url, args.calls), await runEtcdctl(server.url, args.calls)];
        for (const [c, m] of measured.entries()) {
          const key = `${variant.label}\t${clients[c]}`;
          const s = samples.get(key) ?? { ms: [], errors: 0 };
          s.ms.push(...m.ms);
          s.errors += m.errors;
          samples.set(key, s);
        }
      } finally {
        await server.stop();
      }
      process.stderr.write(`round ${round + 1}/${args.rounds} ${variant.label} done\n`);
    }
  }
  const cpu = spawnSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; nproc"], { encoding: 'utf8' }).stdout.trim().split('\n');
  console.log(`Connect-to-first-response, ms (median / p90), ${args.calls} calls x ${args.rounds} rounds per cell; ${cpu[0]?.trim()}, ${cpu[1]} cores, node ${process.version}\n`);
  console.log(`| variant | ${clients.join(' | ')} |`);
  console.log(`|---|${clients.map(() => '--:').join('|')}|`);
  for (const variant of args.variants) {
    const cells = clients.map((c) => {
      const s = samples.get(`${variant.label}\t${c}`);
      const errors = s.errors > 0 ? `, ${s.errors} errors` : '';
      return `${quantile(s.ms, 0.5).toFixed(2)} / ${quantile(s.ms, 0.9).toFixed(2)}${errors}`;
    });
    console.log(`| ${variant.label} | ${cells.join(' | ')} |`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
