// Certificate reload: the server's certificate and key files are replaced while a client writes
// over an established TLS connection; new connections get the new certificate within 30 s, the
// established connection keeps working and no request fails. Lattice on both engines.
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import { loopbackHost } from '../helpers/free-port.js';
import { engines } from '../helpers/lattice-server.js';
import { waitUntil } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { makeTempDir } from '../helpers/temp-dirs.js';
import { startTlsServer, tlsFixture, type TlsServer } from '../helpers/tls-servers.js';

/** The CN of the certificate a new TLS connection to the endpoint is served. */
function servedCommonName(endpoint: string): Promise<string> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: loopbackHost, port: Number(url.port), ca: readFileSync(tlsFixture('ca.pem')), cert: readFileSync(tlsFixture('client.pem')), key: readFileSync(tlsFixture('client-key.pem')), ALPNProtocols: ['h2'] },
      () => {
        const subject = socket.getPeerCertificate().subject as unknown as Record<string, unknown>;
        socket.end();
        resolve(String(subject['CN']));
      },
    );
    socket.on('error', reject);
  });
}

/** How soon new connections must get a replaced certificate (the files are polled every few seconds). */
const reloadWithinMs = 30_000;

/** Replaces a file as an operator's tool would: write beside it, then rename over it. */
function replaceFile(from: string, to: string): void {
  copyFileSync(from, `${to}.new`);
  renameSync(`${to}.new`, to);
}

for (const engine of engines) {
  const certDir = makeTempDir(`tls-reload-${engine}`);
  const certFile = join(certDir, 'server.pem');
  const keyFile = join(certDir, 'server-key.pem');
  const s = serverSuite<TlsServer>(`certificate reload (lattice --engine ${engine})`, () => {
    copyFileSync(tlsFixture('server.pem'), certFile);
    copyFileSync(tlsFixture('server-key.pem'), keyFile);
    return startTlsServer('lattice', {
      engine,
      flags: ['--cert-file', certFile, '--key-file', keyFile, '--trusted-ca-file', tlsFixture('ca.pem'), '--client-cert-auth'],
    });
  });

  s.it('replaced certificate files reach new connections within 30 s while writes go on without a failure', async (server) => {
    assert.is(await servedCommonName(server.endpoint), 'lattice-server');
    const client = new Etcd3({
      hosts: server.endpoint,
      credentials: { rootCertificate: readFileSync(tlsFixture('ca.pem')), certChain: readFileSync(tlsFixture('client.pem')), privateKey: readFileSync(tlsFixture('client-key.pem')) },
    });
    let puts = 0;
    const failures: string[] = [];
    let writing = true;
    const load = (async () => {
      while (writing) {
        try {
          await client.put(`reload/${puts % 100}`).value(String(puts));
          puts++;
        } catch (err) {
          failures.push(String(err));
        }
      }
    })();
    try {
      await waitUntil(() => puts >= 20, { timeoutMs: 10_000, what: 'the write load to start' });
      // key first, then certificate: between the two the pair does not match and the old one stays served
      replaceFile(tlsFixture('server-next-key.pem'), keyFile);
      replaceFile(tlsFixture('server-next.pem'), certFile);
      const replacedAt = Date.now();
      // Waits past the bound, so that a slow reload is measured and fails the assertion below
      // (a wait that gave up at the bound itself would fail with a timeout, never with the time).
      await waitUntil(async () => (await servedCommonName(server.endpoint)) === 'lattice-server-next', { timeoutMs: 2 * reloadWithinMs, what: 'new connections to get the new certificate' });
      const took = Date.now() - replacedAt;
      const before = puts;
      await waitUntil(() => puts >= before + 20, { timeoutMs: 10_000, what: 'writes after the reload on the established connection' });
      assert.ok(took < reloadWithinMs, `new connections got the new certificate after ${took} ms, more than ${reloadWithinMs} ms`);
    } finally {
      writing = false;
      await load;
      client.close();
    }
    assert.equal(failures, [], `${failures.length} of ${puts + failures.length} writes failed`);
  }, 90_000);
  s.run();
}
