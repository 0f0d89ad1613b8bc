// Peer certificate reload: a member's --peer-cert-file/--peer-key-file are replaced while it runs;
// new connections to its peer port are served the new certificate within the reload poll (5 s),
// an established peer connection keeps working, and the certificate a member presents when it dials
// a peer is the new one too. One Lattice process, plus a dialing side in process.
import crypto from 'node:crypto';
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import tls from 'node:tls';
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { TlsSide } from '../../src/tls/tls-side.js';
import { noTransportSecurity } from '../../src/tls/transport-security.js';
import { defaultPeerHttp2Limits, dialPeer, listenPeerUrl } from '../../src/peer/peer-endpoints.js';
import { loopbackHost } from '../helpers/free-port.js';
import { waitUntil } from '../helpers/processes.js';
import { serverSuite, withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { startTlsServer, tlsFixture, type TlsServer } from '../helpers/tls-servers.js';

const serialOf = (cert: string): string => new crypto.X509Certificate(readFileSync(tlsFixture(`${cert}.pem`))).serialNumber;

/** Replaces a file as an operator's tool would: write beside it, then rename over it. */
function replaceFile(from: string, to: string): void {
  copyFileSync(from, `${to}.new`);
  renameSync(`${to}.new`, to);
}

const peerClientCredentials = () => ({ ca: readFileSync(tlsFixture('ca.pem')), cert: readFileSync(tlsFixture('peer.pem')), key: readFileSync(tlsFixture('peer-key.pem')) });

/** The serial of the certificate a new TLS connection to the peer URL is served. */
function servedSerial(peerUrl: string): Promise<string> {
  const url = new URL(peerUrl);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: loopbackHost, port: Number(url.port), servername: 'localhost', ALPNProtocols: ['h2'], ...peerClientCredentials() }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? '';
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

function getMembers(session: http2.ClientHttp2Session): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': '/members' });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', reject);
    req.resume();
    req.end();
  });
}

const certDir = makeTempDir('peer-cert-reload');
const certFile = join(certDir, 'peer.pem');
const keyFile = join(certDir, 'peer-key.pem');
const s = serverSuite<TlsServer>('peer certificate reload (lattice)', () => {
  copyFileSync(tlsFixture('peer.pem'), certFile);
  copyFileSync(tlsFixture('peer-key.pem'), keyFile);
  return startTlsServer('lattice', {
    peerHttps: true,
    flags: [
      '--cert-file', tlsFixture('server.pem'), '--key-file', tlsFixture('server-key.pem'),
      '--peer-cert-file', certFile, '--peer-key-file', keyFile, '--peer-trusted-ca-file', tlsFixture('ca.pem'), '--peer-client-cert-auth',
    ],
  });
});

s.it('replaced peer certificate files reach new peer connections within the poll; an established one keeps working', async (server) => {
  assert.is(await servedSerial(server.peerEndpoint), serialOf('peer'));
  const established = http2.connect(server.peerEndpoint.replace(loopbackHost, 'localhost'), peerClientCredentials());
  try {
    assert.is(await getMembers(established), 200);
    // another certificate for the same names from the same CA
    replaceFile(tlsFixture('peer-revoked.pem'), certFile);
    replaceFile(tlsFixture('peer-revoked-key.pem'), keyFile);
    await waitUntil(async () => (await servedSerial(server.peerEndpoint)) === serialOf('peer-revoked'), { timeoutMs: 15_000, what: 'the new peer certificate to be served' });
    assert.is(await getMembers(established), 200);
  } finally {
    established.close();
  }
}, 30_000);
s.run();

// The dialing side in process: what a member presents to the peers it dials follows its files too.
const t = suite('peer certificate reload (dialing side)');
t('a member dialing after its peer files were replaced presents the new certificate', () =>
  withTimeout(
    (async () => {
      const dir = makeTempDir('peer-dial-reload');
      copyFileSync(tlsFixture('peer.pem'), join(dir, 'peer.pem'));
      copyFileSync(tlsFixture('peer-key.pem'), join(dir, 'peer-key.pem'));
      const open = (certFile: string, keyFile: string) =>
        TlsSide.open(
          { ...noTransportSecurity, files: { certFile, keyFile, trustedCaFile: tlsFixture('ca.pem'), crlFile: '' }, clientCertAuth: true },
          { kind: 'peer', dataDir: dir, listenUrls: [], log: () => undefined, pollIntervalMs: 0 },
        );
      const dialer = await open(join(dir, 'peer.pem'), join(dir, 'peer-key.pem'));
      const listenerSide = await open(tlsFixture('peer.pem'), tlsFixture('peer-key.pem'));
      const presented: string[] = [];
      const listener = await listenPeerUrl(
        'https://127.0.0.1:0',
        defaultPeerHttp2Limits,
        8,
        (stream) => {
          const socket = stream.session?.socket;
          if (socket instanceof tls.TLSSocket) presented.push(socket.getPeerX509Certificate()?.serialNumber ?? '');
          stream.respond({ ':status': 200 }, { endStream: true });
        },
        () => undefined,
        listenerSide,
      );
      const dialOnce = (): Promise<void> =>
        new Promise((resolve, reject) => {
          const session = dialPeer(`https://localhost:${listener.address.port}`, defaultPeerHttp2Limits, dialer);
          session.on('error', reject);
          const req = session.request({ ':path': '/raft/probing' });
          req.on('response', () => {
            session.close();
            resolve();
          });
          req.on('error', reject);
          req.end();
        });
      try {
        await dialOnce();
        replaceFile(tlsFixture('peer-revoked.pem'), join(dir, 'peer.pem'));
        replaceFile(tlsFixture('peer-revoked-key.pem'), join(dir, 'peer-key.pem'));
        await dialer?.context.poll();
        await dialOnce();
        assert.equal(presented, [serialOf('peer'), serialOf('peer-revoked')]);
      } finally {
        await new Promise<void>((resolve) => listener.server.close(() => resolve()));
        dialer?.close();
        listenerSide?.close();
        removeTempDir(dir);
      }
    })(),
    20_000,
    'dialing side reload',
  ),
);
t.after(() => removeTempDir(certDir));
t.run();
