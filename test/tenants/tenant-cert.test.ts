// A tenant bound to a client certificate's CN (mTLS, auth off): a client presenting that certificate
// is the tenant through gRPC and the JSON gateway; a client with another certificate is not and sees
// the keys where they are stored.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { KVClient, type PutResponse, type RangeResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { mtlsServerFlags, startTlsServer, tlsFixture, type TlsServer } from '../helpers/tls-servers.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { suiteStartTimeoutMs, withTimeout } from '../helpers/spec.js';

const b = (s: string): Buffer => Buffer.from(s);

function kvClient(endpoint: string, cert: string): KVClient {
  const creds = credentials.createSsl(readFileSync(tlsFixture('ca.pem')), readFileSync(tlsFixture(`${cert}-key.pem`)), readFileSync(tlsFixture(`${cert}.pem`)));
  return new KVClient(endpoint.replace(/^https:\/\//, ''), creds, { 'grpc.ssl_target_name_override': 'localhost' });
}

const put = (c: KVClient, key: string, value: string): Promise<PutResponse> =>
  new Promise((resolve, reject) =>
    c.put({ key: b(key), value: b(value), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false }, new Metadata(), (e: ServiceError | null, r: PutResponse) => (e ? reject(e) : resolve(r))),
  );
const get = (c: KVClient, key: string): Promise<RangeResponse> =>
  new Promise((resolve, reject) =>
    c.range(
      { key: b(key), rangeEnd: b(''), limit: 0n, revision: 0n, sortOrder: 0, sortTarget: 0, serializable: false, keysOnly: false, countOnly: false, minModRevision: 0n, maxModRevision: 0n, minCreateRevision: 0n, maxCreateRevision: 0n },
      new Metadata(),
      (e: ServiceError | null, r: RangeResponse) => (e ? reject(e) : resolve(r)),
    ),
  );

function gatewayRange(endpoint: string, cert: string, key: string): Promise<{ kvs?: { key: string }[] }> {
  const url = new URL('/v3/kv/range', endpoint);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', ca: readFileSync(tlsFixture('ca.pem')), cert: readFileSync(tlsFixture(`${cert}.pem`)), key: readFileSync(tlsFixture(`${cert}-key.pem`)), servername: 'localhost' },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(JSON.parse(body) as { kvs?: { key: string }[] }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ key: Buffer.from(key).toString('base64') }));
  });
}

const s = suite<{ server?: TlsServer; dir?: string }>('tenant bound to a client certificate');
s.before(async (ctx) => {
  ctx.dir = makeTempDir('tenant-cert');
  const file = join(ctx.dir, 'tenants.json');
  writeFileSync(file, JSON.stringify([{ name: 'a', prefix: '/tenants/a/', certCommonNames: ['alice'] }]));
  ctx.server = await withTimeout(startTlsServer('lattice', { flags: [...mtlsServerFlags(), '--tenants-file', file] }), suiteStartTimeoutMs, 'starting Lattice');
});
s.after(async (ctx) => {
  await ctx.server?.stop();
  if (ctx.dir !== undefined) removeTempDir(ctx.dir);
});

s('the certificate CN picks the tenant for gRPC and the gateway; another certificate sees stored keys', async (ctx) => {
  const endpoint = ctx.server!.endpoint;
  const alice = kvClient(endpoint, 'client-alice');
  const other = kvClient(endpoint, 'client');
  try {
    await put(alice, 'foo', 'from-alice');
    assert.is((await get(alice, 'foo')).kvs[0]?.value.toString(), 'from-alice');
    assert.is((await get(other, '/tenants/a/foo')).kvs[0]?.value.toString(), 'from-alice');
    assert.is((await get(other, 'foo')).kvs.length, 0);
    const gw = await gatewayRange(endpoint, 'client-alice', 'foo');
    assert.equal(gw.kvs?.map((kv) => Buffer.from(kv.key, 'base64').toString()), ['foo']);
  } finally {
    alice.close();
    other.close();
  }
});

s.run();
