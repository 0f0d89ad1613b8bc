// The client port with an https listen URL beside an http one, in process: gRPC (the npm etcd3
// client) and the JSON gateway (HTTP/1.1 over TLS) reach the same methods, and every call knows the
// Common Name of the client's verified certificate (CallContext.verifiedCommonName, the seam the
// Auth layer reads); a plain connection has none.
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

t('the JSON gateway over TLS (HTTP/1.1 by ALPN) carries the CN too', async () => {
  // offering h2 as well, as curl and browsers do: the server picks http/1.1 for them
  const options: https.RequestOptions & Pick<tls.ConnectionOptions, 'ALPNProtocols'> = {
    method: 'POST',
    ca: readFileSync(tlsFixture('ca.pem')),
    cert: readFileSync(tlsFixture('client-alice.pem')),
    key: readFileSync(tlsFixture('client-alice-key.pem')),
    ALPNProtocols: ['h2', 'http/1.1'],
  };
  const body = await new Promise<string>((resolve, reject) => {
    const req = https.request(
      `${secureUrl}/v3/kv/range`,
      options,
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ key: Buffer.from('cn').toString('base64') }));
  });
  assert.ok(body.includes(Buffer.from('alice').toString('base64')), body);
});

t.run();
