// The client port with an https listen URL beside an http one, in process: gRPC (the npm etcd3
// client) and the JSON gateway (HTTP/1.1 or, as with etcd, HTTP/2 over TLS) reach the same methods, and every call knows the
// Common Name of the client's verified certificate (CallContext.verifiedCommonName, the seam the
// Auth layer reads); a plain connection has none.
import http2 from 'node:http2';
import https from 'node:https';
import type tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import { startClientPort, type ClientPort } from '../../src/adapters/client-port.js';
import type { GrpcServiceModule } from '../../src/adapters/grpc/service-module.js';
import { frameBytes } from '../../src/adapters/grpc/grpc-wire.js';
import { RangeResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { TlsSide } from '../../src/tls/tls-side.js';
import { noTransportSecurity } from '../../src/tls/transport-security.js';
import { FakeServerApi } from './fake-server-api.js';
import { tlsFixture } from '../helpers/tls-servers.js';
import { runCommand } from '../helpers/processes.js';
import { withTimeout } from '../helpers/spec.js';

/** KV.Range answers one kv whose value is the caller's verified CN ('' without one). */
const echoCommonName: GrpcServiceModule = {
  name: 'etcdserverpb.KV',
  methods: () => [
    {
      path: '/etcdserverpb.KV/Range',
      kind: 'unary',
      serve(call) {
        call.receive(
          () => undefined,
          () => {
            const res = RangeResponse.fromPartial({ kvs: [{ key: Buffer.from('cn'), value: Buffer.from(call.verifiedCommonName ?? '') }], count: 1n });
            call.sendUnary(frameBytes(RangeResponse.encode(res).finish()));
          },
        );
      },
    },
  ],
};

const t = suite('client port over TLS');
let port: ClientPort | undefined;
let side: TlsSide | undefined;
let secureUrl = '';
let plainUrl = '';

t.before(async () => {
  side = await TlsSide.open(
    {
      ...noTransportSecurity,
      files: { certFile: tlsFixture('server.pem'), keyFile: tlsFixture('server-key.pem'), trustedCaFile: tlsFixture('ca.pem'), crlFile: tlsFixture('crl.pem') },
      clientCertAuth: true,
    },
    { kind: 'client', dataDir: '/nonexistent', listenUrls: [], log: () => undefined, pollIntervalMs: 0 },
  );
  port = await startClientPort({
    listenUrls: ['https://127.0.0.1:0', 'http://127.0.0.1:0'],
    api: new FakeServerApi(),
    grpcServices: [echoCommonName],
    log: () => undefined,
    ...(side === undefined ? {} : { tls: side }),
  });
  secureUrl = `https://127.0.0.1:${port.addresses[0]?.port ?? 0}`;
  plainUrl = `http://127.0.0.1:${port.addresses[1]?.port ?? 0}`;
});

t.after(async () => {
  await port?.close();
  side?.close();
});

const credentials = (cert: string) => ({
  rootCertificate: readFileSync(tlsFixture('ca.pem')),
  certChain: readFileSync(tlsFixture(`${cert}.pem`)),
  privateKey: readFileSync(tlsFixture(`${cert}-key.pem`)),
});

t('gRPC calls over TLS carry the CN of the client certificate', async () => {
  for (const cert of ['client', 'client-alice']) {
    const client = new Etcd3({ hosts: secureUrl, credentials: credentials(cert) });
    try {
      assert.is(await client.get('cn').string(), cert === 'client' ? 'root' : 'alice');
    } finally {
      client.close();
    }
  }
});

t('gRPC calls on the plain listener of the same port set have no CN', async () => {
  const client = new Etcd3({ hosts: plainUrl });
  try {
    assert.is(await client.get('cn').string(), '');
  } finally {
    client.close();
  }
});

/** A POST to the gateway over HTTPS/1.1; `alpn` what the client offers. */
function http1Range(alpn: string[] | undefined): Promise<string> {
  const options: https.RequestOptions & Pick<tls.ConnectionOptions, 'ALPNProtocols'> = {
    method: 'POST',
    ca: readFileSync(tlsFixture('ca.pem')),
    cert: readFileSync(tlsFixture('client-alice.pem')),
    key: readFileSync(tlsFixture('client-alice-key.pem')),
    ...(alpn === undefined ? {} : { ALPNProtocols: alpn }),
  };
  return new Promise<string>((resolve, reject) => {
    const req = https.request(`${secureUrl}/v3/kv/range`, options, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ key: Buffer.from('cn').toString('base64') }));
  });
}

t('the JSON gateway over TLS and HTTP/1.1 (no ALPN, or http/1.1 only) carries the CN too', async () => {
  for (const alpn of [undefined, ['http/1.1']]) {
    const body = await http1Range(alpn);
    assert.ok(body.includes(Buffer.from('alice').toString('base64')), body);
  }
});

/** One request over an h2 session; resolves with status, content type and body. */
function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    let status = 0;
    let type = '';
    let text = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      type = String(h['content-type'] ?? '');
    });
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => resolve({ status, type, body: text }));
    req.on('error', reject);
    req.end(body);
  });
}

t('an h2 client over TLS reaches the gateway, /health and the 404 on the same session, with its CN', async () => {
  const session = http2.connect(secureUrl, { servername: 'localhost', ca: readFileSync(tlsFixture('ca.pem')), cert: readFileSync(tlsFixture('client-alice.pem')), key: readFileSync(tlsFixture('client-alice-key.pem')) });
  try {
    const range = await h2Request(session, { ':method': 'POST', ':path': '/v3/kv/range', 'content-type': 'application/json' }, JSON.stringify({ key: Buffer.from('cn').toString('base64') }));
    assert.is(range.status, 200);
    assert.ok(range.body.includes(Buffer.from('alice').toString('base64')), range.body);
    const health = await h2Request(session, { ':method': 'GET', ':path': '/health' });
    assert.is(health.status, 200, health.body);
    assert.ok(health.body.includes('"health":"true"'), health.body);
    const missing = await h2Request(session, { ':method': 'GET', ':path': '/nothing-here' });
    assert.equal([missing.status, missing.body], [404, '404 page not found\n']);
    // the same session still carries gRPC: the content type decides, as in etcd
    const grpc = await h2Request(session, { ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' }, '');
    assert.is(grpc.type, 'application/grpc');
  } finally {
    session.close();
  }
});

t('curl --http2 over TLS gets the gateway answer over HTTP/2', async () => {
  const r = await runCommand('curl', [
    '-sS', '--http2', '--max-time', '10', '-w', '\n%{http_version}',
    '--cacert', tlsFixture('ca.pem'), '--cert', tlsFixture('client.pem'), '--key', tlsFixture('client-key.pem'),
    '-X', 'POST', '-d', JSON.stringify({ key: Buffer.from('cn').toString('base64') }), `${secureUrl}/v3/kv/range`,
  ], { timeoutMs: 20_000 });
  assert.is(r.code, 0, r.stderr);
  const [body = '', version] = r.stdout.split('\n');
  assert.is(version, '2');
  assert.ok(body.includes(Buffer.from('root').toString('base64')), body);
});

t('an oversized gateway body over h2 is answered, then its stream is reset with NO_ERROR (not left half open), without an HTTP/2 header warning', () => withTimeout(oversizedBodyOverH2(), 10_000, 'oversized body over h2'));

async function oversizedBodyOverH2(): Promise<void> {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  const session = http2.connect(secureUrl, { servername: 'localhost', ca: readFileSync(tlsFixture('ca.pem')), cert: readFileSync(tlsFixture('client-alice.pem')), key: readFileSync(tlsFixture('client-alice-key.pem')) });
  try {
    const outcome = await new Promise<{ status: number; rstCode: number | undefined }>((resolve) => {
      const req = session.request({ ':method': 'POST', ':path': '/v3/kv/range', 'content-type': 'application/json' });
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('error', () => undefined);
      req.on('close', () => resolve({ status, rstCode: req.rstCode }));
      req.resume();
      // past the gateway's body bound (twice the receive limit: 4 MiB), and never ended
      const chunk = Buffer.alloc(256 * 1024, 0x5b);
      for (let i = 0; i < 18; i++) req.write(chunk);
    });
    assert.equal(outcome, { status: 429, rstCode: http2.constants.NGHTTP2_NO_ERROR });
  } finally {
    session.close();
    process.off('warning', onWarning);
  }
  assert.equal(warnings.filter((w) => w.startsWith('UnsupportedWarning')), []);
}

/** grpc-go's answer to a request that is not gRPC, given before it looks up the method. */
const notGrpc = { status: 415, type: 'application/grpc' };

t('an h2 client on the plain listener (h2c) stays gRPC only, as etcd\'s is: HTTP requests get 415', async () => {
  const session = http2.connect(plainUrl);
  try {
    const health = await h2Request(session, { ':method': 'GET', ':path': '/health' });
    assert.equal({ status: health.status, type: health.type }, notGrpc);
  } finally {
    session.close();
  }
});

t('an h2 client over TLS that pings before its first request (the shim path) gets 415 for HTTP, not a gRPC status under 200', async () => {
  const session = http2.connect(secureUrl, { servername: 'localhost', ca: readFileSync(tlsFixture('ca.pem')), cert: readFileSync(tlsFixture('client-alice.pem')), key: readFileSync(tlsFixture('client-alice-key.pem')) });
  try {
    await new Promise<void>((resolve, reject) => session.once('connect', () => session.ping((err) => (err === null ? resolve() : reject(err)))));
    const health = await new Promise<{ status: number; type: string; grpcStatus: string }>((resolve, reject) => {
      const req = session.request({ ':method': 'GET', ':path': '/health' });
      req.on('response', (h) => resolve({ status: Number(h[':status']), type: String(h['content-type'] ?? ''), grpcStatus: String(h['grpc-status'] ?? '') }));
      req.on('error', reject);
      req.end();
    });
    assert.equal(health, { ...notGrpc, grpcStatus: '3' });
    // gRPC still works on that connection
    const grpc = await h2Request(session, { ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' }, '');
    assert.equal({ status: grpc.status, type: grpc.type }, { status: 200, type: 'application/grpc' });
  } finally {
    session.close();
  }
});

t.run();
