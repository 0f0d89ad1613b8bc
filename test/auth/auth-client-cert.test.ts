// With --client-cert-auth and auth enabled, a client that sends no token is the user named by its
// verified certificate's Common Name (etcd's AuthInfoFromTLS): etcdctl and Go clientv3 with only a
// certificate get exactly that user's permissions, on Lattice (both engines) as on etcd 3.4. The
// JSON gateway never takes the certificate's CN for the user (etcd's gateway is a proxy whose own
// certificate must not authenticate anyone): etcd refuses such requests outright.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import * as assert from 'uvu/assert';
import { etcdctl, errorLines } from '../helpers/etcdctl.js';
import { buildGoProgram } from '../helpers/go-build.js';
import { engines } from '../helpers/lattice-server.js';
import { runCommand } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { etcdctlTlsFlags, mtlsServerFlags, startTlsServer, tlsFixture, type ServerKind, type TlsServer } from '../helpers/tls-servers.js';
import { missingTools } from '../helpers/tools.js';

/** What etcd answered, by step; the Lattice suites run later and compare. */
const etcdAnswers = new Map<string, unknown>();

function record(kind: ServerKind, step: string, answer: unknown): void {
  if (kind === 'etcd') etcdAnswers.set(step, answer);
  else if (etcdAnswers.has(step)) assert.equal(answer, etcdAnswers.get(step), `${step}: Lattice answers as etcd`);
}

/** As the certificate CN=root (the fixtures' client.pem) before auth is on: users, a role, then enable. */
async function setUp(server: TlsServer): Promise<void> {
  const as = (args: string[]) => etcdctl(server.endpoint, [...etcdctlTlsFlags('client'), ...args]);
  for (const args of [
    ['user', 'add', 'root:rootpw'],
    ['user', 'grant-role', 'root', 'root'],
    ['role', 'add', 'app'],
    ['role', 'grant-permission', 'app', 'readwrite', '/app/', '--prefix'],
    ['user', 'add', 'alice:alicepw'],
    ['user', 'grant-role', 'alice', 'app'],
    ['put', '/other', 'x'],
    ['auth', 'enable'],
  ]) {
    const r = await as(args);
    assert.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
}

const answer = async (server: TlsServer, cert: string, args: string[]): Promise<string> => {
  const r = await etcdctl(server.endpoint, [...etcdctlTlsFlags(cert), ...args]);
  return r.code === 0 ? r.stdout : errorLines(r.stderr).join('\n');
};

/** POST over HTTPS with the named client certificate and no token: "<status> <body>". */
function gatewayPost(server: TlsServer, cert: string, path: string, body: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.endpoint}${path}`,
      {
        method: 'POST',
        ca: readFileSync(tlsFixture('ca.pem')),
        cert: readFileSync(tlsFixture(`${cert}.pem`)),
        key: readFileSync(tlsFixture(`${cert}-key.pem`)),
        headers: { 'Content-Type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(`${res.statusCode ?? 0} ${text.trim()}`));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function suite(kind: ServerKind, engine: 'memory' | 'rocksdb' | undefined): void {
  const name = `the client certificate's CN as the user (${kind}${engine === undefined ? '' : ` --engine ${engine}`})`;
  const needed = missingTools(kind === 'etcd' ? ['etcd', 'etcdctl', 'go'] : ['etcdctl', 'go']);
  const s = serverSuite(name, () => startTlsServer(kind, { ...(engine === undefined ? {} : { engine }), flags: mtlsServerFlags() }), needed);

  s.it('etcdctl with only a certificate gets the permissions of the user its CN names', async (server) => {
    await setUp(server);
    const steps = {
      alicePutsInside: await answer(server, 'client-alice', ['put', '/app/x', '1']),
      alicePutsOutside: await answer(server, 'client-alice', ['put', '/other', '2']),
      aliceReadsOutside: await answer(server, 'client-alice', ['get', '/other']),
      aliceListsUsers: await answer(server, 'client-alice', ['user', 'list']),
      rootReadsOutside: await answer(server, 'client', ['get', '/other', '--print-value-only']),
      rootListsUsers: await answer(server, 'client', ['user', 'list']),
      // A token wins over the certificate: alice's password as root's certificate.
      passwordOverCert: await answer(server, 'client', ['--user', 'alice:alicepw', 'get', '/other']),
    };
    assert.equal(steps, {
      alicePutsInside: 'OK\n',
      alicePutsOutside: 'Error: etcdserver: permission denied',
      aliceReadsOutside: 'Error: etcdserver: permission denied',
      aliceListsUsers: 'Error: etcdserver: permission denied',
      rootReadsOutside: 'x\n',
      rootListsUsers: 'alice\nroot\n',
      passwordOverCert: 'Error: etcdserver: permission denied',
    });
    record(kind, 'etcdctl', steps);
  }, 120_000);

  s.it('the JSON gateway refuses a certificate with a CN outright (etcd 3.4: it would be ignored, not used as the user)', async (server) => {
    // users and auth are set up by the first test (same server); client.pem's CN is root
    const steps = {
      range: await gatewayPost(server, 'client', '/v3/kv/range', { key: Buffer.from('/other').toString('base64') }),
      betaUserList: await gatewayPost(server, 'client', '/v3beta/auth/user/list', {}),
    };
    const refused = '400 CommonName of client sending a request against gateway will be ignored and not used as expected';
    assert.equal(steps, { range: refused, betaUserList: refused });
    record(kind, 'gateway', steps);
  }, 60_000);

  s.it('Go clientv3 with only a certificate writes where its CN may and is refused elsewhere', async (server) => {
    const binary = await buildGoProgram('tlsclient');
    const certArgs = ['--cacert', tlsFixture('ca.pem'), '--cert', tlsFixture('client-alice.pem'), '--key', tlsFixture('client-alice-key.pem')];
    const inside = await runCommand(binary, ['put', '--endpoints', server.endpoint, ...certArgs, '--key-name', '/app/go'], { timeoutMs: 60_000 });
    const outside = await runCommand(binary, ['put', '--endpoints', server.endpoint, ...certArgs, '--key-name', '/other'], { timeoutMs: 60_000 });
    const steps = { inside: inside.stdout.trim(), outside: outside.stdout.trim() };
    assert.equal(steps, { inside: '{"ok":true}', outside: '{"error":"etcdserver: permission denied","ok":false}' });
    record(kind, 'go', steps);
  }, 300_000);

  s.run();
}

suite('etcd', undefined);
for (const engine of engines) suite('lattice', engine);
