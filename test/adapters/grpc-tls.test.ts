// The gRPC layer is ready for TLS: the same method table served from `http2.createSecureServer` with
// ALPN h2 (GrpcServer.attach), driven by grpc-js over TLS. The certificate is made per run with openssl.
// Run: npx tsc -p tsconfig.json; node dist/test/adapters/grpc-tls.test.js
import http2 from 'node:http2';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { createGrpcServer, defaultGrpcServices } from '../../src/adapters/grpc/grpc-server.js';
import { KVClient, PutRequest, RangeRequest, type RangeResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { needingTools, withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { FakeServerApi } from './fake-server-api.js';

const t = suite('gRPC layer over TLS');
const testTimeoutMs = 30_000;
let dir: string | undefined;
let server: http2.Http2SecureServer | undefined;
let client: KVClient | undefined;

t.after(async () => {
  client?.close();
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  if (dir !== undefined) removeTempDir(dir);
});

const it = needingTools(t, ['openssl'], (name: string, body: () => Promise<void>) => t(name, () => withTimeout(body(), testTimeoutMs, name)));

it('an http2 secure server with ALPN h2 serves KV through the same layer', async () => {
  dir = makeTempDir('grpc-tls');
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const grpc = createGrpcServer(
    { maxRequestBytes: 4096, maxConcurrentStreams: 100, keepaliveIntervalMs: 0, keepaliveTimeoutMs: 0 },
    { api: new FakeServerApi(), maxRequestBytes: 4096, maxTxnOps: 8, log: () => undefined },
    defaultGrpcServices,
  );
  const secure = http2.createSecureServer({ key: readFileSync(key), cert: readFileSync(cert), ALPNProtocols: ['h2'] });
  server = secure;
  grpc.attach(secure);
  const port = await new Promise<number>((resolve) => secure.listen(0, '127.0.0.1', () => resolve((secure.address() as { port: number }).port)));
  const kv = new KVClient(`127.0.0.1:${port}`, credentials.createSsl(readFileSync(cert)));
  client = kv;
  const deadline = (): { deadline: number } => ({ deadline: Date.now() + 5000 });
  await new Promise<void>((resolve, reject) =>
    kv.put(PutRequest.fromPartial({ key: Buffer.from('tls'), value: Buffer.from('yes') }), new Metadata(), deadline(), (err: ServiceError | null) => (err ? reject(err) : resolve())),
  );
  const got = await new Promise<RangeResponse>((resolve, reject) =>
    kv.range(RangeRequest.fromPartial({ key: Buffer.from('tls') }), new Metadata(), deadline(), (err: ServiceError | null, res: RangeResponse) => (err ? reject(err) : resolve(res))),
  );
  assert.is(got.kvs[0]?.value.toString(), 'yes');
});

t.run();
