// CRLs as etcd reads them (pkg/transport checkCRL): the revoked serials alone count. An expired CRL
// (nextUpdate passed) still refuses the certificates it lists and nobody else, on the client port
// and on the peer port, after the handshake; a replaced CRL reaches new connections; a member
// dialing a peer does not check the peer's certificate against its CRL. Servers run in process.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { copyFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import { startClientPort, type ClientPort } from '../../src/adapters/client-port.js';
import { canonicalSerial, parseCrl } from '../../src/tls/crl.js';
import { TlsSide } from '../../src/tls/tls-side.js';
import { noTransportSecurity, type TransportSecurity } from '../../src/tls/transport-security.js';
import { defaultPeerHttp2Limits, dialPeer, listenPeerUrl, type PeerListener } from '../../src/peer/peer-endpoints.js';
import { FakeServerApi } from '../adapters/fake-server-api.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { tlsFixture } from '../helpers/tls-servers.js';
import { withTimeout } from '../helpers/spec.js';

const t = suite('CRL (etcd semantics)');
const it = (name: string, body: () => Promise<void> | void): void => t(name, () => withTimeout(Promise.resolve().then(body), 20_000, name));

const serialOf = (cert: string): string => canonicalSerial(new crypto.X509Certificate(readFileSync(tlsFixture(`${cert}.pem`))).serialNumber);
const revokedOf = (bytes: Buffer): ReadonlySet<string> => {
  const r = parseCrl(bytes);
  if (!r.ok) throw new Error(r.error);
  return r.revoked;
};

it('a PEM CRL and the same CRL as DER list the revoked serials, an empty one none', () => {
  const pem = readFileSync(tlsFixture('crl.pem'));
  const fromPem = revokedOf(pem);
  assert.equal([...fromPem].sort(), [serialOf('client-revoked'), serialOf('peer-revoked')].sort());
  assert.not.ok(fromPem.has(serialOf('client')));
  const der = Buffer.from(pem.toString().replace(/-----[A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  assert.equal([...revokedOf(der)].sort(), [...fromPem].sort());
  assert.is(revokedOf(readFileSync(tlsFixture('crl-empty.pem'))).size, 0);
});

it('the expired CRL fixture is expired and still lists the revoked serials', () => {
  const text = readFileSync(tlsFixture('crl-expired.pem'));
  assert.ok(revokedOf(text).has(serialOf('client-revoked')));
  const nextUpdate = execFileSync('openssl', ['crl', '-in', tlsFixture('crl-expired.pem'), '-noout', '-nextupdate'], { encoding: 'utf8' }).trim().replace(/^nextUpdate=/, '');
  assert.ok(Date.parse(nextUpdate) < Date.now(), `nextUpdate ${nextUpdate} has not passed`);
});

it("the intermediate CA fixture's CRL lists the intermediate (serial 4242) and nothing the root issued to clients", () => {
  const revoked = revokedOf(readFileSync(tlsFixture('crl-intermediate.pem')));
  assert.equal([...revoked], ['4242']);
  assert.is(serialOf('intermediate-ca'), '4242');
});

it('serials compare by magnitude (leading zeros, sign and case do not matter)', () => {
  assert.is(canonicalSerial('00ab'), 'AB');
  assert.is(canonicalSerial('-0Ab'), 'AB');
  assert.is(canonicalSerial('0'), '0');
});

it('garbage and a PEM without a CRL block are refused with a reason', () => {
  const garbage = parseCrl(Buffer.from([0x30, 0x82, 0xff, 0xff, 0x01]));
  assert.ok(!garbage.ok && garbage.error.startsWith('malformed CRL'), JSON.stringify(garbage));
  const noBlock = parseCrl(readFileSync(tlsFixture('ca.pem')));
  assert.ok(!noBlock.ok && noBlock.error.includes('no X509 CRL block'), JSON.stringify(noBlock));
});

// --- servers -----------------------------------------------------------------------------------------

let dir = '';
let clientSide: TlsSide | undefined;
let peerSide: TlsSide | undefined;
let port: ClientPort | undefined;
let peer: PeerListener | undefined;
let clientUrl = '';
let peerUrl = '';

const security = (cert: string, crlFile: string): TransportSecurity => ({
  ...noTransportSecurity,
  files: { certFile: tlsFixture(`${cert}.pem`), keyFile: tlsFixture(`${cert}-key.pem`), trustedCaFile: tlsFixture('ca.pem'), crlFile },
  clientCertAuth: true,
});
const openSide = async (kind: 'client' | 'peer', s: TransportSecurity): Promise<TlsSide> => {
  const side = await TlsSide.open(s, { kind, dataDir: dir, listenUrls: [], log: () => undefined, pollIntervalMs: 0 });
  if (side === undefined) throw new Error('no TLS side');
  return side;
};
const replaceFile = (from: string, to: string): void => {
  copyFileSync(from, `${to}.new`);
  renameSync(`${to}.new`, to);
};

t.before(async () => {
  dir = makeTempDir('crl');
  copyFileSync(tlsFixture('crl-expired.pem'), join(dir, 'client-crl.pem'));
  copyFileSync(tlsFixture('crl-expired.pem'), join(dir, 'peer-crl.pem'));
  clientSide = await openSide('client', security('server', join(dir, 'client-crl.pem')));
  peerSide = await openSide('peer', security('peer', join(dir, 'peer-crl.pem')));
  port = await startClientPort({ listenUrls: ['https://127.0.0.1:0'], api: new FakeServerApi(), log: () => undefined, tls: clientSide });
  clientUrl = `https://127.0.0.1:${port.addresses[0]?.port ?? 0}`;
  peer = await listenPeerUrl('https://127.0.0.1:0', defaultPeerHttp2Limits, 8, (stream) => stream.respond({ ':status': 200 }, { endStream: true }), () => undefined, peerSide);
  peerUrl = `https://127.0.0.1:${peer.address.port}`;
});

t.after(async () => {
  await port?.close();
  await new Promise<void>((resolve) => (peer === undefined ? resolve() : peer.server.close(() => resolve())));
  clientSide?.close();
  peerSide?.close();
  if (dir !== '') removeTempDir(dir);
});

const credentials = (cert: string): Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'servername'> => ({
  servername: 'localhost',
  ca: readFileSync(tlsFixture('ca.pem')),
  cert: readFileSync(tlsFixture(`${cert}.pem`)),
  key: readFileSync(tlsFixture(`${cert}-key.pem`)),
});

/** GET /health over HTTPS/1.1 with a client certificate: 'served' or 'refused' (the server closed after the handshake). */
function clientPortOutcome(cert: string): Promise<'served' | 'refused'> {
  return new Promise((resolve) => {
    const req = https.get(`${clientUrl}/health`, { ...credentials(cert), agent: false }, (res) => {
      res.resume();
      resolve('served');
    });
    req.on('error', () => resolve('refused'));
  });
}

/** One HTTP/2 request to the client port (ALPN h2): a gRPC call or GET /health through the HTTP bridge. */
function clientPortH2Outcome(cert: string, kind: 'grpc' | 'http'): Promise<'served' | 'refused'> {
  return new Promise((resolve) => {
    const session = http2.connect(clientUrl, credentials(cert));
    session.on('error', () => resolve('refused'));
    session.on('close', () => resolve('refused'));
    const headers =
      kind === 'grpc'
        ? { ':method': 'POST', ':path': '/etcdserverpb.Maintenance/Status', 'content-type': 'application/grpc', te: 'trailers' }
        : { ':path': '/health' };
    const req = session.request(headers);
    req.on('response', (h) => {
      resolve(h[':status'] === 200 ? 'served' : 'refused');
      session.close();
    });
    req.on('error', () => resolve('refused'));
    // an empty Status request: one uncompressed message of length 0
    req.end(kind === 'grpc' ? Buffer.alloc(5) : undefined);
  });
}

/** One HTTP/2 request to the peer port with a client certificate. */
function peerPortOutcome(cert: string): Promise<'served' | 'refused'> {
  return new Promise((resolve) => {
    const session = http2.connect(peerUrl, credentials(cert));
    session.on('error', () => resolve('refused'));
    session.on('close', () => resolve('refused'));
    const req = session.request({ ':path': '/raft/probing' });
    req.on('response', () => {
      resolve('served');
      session.close();
    });
    req.on('error', () => resolve('refused'));
    req.end();
  });
}

it('client port with an expired CRL: the certificate it lists is refused, others are served (HTTPS, gRPC, HTTP over h2)', async () => {
  assert.is(await clientPortOutcome('client-revoked'), 'refused');
  assert.is(await clientPortOutcome('client'), 'served');
  assert.is(await clientPortH2Outcome('client-revoked', 'grpc'), 'refused');
  assert.is(await clientPortH2Outcome('client-revoked', 'http'), 'refused');
  assert.is(await clientPortH2Outcome('client', 'grpc'), 'served');
  assert.is(await clientPortH2Outcome('client', 'http'), 'served');
  const grpc = new Etcd3({ hosts: clientUrl, credentials: { rootCertificate: readFileSync(tlsFixture('ca.pem')), certChain: readFileSync(tlsFixture('client.pem')), privateKey: readFileSync(tlsFixture('client-key.pem')) } });
  try {
    assert.is(await grpc.get('anything').string(), null);
  } finally {
    grpc.close();
  }
});

it('a TLS 1.2 client asking to renegotiate after the checks (it could present another certificate) is dropped', async () => {
  const outcome = await new Promise<string>((resolve) => {
    const socket = tlsConnect({ ...credentials('client'), host: '127.0.0.1', port: Number(new URL(clientUrl).port), maxVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] }, () => {
      // a request answered first: the server has made its checks
      socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
      socket.once('data', () => {
        socket.renegotiate({ rejectUnauthorized: true }, (err) => resolve(err === null ? 'renegotiated' : 'refused'));
      });
    });
    socket.on('error', () => resolve('refused'));
    socket.on('close', () => resolve('refused'));
  });
  assert.is(outcome, 'refused');
});

it('peer port with an expired CRL: the peer certificate it lists is refused, a good one is served', async () => {
  assert.is(await peerPortOutcome('peer-revoked'), 'refused');
  assert.is(await peerPortOutcome('peer'), 'served');
});

it('peer port: the same peer certificate is served once the CRL no longer lists it', async () => {
  replaceFile(tlsFixture('crl-empty.pem'), join(dir, 'peer-crl.pem'));
  await peerSide?.context.poll();
  try {
    assert.is(await peerPortOutcome('peer-revoked'), 'served');
  } finally {
    replaceFile(tlsFixture('crl-expired.pem'), join(dir, 'peer-crl.pem'));
    await peerSide?.context.poll();
  }
  assert.is(await peerPortOutcome('peer-revoked'), 'refused');
});

/** GET /health on a client port of its own with the given CA bundle and CRL, as a client sending `certFile`. */
async function intermediateOutcome(trustedCa: string, crl: string, certFile: string): Promise<'served' | 'refused'> {
  const side = await openSide('client', { ...security('server', crl), files: { ...security('server', crl).files, trustedCaFile: trustedCa } });
  const own = await startClientPort({ listenUrls: ['https://127.0.0.1:0'], api: new FakeServerApi(), log: () => undefined, tls: side });
  try {
    return await new Promise((resolve) => {
      const options = { ...credentials('client-via-intermediate'), cert: readFileSync(tlsFixture(certFile)), agent: false };
      const req = https.get(`https://127.0.0.1:${own.addresses[0]?.port ?? 0}/health`, options, (res) => {
        res.resume();
        resolve(res.statusCode === 200 ? 'served' : 'refused');
      });
      req.on('error', () => resolve('refused'));
    });
  } finally {
    await own.close();
    side.close();
  }
}

it("a revoked intermediate CA is refused whether the client sent it or our trusted CAs hold it (etcd's checkCRL: every certificate sent)", async () => {
  const rootOnly = tlsFixture('ca.pem');
  // the client sends leaf + intermediate: refused with the root's CRL revoking 4242, served with a CRL that does not
  assert.is(await intermediateOutcome(rootOnly, tlsFixture('crl-intermediate.pem'), 'client-via-intermediate-chain.pem'), 'refused');
  assert.is(await intermediateOutcome(rootOnly, tlsFixture('crl.pem'), 'client-via-intermediate-chain.pem'), 'served');
  // the intermediate is in our CA bundle and the client sends its leaf alone
  const bundle = join(dir, 'ca-with-intermediate.pem');
  writeFileSync(bundle, Buffer.concat([readFileSync(tlsFixture('ca.pem')), readFileSync(tlsFixture('intermediate-ca.pem'))]));
  assert.is(await intermediateOutcome(bundle, tlsFixture('crl-intermediate.pem'), 'client-via-intermediate.pem'), 'refused');
  assert.is(await intermediateOutcome(bundle, tlsFixture('crl.pem'), 'client-via-intermediate.pem'), 'served');
});

it('a replaced CRL reaches new connections (an empty one lets the formerly revoked certificate in); an unparsable one is not taken', async () => {
  replaceFile(tlsFixture('crl-empty.pem'), join(dir, 'client-crl.pem'));
  await clientSide?.context.poll();
  assert.is(clientSide?.context.reloadCount, 1);
  assert.is(await clientPortOutcome('client-revoked'), 'served');
  replaceFile(tlsFixture('crl.pem'), join(dir, 'client-crl.pem'));
  await clientSide?.context.poll();
  assert.is(await clientPortOutcome('client-revoked'), 'refused');
  // a file that is no CRL is not taken: the previous list stays
  replaceFile(tlsFixture('ca.pem'), join(dir, 'client-crl.pem'));
  await clientSide?.context.poll();
  assert.is(clientSide?.context.reloadCount, 2);
  assert.is(await clientPortOutcome('client-revoked'), 'refused');
});

it('a CRL that cannot be parsed, then a deleted one, is logged at error level on every poll while the old list stays', async () => {
  const crl = join(dir, 'reload-crl.pem');
  copyFileSync(tlsFixture('crl.pem'), crl);
  const lines: { message: string; level: string | undefined }[] = [];
  const side = await TlsSide.open(security('server', crl), { kind: 'client', dataDir: dir, listenUrls: [], log: (message, _err, level) => void lines.push({ message, level }), pollIntervalMs: 0 });
  try {
    replaceFile(tlsFixture('ca.pem'), crl);
    await side?.context.poll();
    await side?.context.poll();
    rmSync(crl);
    await side?.context.poll();
    const errors = lines.filter((l) => l.level === 'error');
    assert.is(errors.length, 3, JSON.stringify(lines));
    assert.ok(errors.every((l) => l.message.includes('cannot be used') && l.message.includes(crl)), JSON.stringify(errors));
    assert.is(side?.context.failedReloadCount, 3);
    assert.ok(side?.context.revokedSerials.has(serialOf('client-revoked')));
  } finally {
    side?.close();
  }
});

it("a member dialing a peer does not check the peer's certificate against its CRL (etcd's dialer does not)", async () => {
  const revokedServer = await openSide('peer', { ...security('peer-revoked', ''), clientCertAuth: false });
  const listener = await listenPeerUrl('https://127.0.0.1:0', defaultPeerHttp2Limits, 8, (stream) => stream.respond({ ':status': 200 }, { endStream: true }), () => undefined, revokedServer);
  try {
    const session = dialPeer(`https://localhost:${listener.address.port}`, defaultPeerHttp2Limits, peerSide);
    const status = await new Promise<string>((resolve) => {
      session.on('error', (e) => resolve(`error: ${e.message}`));
      const req = session.request({ ':path': '/raft/probing' });
      req.on('response', (h) => resolve(String(h[':status'])));
      req.on('error', (e) => resolve(`error: ${e.message}`));
      req.end();
    });
    session.close();
    assert.is(status, '200');
  } finally {
    await new Promise<void>((resolve) => listener.server.close(() => resolve()));
    revokedServer.close();
  }
});

t.run();
