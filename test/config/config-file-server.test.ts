// A Lattice process started from a lattice.toml: the file's settings take effect (the client
// listener's connection limit and idle timeout are enforced), flags win over it, a bad file stops
// the start naming the key and line, and `lattice config check|print` exit as documented.
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import { WatchRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { secureContextOptions } from '../../src/tls/tls-material.js';
import { noTransportSecurity } from '../../src/tls/transport-security.js';
import { loopbackHost } from '../helpers/free-port.js';
import { repoPath, repoRoot } from '../helpers/paths.js';
import { runCommand, stopAllProcesses } from '../helpers/processes.js';
import { allocateAddress, launchRestartable, type RestartableServer } from '../helpers/server-flags.js';
import { defaultTestTimeoutMs, withTimeout } from '../helpers/spec.js';
import { tlsFixture } from '../helpers/tls-servers.js';
import { makeTempDir, removeAllTempDirs } from '../helpers/temp-dirs.js';

const test = suite('config file server');
const it = (name: string, body: () => void | Promise<void>, timeoutMs = defaultTestTimeoutMs): void =>
  test(name, () => withTimeout(Promise.resolve().then(body), timeoutMs, name));

const lattice = repoPath('bin', 'lattice.js');
const maxConnections = 3;
const idleTimeoutMs = 700;
let server: RestartableServer | undefined;
let clientPort = 0;
let root = '';

test.before(async () => {
  root = makeTempDir('config-file');
  const address = await allocateAddress('from-file', join(root, 'data'));
  clientPort = address.clientPort;
  const client = `http://${loopbackHost}:${address.clientPort}`;
  const peer = `http://${loopbackHost}:${address.peerPort}`;
  const file = join(root, 'lattice.toml');
  writeFileSync(
    file,
    [
      '[listeners.grpc]',
      `bind = "${loopbackHost}:${address.clientPort}"`,
      `max_connections = ${maxConnections}`,
      `idle_timeout_ms = ${idleTimeoutMs}`,
      '[durability]',
      'mode = "async"',
      '[paths]',
      `data_dir = "${address.dataDir}"`,
      '[etcd]',
      'name = "overridden-by-flag"',
      `advertise-client-urls = "${client}"`,
      `listen-peer-urls = "${peer}"`,
      `initial-advertise-peer-urls = "${peer}"`,
      `initial-cluster = "from-file=${peer}"`,
      'engine = "memory"',
    ].join('\n'),
  );
  server = await launchRestartable(
    { label: 'lattice start --config', command: process.execPath, args: [lattice, 'start', '--config', file, '--name', 'from-file'], cwd: repoRoot, logFile: join(root, 'lattice.log') },
    address,
    () => undefined,
  );
});

test.after(async () => {
  await server?.stop();
  await stopAllProcesses();
  removeAllTempDirs();
});

const connect = (): Promise<net.Socket> =>
  new Promise((resolve, reject) => {
    const s = net.connect(clientPort, loopbackHost, () => resolve(s));
    s.on('error', reject);
  });
const closed = (s: net.Socket): Promise<number> => {
  const t0 = Date.now();
  return new Promise((resolve) => (s.destroyed ? resolve(0) : s.once('close', () => resolve(Date.now() - t0))));
};

it('the server started from the file serves, with the flag winning over the file', async () => {
  const res = await fetch(`http://${loopbackHost}:${clientPort}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: btoa('k'), value: btoa('v') }) });
  assert.is(res.status, 200);
  const members = (await (await fetch(`http://${loopbackHost}:${clientPort}/v3/cluster/member/list`, { method: 'POST', body: '{}' })).json()) as { members: { name: string }[] };
  assert.equal(members.members.map((m) => m.name), ['from-file']);
});

/** A connection the server keeps (not closed within settleMs of being accepted); undefined if it was dropped. */
async function keptConnection(settleMs = 150): Promise<net.Socket | undefined> {
  const s = await connect();
  const dropped = await Promise.race([closed(s).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), settleMs))]);
  return dropped ? undefined : s;
}

/** Connections held by earlier tests (fetch keeps its own alive) are gone once a new one is kept. */
async function freshSlot(): Promise<net.Socket> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const s = await keptConnection();
    if (s !== undefined) return s;
    if (Date.now() > deadline) throw new Error('no connection slot freed up');
  }
}

it('max_connections: a connection past the limit is closed as it is accepted', async () => {
  const open: net.Socket[] = [await freshSlot()];
  let dropped = 0;
  for (let i = 0; i < maxConnections + 1; i++) {
    const s = await keptConnection();
    if (s === undefined) dropped++;
    else open.push(s);
  }
  assert.ok(open.length <= maxConnections, `${open.length} connections kept`);
  assert.ok(dropped >= 1);
  for (const s of open) s.destroy();
});

it('idle_timeout_ms: a connection silent both ways is closed after the idle time', async () => {
  const s = await freshSlot();
  const ms = (await withTimeout(closed(s), 5000, 'the idle connection to be closed')) + 150;
  assert.ok(ms >= idleTimeoutMs - 50 && ms < idleTimeoutMs + 1500, `closed after ${ms} ms`);
});

it('idle_timeout_ms: a gRPC connection with a quiet watch open is kept past the idle time', async () => {
  const client = new Etcd3({ hosts: `http://${loopbackHost}:${clientPort}` });
  try {
    const watcher = await client.watch().key('quiet').create();
    let disconnected = false;
    watcher.on('disconnected', () => (disconnected = true));
    const seen = new Promise<string>((resolve) => watcher.on('put', (kv) => resolve(kv.value.toString())));
    await new Promise((r) => setTimeout(r, idleTimeoutMs * 3));
    const res = await fetch(`http://${loopbackHost}:${clientPort}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: btoa('quiet'), value: btoa('still-here') }) });
    assert.is(res.status, 200);
    assert.is(await withTimeout(seen, 5000, 'the watch event'), 'still-here');
    assert.is(disconnected, false, 'the watch stream was cut while it waited');
    await watcher.cancel();
  } finally {
    client.close();
  }
});

it('idle_timeout_ms: a gRPC connection is closed once its last call has ended and it stayed idle', async () => {
  const session = http2.connect(`http://${loopbackHost}:${clientPort}`);
  session.on('error', () => undefined);
  let endedAt: number | undefined;
  const ended = new Promise<void>((resolve) => {
    const done = (): void => {
      endedAt ??= Date.now();
      resolve();
    };
    session.on('goaway', done);
    session.on('close', done);
  });
  try {
    const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.Watch/Watch', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    stream.on('data', () => undefined);
    const message = WatchRequest.encode(WatchRequest.fromPartial({ createRequest: { key: Buffer.from('idle') } })).finish();
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    stream.write(frame);
    await new Promise((r) => setTimeout(r, idleTimeoutMs * 3));
    assert.is(endedAt, undefined, 'the connection was closed while its watch was open');
    const cancelledAt = Date.now();
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await withTimeout(ended, idleTimeoutMs * 6, 'the connection to be closed after its last call');
    assert.ok((endedAt ?? 0) - cancelledAt >= idleTimeoutMs - 100, `closed ${(endedAt ?? 0) - cancelledAt} ms after the call ended`);
  } finally {
    session.destroy();
  }
});

it('a bad file stops the start with exit 1, naming the key and the line', async () => {
  const bad = join(root, 'bad.toml');
  writeFileSync(bad, '[durability]\nmode = "sync"\nfsync = "always"\n');
  const r = await runCommand(process.execPath, [lattice, '--config', bad]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /bad\.toml:3: durability\.fsync: unknown key/);
});

it('lattice config check exits 0 for the example and 1 with the messages for a bad file; print shows flags applied', async () => {
  const ok = await runCommand(process.execPath, [lattice, 'config', 'check', repoPath('examples', 'lattice.toml')]);
  assert.is(ok.code, 0, ok.stderr);
  const bad = join(root, 'syntax.toml');
  writeFileSync(bad, '[etcd]\nname = \n');
  const ko = await runCommand(process.execPath, [lattice, 'config', 'check', bad]);
  assert.is(ko.code, 1);
  assert.match(ko.stderr, /syntax\.toml:2:\d+: TOML syntax error/);
  const printed = await runCommand(process.execPath, [lattice, 'config', 'print', '--config', repoPath('examples', 'lattice.toml'), '--durability', 'quorum'], { env: { ...process.env, ETCD_NAME: 'env-name' } });
  assert.is(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /\[durability\]\nmode = "quorum"/);
  assert.match(printed.stdout, /\nname = "env-name"\n/);
});

it('min_tls_version 1.3: a TLS 1.2 client is refused, a TLS 1.3 client is served', async () => {
  const material = { cert: readFileSync(tlsFixture('server.pem')), key: readFileSync(tlsFixture('server-key.pem')), ca: undefined, crl: undefined };
  const options = secureContextOptions(material, { ...noTransportSecurity, minVersion: 'TLSv1.3' });
  const tlsServer = tls.createServer(options, (s) => s.end('hi'));
  await new Promise<void>((r) => tlsServer.listen(0, loopbackHost, r));
  const port = (tlsServer.address() as net.AddressInfo).port;
  const attempt = (maxVersion: tls.SecureVersion): Promise<string> =>
    new Promise((resolve) => {
      const s = tls.connect({ port, host: loopbackHost, rejectUnauthorized: false, maxVersion }, () => {
        resolve(`ok ${s.getProtocol()}`);
        s.destroy();
      });
      s.on('error', (e) => resolve(`refused: ${e.message}`));
    });
  try {
    assert.match(await attempt('TLSv1.2'), /^refused/);
    assert.is(await attempt('TLSv1.3'), 'ok TLSv1.3');
  } finally {
    tlsServer.close();
  }
});

test.run();
