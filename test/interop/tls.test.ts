// Client TLS against Lattice (both engines) and real etcd 3.4 with the same flags: etcdctl, the npm
// etcd3 client (with a certificate, then with a username and password too, across a restart) and curl (HTTP/1.1 and HTTP/2) over https with client certificates (mTLS with a CRL); clients without a
// valid certificate (none, another CA's, expired, revoked) cannot complete the handshake; bad input
// on the TLS port (plaintext, a stalled handshake) is refused without harming anyone else.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import { etcdctl } from '../helpers/etcdctl.js';
import { engines } from '../helpers/lattice-server.js';
import { loopbackHost } from '../helpers/free-port.js';
import { runCommand, spawnProcess, waitUntil } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools, skip } from '../helpers/tools.js';
import { buildGoProgram } from '../helpers/go-build.js';
import { setUpUsers } from '../auth/auth-clients.js';
import { etcdctlTlsFlags, mtlsServerFlags, startTlsServer, tlsFixture, type ServerKind, type TlsServer } from '../helpers/tls-servers.js';

const put = (s: TlsServer, cert: string | undefined, key: string, value: string) => etcdctl(s.endpoint, [...etcdctlTlsFlags(cert), 'put', key, value]);
const get = (s: TlsServer, cert: string | undefined, key: string) => etcdctl(s.endpoint, [...etcdctlTlsFlags(cert), '--dial-timeout=2s', 'get', key, '--print-value-only']);
/** A get expected to fail at the handshake: etcdctl would otherwise wait out its whole command timeout. */
const refusedGet = (s: TlsServer, cert: string | undefined, key: string) =>
  etcdctl(s.endpoint, [...etcdctlTlsFlags(cert), '--dial-timeout=1s', '--command-timeout=2s', 'get', key, '--print-value-only']);

/**
 * How the server ends a TLS connection from a client with `cert`: the alert it sent ("error <code>
 * <message>"), "closed <ms>" when it closed without one, or "timeout". With TLS 1.3 the server checks
 * the client's certificate after the client has finished its side, so etcdctl (grpc-go) only sees the
 * connection close ("all SubConns are in TransientFailure"); this client reads the alert itself.
 */
function tlsProbe(s: TlsServer, cert: string | undefined): Promise<string> {
  const url = new URL(s.endpoint);
  const started = Date.now();
  return new Promise((resolve) => {
    const sock = tls.connect(
      {
        host: loopbackHost,
        port: Number(url.port),
        servername: 'localhost',
        ALPNProtocols: ['h2'],
        ca: readFileSync(tlsFixture('ca.pem')),
        ...(cert === undefined ? {} : { cert: readFileSync(tlsFixture(`${cert}.pem`)), key: readFileSync(tlsFixture(`${cert}-key.pem`)) }),
      },
      () => sock.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    );
    const timer = setTimeout(() => {
      sock.destroy();
      resolve('timeout');
    }, 5_000);
    sock.on('data', () => undefined);
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`error ${e.code ?? ''} ${e.message}`);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(`closed ${Date.now() - started}`);
    });
  });
}

const curl = (args: string[]) => runCommand('curl', ['-sS', '--max-time', '10', ...args], { timeoutMs: 20_000 });
/** The npm etcd3 client's TLS settings with the fixtures' client certificate. */
const clientCredentials = (): { rootCertificate: Buffer; certChain: Buffer; privateKey: Buffer } => ({
  rootCertificate: readFileSync(tlsFixture('ca.pem')),
  certChain: readFileSync(tlsFixture('client.pem')),
  privateKey: readFileSync(tlsFixture('client-key.pem')),
});
const curlCert = (cert: string): string[] => ['--cacert', tlsFixture('ca.pem'), '--cert', tlsFixture(`${cert}.pem`), '--key', tlsFixture(`${cert}-key.pem`)];

/**
 * A documented difference (docs/limitations.md, "TLS"): Lattice closes a TLS 1.3 connection whose
 * client certificate is untrusted or expired without an alert; etcd sends bad_certificate (42).
 * Node's rejectUnauthorized checks the certificate in JavaScript after the handshake and destroys
 * the socket; its TLS API has no way to send the alert. The probe accepts a prompt close for those.
 */
const closesWithoutAlert = (kind: ServerKind, cert: string | undefined): boolean => kind === 'lattice' && (cert === 'client-other-ca' || cert === 'client-expired');

function mtlsSuite(kind: ServerKind, engine: 'memory' | 'rocksdb' | undefined): void {
  // an expired CRL: etcd does not look at its dates, so it still refuses what it lists and nobody else
  const name = `mTLS with an expired CRL (${kind}${engine === undefined ? '' : ` --engine ${engine}`})`;
  const needed = kind === 'etcd' ? missingTools(['etcd', 'etcdctl']) : missingTools(['etcdctl']);
  const s = serverSuite(name, () => startTlsServer(kind, { ...(engine === undefined ? {} : { engine }), flags: mtlsServerFlags('crl-expired.pem'), plain: true }), needed);

  s.it('etcdctl with a client certificate puts, gets and watches over https', async (server) => {
    const w = spawnProcess({
      name: 'etcdctl watch',
      command: 'etcdctl',
      args: ['--endpoints', server.endpoint, ...etcdctlTlsFlags('client'), 'watch', 'tls/watched'],
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    try {
      // the watch is set up once its connection is; a put repeated until the watch prints it
      const p = await put(server, 'client', 'tls/k', 'v1');
      assert.is(p.code, 0, p.stderr);
      const g = await get(server, 'client', 'tls/k');
      assert.is(g.stdout.trim(), 'v1');
      await waitUntil(
        async () => {
          await put(server, 'client', 'tls/watched', 'seen');
          return w.output().includes('seen');
        },
        { timeoutMs: 20_000, what: 'the watch over TLS to print the put' },
      );
    } finally {
      await w.stop();
    }
  });

  s.it('member list advertises the https client URL', async (server) => {
    const r = await etcdctl(server.endpoint, [...etcdctlTlsFlags('client'), 'member', 'list']);
    assert.is(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(server.endpoint), r.stdout);
  });

  for (const [who, cert] of [
    ['no certificate', undefined],
    ['a certificate from another CA', 'client-other-ca'],
    ['an expired certificate', 'client-expired'],
    ['a revoked certificate (listed in the expired CRL)', 'client-revoked'],
  ] as const) {
    s.it(`a client with ${who} cannot get a key: the server ends its handshake at once`, async (server) => {
      const r = await refusedGet(server, cert, 'tls/k');
      assert.is.not(r.code, 0, `expected a failure, got ${r.stdout}`);
      // every connection attempt failed (TransientFailure); a server that stalled the handshake
      // would leave the dial pending and etcdctl would say only "desc = context deadline exceeded"
      assert.match(r.stderr, /all SubConns are in TransientFailure/, r.stderr);
      const probe = await tlsProbe(server, cert);
      const alert = /^error \S*ALERT\S* .*(certificate|unknown ca|handshake)/i.test(probe);
      const closedAtOnce = Number(/^closed (\d+)$/.exec(probe)?.[1] ?? Infinity) < 1_000;
      // etcd checks its CRL once the handshake is done and closes the connection without an alert
      if (cert === 'client-revoked' || closesWithoutAlert(kind, cert)) assert.ok(alert || closedAtOnce, probe);
      else assert.ok(alert, `expected a TLS alert naming the certificate, got: ${probe}`);
    });
  }

  s.it('the same port still serves after refused handshakes (plain listener beside it too)', async (server) => {
    const r = await get(server, 'client', 'tls/k');
    assert.is(r.code, 0, r.stderr);
    if (server.plainEndpoint !== undefined) {
      const plain = await etcdctl(server.plainEndpoint, ['get', 'tls/k', '--print-value-only']);
      assert.is(plain.code, 0, plain.stderr);
    }
  });

  s.it('curl over https reaches /health and the JSON gateway with a client certificate', async (server) => {
    const health = await curl([...curlCert('client'), `${server.endpoint}/health`]);
    assert.is(health.code, 0, health.stderr);
    assert.ok(health.stdout.includes('"health":"true"'), health.stdout);
    const range = await curl([...curlCert('client'), '-X', 'POST', '-d', JSON.stringify({ key: Buffer.from('tls/k').toString('base64') }), `${server.endpoint}/v3/kv/range`]);
    assert.is(range.code, 0, range.stderr);
    assert.ok(range.stdout.includes(Buffer.from('v1').toString('base64')), range.stdout);
    const refused = await curl(['--cacert', tlsFixture('ca.pem'), `${server.endpoint}/health`]);
    assert.is.not(refused.code, 0, `curl without a certificate got ${refused.stdout}`);
  });

  s.it('curl --http2 gets /health and the JSON gateway over HTTP/2 on the same https port', async (server) => {
    const h2 = (path: string, extra: string[] = []) => curl(['--http2', '-w', '\n%{http_version} %{http_code}', ...curlCert('client'), ...extra, `${server.endpoint}${path}`]);
    const health = await h2('/health');
    assert.is(health.code, 0, health.stderr);
    assert.is(health.stdout, '{"health":"true"}\n2 200');
    const range = await h2('/v3/kv/range', ['-X', 'POST', '-d', JSON.stringify({ key: Buffer.from('tls/k').toString('base64') })]);
    assert.ok(range.stdout.includes(Buffer.from('v1').toString('base64')) && range.stdout.endsWith('\n2 200'), range.stdout);
    const missing = await h2('/no/such/path');
    assert.is(missing.stdout, '404 page not found\n\n2 404');
  });

  s.it('the npm etcd3 client with a client certificate puts and gets over https', async (server) => {
    const client = new Etcd3({
      hosts: server.endpoint,
      credentials: clientCredentials(),
    });
    try {
      await client.put('tls/etcd3').value('over-tls');
      assert.is(await client.get('tls/etcd3').string(), 'over-tls');
    } finally {
      client.close();
    }
  });

  const noGo = missingTools(['go']);
  if (noGo !== null) skip(`${name}: Go clientv3 with a client certificate: ${noGo}`);
  else {
    s.it('Go clientv3 with a client certificate puts, gets and watches over https', async (server) => {
      const binary = await buildGoProgram('tlsclient');
      const certArgs = (cert: string): string[] => ['--cacert', tlsFixture('ca.pem'), '--cert', tlsFixture(`${cert}.pem`), '--key', tlsFixture(`${cert}-key.pem`)];
      const ok = await runCommand(binary, ['check', '--endpoints', server.endpoint, ...certArgs('client')], { timeoutMs: 60_000 });
      assert.is(ok.code, 0, ok.stdout + ok.stderr);
      assert.equal(JSON.parse(ok.stdout.trim()) as unknown, { ok: true, get: 'from-go', watch: 'event' });
      const refused = await runCommand(binary, ['check', '--endpoints', server.endpoint, '--dial-timeout', '2s', '--call-timeout', '2s', ...certArgs('client-revoked')], { timeoutMs: 60_000 });
      assert.is.not(refused.code, 0, refused.stdout);
    }, 300_000);
  }

  if (kind === 'lattice') {
    s.it('plaintext sent to the TLS port is refused, logged once, and other clients are served', async (server) => {
      const url = new URL(server.endpoint);
      for (let i = 0; i < 5; i++) {
        const closed = await new Promise<boolean>((resolve) => {
          const sock = net.connect(Number(url.port), loopbackHost, () => sock.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
          sock.on('error', () => undefined);
          sock.on('close', () => resolve(true));
          setTimeout(() => {
            sock.destroy();
            resolve(false);
          }, 5_000);
        });
        assert.ok(closed, 'the server closed the plaintext connection');
      }
      const r = await get(server, 'client', 'tls/k');
      assert.is(r.code, 0, r.stderr);
      const log = readFileSync(server.logFile, 'utf8');
      const lines = log.split('\n').filter((l) => l.includes('client TLS handshake') && l.includes('failed'));
      // one line per minute, however many were refused
      assert.ok(lines.length >= 1 && lines.length <= 2, `refusals logged ${lines.length} times`);
    });

    s.it('a client that stalls mid-handshake is dropped by the handshake timeout; others are served meanwhile', async (server) => {
      const url = new URL(server.endpoint);
      const started = Date.now();
      const closedAfterMs = new Promise<number>((resolve) => {
        const sock = net.connect(Number(url.port), loopbackHost, () => sock.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x01])));
        sock.on('error', () => undefined);
        sock.on('close', () => resolve(Date.now() - started));
      });
      const r = await get(server, 'client', 'tls/k');
      assert.is(r.code, 0, r.stderr);
      const ms = await closedAfterMs;
      assert.ok(ms >= 9_000 && ms < 20_000, `closed after ${ms} ms`);
    }, 30_000);
  }

  // last: it turns auth on and restarts the server. The engine plays no part in it (a restart of
  // rocksdb costs seconds): Lattice on memory, and etcd
  if (engine !== 'rocksdb') s.it('the npm etcd3 client with a username and password over mTLS authenticates again after a restart made its token invalid', async (server) => {
    assert.ok(server.plainEndpoint !== undefined);
    await setUpUsers(server.plainEndpoint);
    const client = new Etcd3({
      hosts: server.endpoint,
      credentials: clientCredentials(),
      auth: { username: 'alice', password: 'apw' },
    });
    try {
      await client.put('/a/tls').value('before');
      assert.is(await client.get('/a/tls').string(), 'before');
      // the token, not the certificate's CN (root), is the identity: alice may not write outside /a/
      const denied = await client.put('/b/tls').value('x').then(() => 'allowed', (e: Error) => e.message);
      assert.match(denied, /permission denied/);
      await server.restart();
      await client.put('/a/tls').value('after');
      assert.is(await client.get('/a/tls').string(), 'after');
    } finally {
      client.close();
    }
  });
  s.run();
}

for (const engine of engines) mtlsSuite('lattice', engine);
mtlsSuite('etcd', undefined);

function autoTlsSuite(kind: ServerKind, engine: 'memory' | 'rocksdb' | undefined): void {
  const name = `--auto-tls (${kind}${engine === undefined ? '' : ` --engine ${engine}`})`;
  const needed = kind === 'etcd' ? missingTools(['etcd', 'etcdctl']) : missingTools(['etcdctl']);
  const s = serverSuite(name, () => startTlsServer(kind, { ...(engine === undefined ? {} : { engine }), flags: ['--auto-tls'] }), needed);
  s.it('etcdctl --insecure-skip-tls-verify puts and gets against the self-signed certificate', async (server) => {
    const flags = ['--insecure-transport=false', '--insecure-skip-tls-verify'];
    const p = await etcdctl(server.endpoint, [...flags, 'put', 'auto', 'tls']);
    assert.is(p.code, 0, p.stderr);
    const g = await etcdctl(server.endpoint, [...flags, 'get', 'auto', '--print-value-only']);
    assert.is(g.stdout.trim(), 'tls');
  });
  s.it('without --insecure-skip-tls-verify etcdctl refuses the self-signed certificate', async (server) => {
    const g = await etcdctl(server.endpoint, ['--insecure-transport=false', '--dial-timeout=1s', '--command-timeout=2s', 'get', 'auto']);
    assert.is.not(g.code, 0);
    // each handshake failed (grpc-go hides the x509 error behind this); a stalled dial reads otherwise
    assert.match(g.stderr, /all SubConns are in TransientFailure/, g.stderr);
  });
  s.run();
}

for (const engine of engines) autoTlsSuite('lattice', engine);
autoTlsSuite('etcd', undefined);
