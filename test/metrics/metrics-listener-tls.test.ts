// --listen-metrics-urls with https: the listener uses the client TLS settings, as etcd's does
// (client certificates included when --client-cert-auth is on); an https URL without them is refused.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startMetricsListener, type MetricsListener } from '../../src/metrics/metrics-listener.js';
import { TlsSide } from '../../src/tls/tls-side.js';
import { noTransportSecurity } from '../../src/tls/transport-security.js';
import { tlsFixture } from '../helpers/tls-servers.js';

const test = suite('metrics: the --listen-metrics-urls listener over TLS');
let side: TlsSide | undefined;
let listener: MetricsListener | undefined;

test.before(async () => {
  side = await TlsSide.open(
    {
      ...noTransportSecurity,
      files: { certFile: tlsFixture('server.pem'), keyFile: tlsFixture('server-key.pem'), trustedCaFile: tlsFixture('ca.pem'), crlFile: '' },
      clientCertAuth: true,
    },
    { kind: 'client', dataDir: '/nonexistent', listenUrls: [], log: () => undefined, pollIntervalMs: 0 },
  );
  listener = await startMetricsListener(['https://127.0.0.1:0'], (_req, res) => res.end('metrics here'), side, () => undefined);
});

test.after(async () => {
  await listener?.close();
  side?.close();
});

function get(withClientCert: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port: listener!.addresses[0]!.port,
        path: '/metrics',
        ca: readFileSync(tlsFixture('ca.pem')),
        servername: 'localhost',
        ...(withClientCert ? { cert: readFileSync(tlsFixture('client.pem')), key: readFileSync(tlsFixture('client-key.pem')) } : {}),
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
  });
}

test('an https metrics URL serves with the client certificate and key', async () => {
  assert.is(await get(true), 'metrics here');
});

test('with --client-cert-auth a scraper without a client certificate is refused', async () => {
  await get(false).then(
    () => assert.unreachable('served without a client certificate'),
    (e: unknown) => assert.ok(e instanceof Error),
  );
});

test('an https metrics URL without client TLS flags is refused at start', async () => {
  await startMetricsListener(['https://127.0.0.1:0'], (_req, res) => res.end(), undefined, () => undefined).then(
    () => assert.unreachable('started'),
    (e: unknown) => assert.match(String(e), /must be provided for metrics url/),
  );
});

test.run();
