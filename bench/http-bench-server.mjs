// What the HTTP benches share: a single member (Lattice or etcd) on free ports and a fresh data dir,
// its CPU seconds from /proc, and the loads they drive (one 256-byte value on one key).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

const ticksPerSecond = 100;
const here = new URL('..', import.meta.url).pathname;
const b64 = (s) => Buffer.from(s).toString('base64');
const value = 'v'.repeat(256);
const putBody = JSON.stringify({ key: b64('bench/key'), value: b64(value) });

export const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** User + system CPU seconds of a process, all its threads. */
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/**
 * Starts `etcd` or Lattice (`repo`'s bin/lattice.js, with `nodeFlags` for its node) and waits for
 * /health; the key the loads read is written. `stop` ends it and removes its data dir.
 */
export async function startServer(name, { engine = 'rocksdb', repo = here, nodeFlags = [], serverLog = false } = {}) {
  const port = await freePort();
  const peer = await freePort();
  const data = mkdtempSync(join(tmpdir(), 'http-bench-'));
  const url = `http://127.0.0.1:${port}`;
  const common = ['--data-dir', data, '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--initial-cluster', `default=http://127.0.0.1:${peer}`, '--name', 'default'];
  const stdio = ['ignore', 'ignore', serverLog ? 'inherit' : 'ignore'];
  const child = name === 'etcd' ? spawn('etcd', common, { stdio }) : spawn(process.execPath, [...nodeFlags, join(repo, 'bin/lattice.js'), ...common, '--engine', engine], { stdio });
  const stop = () =>
    new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    }).then(() => rmSync(data, { recursive: true, force: true }));
  try {
    for (let i = 0; i < 200; i++) {
      try {
        if ((await fetch(`${url}/health`)).ok) break;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await fetch(`${url}/v3/kv/put`, { method: 'POST', body: putBody });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, pid: child.pid, stop };
}

/** The loads by short name, each with the label the result tables use and its autocannon options. */
export const httpLoads = {
  get: { label: 'api GET /api/kv/<key>', options: (url) => ({ url: `${url}/api/kv/bench/key`, method: 'GET' }) },
  apiput: { label: 'api PUT /api/kv/<key>', options: (url) => ({ url: `${url}/api/kv/bench/key`, method: 'PUT', body: value }) },
  range: { label: 'gateway POST /v3/kv/range', options: (url) => ({ url: `${url}/v3/kv/range`, method: 'POST', body: JSON.stringify({ key: b64('bench/key') }) }) },
  put: { label: 'gateway POST /v3/kv/put', options: (url) => ({ url: `${url}/v3/kv/put`, method: 'POST', body: putBody }) },
};
