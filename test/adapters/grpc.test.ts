// The client port driven by real clients: grpc-js with the generated stubs, etcdctl, fetch and raw
// sockets, against a fake core. Run: npx tsc -p tsconfig.json; node dist/test/adapters/grpc.test.js
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Client,
  credentials,
  Metadata,
  status as Status,
  type CallOptions,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import { startClientPort, type ClientPort } from '../../src/adapters/client-port.js';
import { raftRequestBytes } from '../../src/adapters/grpc/request-size.js';
import {
  ClusterClient,
  KVClient,
  MaintenanceClient,
  PutRequest,
  RangeRequest,
  RangeRequest_SortTarget,
  TxnRequest,
  type RequestOp,
} from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { needingTools, withTimeout } from '../helpers/spec.js';
import { runCommand } from '../helpers/processes.js';
import { FakeServerApi, fakeMember, fakeRaftTerm } from './fake-server-api.js';

const maxRequestBytes = 4096;
const maxTxnOps = 8;
const callTimeoutMs = 5_000;
const testTimeoutMs = 30_000;

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
type UnaryMethod<Req, Res> = (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: Callback<Res>) => ClientUnaryCall;
type Outcome<Res> = { ok: true; res: Res } | { ok: false; err: ServiceError };

/** One unary call with a deadline: a hanging server shows up as DEADLINE_EXCEEDED, not a stuck test. */
function call<Req, Res>(method: UnaryMethod<Req, Res>, req: Req, deadlineMs = callTimeoutMs): Promise<Outcome<Res>> {
  return new Promise((resolve) => {
    method(req, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
      resolve(err ? { ok: false, err } : { ok: true, res }),
    );
  });
}

async function expectOk<Res>(p: Promise<Outcome<Res>>): Promise<Res> {
  const o = await p;
  if (!o.ok) throw new Error(`expected success, got ${Status[o.err.code]} ${o.err.details}`);
  return o.res;
}

async function expectStatus<Res>(p: Promise<Outcome<Res>>, code: Status, details: string | RegExp): Promise<void> {
  const o = await p;
  if (o.ok) throw new Error(`expected ${Status[code]} ${String(details)}, got success`);
  assert.is(Status[o.err.code], Status[code], `code for ${o.err.details}`);
  if (typeof details === 'string') assert.is(o.err.details, details);
  else assert.match(o.err.details, details);
}

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const putReq = (key: string | Buffer, value: string | Buffer = 'v', extra: Partial<PutRequest> = {}): PutRequest =>
  PutRequest.fromPartial({ key: typeof key === 'string' ? B(key) : key, value: typeof value === 'string' ? B(value) : value, ...extra });
const rangeReq = (key: string | Buffer, extra: Partial<RangeRequest> = {}): RangeRequest =>
  RangeRequest.fromPartial({ key: typeof key === 'string' ? B(key) : key, ...extra });
const putOp = (k: string): RequestOp => ({ requestPut: putReq(k) });

interface Fixture {
  api: FakeServerApi;
  port: ClientPort;
  addr: string;
  kv: KVClient;
  maintenance: MaintenanceClient;
  cluster: ClusterClient;
  kvPut: UnaryMethod<PutRequest, unknown>;
}

const t = suite('client port: gRPC and HTTP on one port');
let fx: Fixture | undefined;
const others: ClientPort[] = [];
const clients: Client[] = [];
const sockets: net.Socket[] = [];

const f = (): Fixture => {
  if (!fx) throw new Error('fixture did not start (see before hook output)');
  return fx;
};

t.before(async () => {
  try {
    const api = new FakeServerApi();
    const port = await startClientPort({
      listenUrls: ['http://localhost:0'],
      api,
      maxRequestBytes,
      maxTxnOps,
      log: () => undefined,
    });
    const a = port.addresses[0];
    if (!a) throw new Error('no address');
    const addr = `${a.host}:${a.port}`;
    const kv = new KVClient(addr, credentials.createInsecure());
    const maintenance = new MaintenanceClient(addr, credentials.createInsecure());
    const cluster = new ClusterClient(addr, credentials.createInsecure());
    clients.push(kv, maintenance, cluster);
    fx = { api, port, addr, kv, maintenance, cluster, kvPut: kv.put.bind(kv) };
  } catch (err) {
    console.error('client port did not start:', err);
  }
});

t.after(async () => {
  for (const c of clients) c.close();
  for (const s of sockets) s.destroy();
  await Promise.allSettled([fx?.port.close(), ...others.map((p) => p.close())]);
});

const it = (name: string, body: () => Promise<void>, timeoutMs = testTimeoutMs): void => {
  t(name, () => withTimeout(body(), timeoutMs, name));
};

// --- KV over gRPC ----------------------------------------------------------------------------------

it('localhost binds 127.0.0.1 and port 0 reports the real port', async () => {
  const a = f().port.addresses[0];
  assert.is(a?.host, '127.0.0.1');
  assert.ok((a?.port ?? 0) > 0);
  assert.is(a?.url, 'http://localhost:0');
});

it('put then range returns the value with a complete header', async () => {
  const { kv } = f();
  const put = await expectOk(call(kv.put.bind(kv), putReq('foo', 'bar')));
  assert.is(put.header?.clusterId, fakeMember.clusterId);
  assert.is(put.header?.memberId, fakeMember.memberId);
  assert.is(put.header?.raftTerm, BigInt(fakeRaftTerm));
  const got = await expectOk(call(kv.range.bind(kv), rangeReq('foo')));
  assert.is(got.kvs.length, 1);
  assert.is(got.kvs[0]?.value.toString(), 'bar');
  assert.is(got.header?.revision, put.header?.revision);
});

it('a core response without a header gets one (compact)', async () => {
  const { kv } = f();
  const res = await expectOk(call(kv.compact.bind(kv), { revision: 1n, physical: false }));
  assert.is(res.header?.memberId, fakeMember.memberId);
  assert.is(res.header?.clusterId, fakeMember.clusterId);
  assert.is(res.header?.raftTerm, BigInt(fakeRaftTerm));
  assert.ok((res.header?.revision ?? 0n) > 0n);
});

it('range with an empty key fails with INVALID_ARGUMENT etcdserver: key is not provided', async () => {
  const { kv } = f();
  await expectStatus(call(kv.range.bind(kv), rangeReq('')), Status.INVALID_ARGUMENT, 'etcdserver: key is not provided');
});

it('range sorting by an unknown target fails with etcdserver: invalid sort option', async () => {
  const { kv } = f();
  await expectStatus(
    call(kv.range.bind(kv), rangeReq('a', { sortTarget: 9 as RangeRequest_SortTarget })),
    Status.INVALID_ARGUMENT,
    'etcdserver: invalid sort option',
  );
});

it('put checks arrive with etcd codes and messages', async () => {
  const { kv } = f();
  const put = kv.put.bind(kv);
  await expectStatus(call(put, putReq('')), Status.INVALID_ARGUMENT, 'etcdserver: key is not provided');
  await expectStatus(call(put, putReq('k', 'x', { ignoreValue: true })), Status.INVALID_ARGUMENT, 'etcdserver: value is provided');
  await expectStatus(call(put, putReq('k', '', { ignoreLease: true, lease: 7n })), Status.INVALID_ARGUMENT, 'etcdserver: lease is provided');
  const del = kv.deleteRange.bind(kv);
  await expectStatus(call(del, { key: B(''), rangeEnd: B(''), prevKv: false }), Status.INVALID_ARGUMENT, 'etcdserver: key is not provided');
});

it('txn checks arrive with etcd codes and messages', async () => {
  const { kv } = f();
  const txn = kv.txn.bind(kv);
  const many = Array.from({ length: maxTxnOps + 1 }, (_, i) => putOp(`k${i}`));
  await expectStatus(call(txn, TxnRequest.fromPartial({ success: many })), Status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request');
  await expectStatus(
    call(txn, TxnRequest.fromPartial({ success: [putOp('a'), putOp('a')] })),
    Status.INVALID_ARGUMENT,
    'etcdserver: duplicate key given in txn request',
  );
  await expectStatus(
    call(txn, TxnRequest.fromPartial({ success: [{ requestTxn: TxnRequest.fromPartial({ success: [putOp('n')] }) }, putOp('n')] })),
    Status.INVALID_ARGUMENT,
    'etcdserver: duplicate key given in txn request',
  );
  await expectStatus(call(txn, TxnRequest.fromPartial({ compare: [{ key: B('') }] })), Status.INVALID_ARGUMENT, 'etcdserver: key is not provided');
  await expectStatus(call(txn, TxnRequest.fromPartial({ success: [{}] })), Status.INVALID_ARGUMENT, 'etcdserver: key not found');
  const ok = await expectOk(call(txn, TxnRequest.fromPartial({ success: [putOp('t1'), putOp('t2')] })));
  assert.ok(ok.succeeded);
  assert.is(ok.responses.length, 2);
});

it('core errors map to etcd statuses', async () => {
  const { kv } = f();
  await expectStatus(call(kv.range.bind(kv), rangeReq('!compacted')), Status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
  await expectStatus(call(kv.put.bind(kv), putReq('!leaseNotFound')), Status.NOT_FOUND, 'etcdserver: requested lease not found');
  await expectStatus(call(kv.put.bind(kv), putReq('!noSpace')), Status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded');
});

it('a handler that throws or rejects returns UNKNOWN with the message instead of hanging', async () => {
  const { kv } = f();
  await expectStatus(call(kv.put.bind(kv), putReq('!throw'), 2000), Status.UNKNOWN, 'fake core exploded synchronously');
  await expectStatus(call(kv.range.bind(kv), rangeReq('!reject'), 2000), Status.UNKNOWN, 'fake core rejected');
  await expectStatus(call(kv.range.bind(kv), rangeReq('!string'), 2000), Status.UNKNOWN, 'a bare string');
  // the server is still fine afterwards
  await expectOk(call(kv.range.bind(kv), rangeReq('foo')));
});

// --- request size ----------------------------------------------------------------------------------

const valueForRaftBytes = (target: number): Buffer => {
  for (let n = target; n > 0; n--) {
    const size = raftRequestBytes(PutRequest.encode(putReq('big', Buffer.alloc(n))).finish().length, fakeMember.memberId);
    if (size === target) return Buffer.alloc(n, 0x61);
  }
  throw new Error(`no value size gives ${target} raft bytes`);
};

it('a put at max-request-bytes passes; one byte more fails with etcdserver: request is too large', async () => {
  const { kv } = f();
  const put = kv.put.bind(kv);
  const exact = valueForRaftBytes(maxRequestBytes);
  await expectOk(call(put, putReq('big', exact)));
  await expectStatus(
    call(put, putReq('big', Buffer.concat([exact, B('a')]))),
    Status.INVALID_ARGUMENT,
    'etcdserver: request is too large',
  );
  await expectStatus(
    call(kv.deleteRange.bind(kv), { key: Buffer.alloc(maxRequestBytes, 0x62), rangeEnd: B(''), prevKv: false }),
    Status.INVALID_ARGUMENT,
    'etcdserver: request is too large',
  );
  await expectStatus(
    call(kv.txn.bind(kv), TxnRequest.fromPartial({ success: [{ requestPut: putReq('big', exact) }] })),
    Status.INVALID_ARGUMENT,
    'etcdserver: request is too large',
  );
});

it('reads are not size-checked (range, read-only txn), as in etcd', async () => {
  const { kv } = f();
  const bigKey = Buffer.alloc(maxRequestBytes * 2, 0x63);
  await expectOk(call(kv.range.bind(kv), rangeReq(bigKey)));
  await expectOk(call(kv.txn.bind(kv), TxnRequest.fromPartial({ success: [{ requestRange: rangeReq(bigKey) }] })));
});

it('a message over max-request-bytes + 512 KiB is refused by gRPC with RESOURCE_EXHAUSTED', async () => {
  const { kv } = f();
  await expectStatus(
    call(kv.put.bind(kv), putReq('huge', Buffer.alloc(maxRequestBytes + 512 * 1024 + 1))),
    Status.RESOURCE_EXHAUSTED,
    /larger than max/,
  );
});

// --- Maintenance, Cluster, unknown methods ---------------------------------------------------------

it('maintenance status reports version, sizes, raft state and this member as leader', async () => {
  const { maintenance, api } = f();
  const st = await expectOk(call(maintenance.status.bind(maintenance), {}));
  const store = await api.status();
  assert.is(st.version, '3.4.23');
  assert.is(st.leader, fakeMember.memberId);
  assert.is(st.dbSize, 20480n);
  assert.is(st.dbSizeInUse, 16384n);
  assert.is(st.raftTerm, BigInt(fakeRaftTerm));
  assert.is(st.raftIndex, BigInt(store.raftIndex));
  assert.is(st.raftAppliedIndex, BigInt(store.raftIndex));
  assert.is(st.header?.memberId, fakeMember.memberId);
  assert.is(st.header?.clusterId, fakeMember.clusterId);
  assert.is(st.header?.revision, BigInt(store.revision));
  assert.equal(st.errors, []);
});

it('maintenance methods not implemented yet answer UNIMPLEMENTED, streaming ones too', async () => {
  const { maintenance } = f();
  // Defragment is implemented: an empty answer, as etcd gives.
  await expectOk(call(maintenance.defragment.bind(maintenance), {}));
  const err = await new Promise<ServiceError>((resolve, reject) => {
    const stream = maintenance.snapshot({}, { deadline: Date.now() + callTimeoutMs });
    stream.on('data', () => reject(new Error('snapshot sent data')));
    stream.on('error', (e: ServiceError) => resolve(e));
    stream.on('end', () => reject(new Error('snapshot ended without a status error')));
  });
  assert.is(Status[err.code], Status[Status.UNIMPLEMENTED]);
  assert.is(err.details, 'unknown method Snapshot for service etcdserverpb.Maintenance');
});

it('cluster member list returns this member with a header without revision', async () => {
  const { cluster } = f();
  const res = await expectOk(call(cluster.memberList.bind(cluster), {}));
  assert.is(res.members.length, 1);
  const m = res.members[0];
  assert.is(m?.ID, fakeMember.memberId);
  assert.is(m?.name, fakeMember.name);
  assert.equal(m?.peerURLs, [...fakeMember.peerUrls]);
  assert.equal(m?.clientURLs, [...fakeMember.clientUrls]);
  assert.is(res.header?.clusterId, fakeMember.clusterId);
  assert.is(res.header?.revision, 0n);
});

it('a method of an unregistered service answers UNIMPLEMENTED', async () => {
  const client = new Client(f().addr, credentials.createInsecure());
  clients.push(client);
  const err = await new Promise<ServiceError | null>((resolve) => {
    client.makeUnaryRequest(
      '/etcdserverpb.Nope/Nope',
      (x: Buffer) => x,
      (x: Buffer) => x,
      Buffer.alloc(0),
      new Metadata(),
      { deadline: Date.now() + callTimeoutMs },
      (e) => resolve(e),
    );
  });
  assert.is(err === null ? 'OK' : Status[err.code], Status[Status.UNIMPLEMENTED]);
});

// --- HTTP on the same port -------------------------------------------------------------------------

const httpUrl = (path: string): string => `http://${f().addr}${path}`;

it('HTTP GET /health answers 200 {"health":"true"} on the gRPC port', async () => {
  const res = await fetch(httpUrl('/health'));
  assert.is(res.status, 200);
  assert.is(await res.text(), '{"health":"true"}');
  assert.is(res.headers.get('access-control-allow-origin'), '*');
});

it('HTTP /health answers 503 {"health":"false"} when the core does not answer', async () => {
  const { api } = f();
  api.statusFails = true;
  try {
    const res = await fetch(httpUrl('/health'));
    assert.is(res.status, 503);
    assert.is((await res.text()).trim(), '{"health":"false"}');
  } finally {
    api.statusFails = false;
  }
});

it('HTTP GET /version answers etcd server and cluster versions', async () => {
  const res = await fetch(httpUrl('/version'));
  assert.is(res.status, 200);
  assert.equal(await res.json(), { etcdserver: '3.4.23', etcdcluster: '3.4.0' });
});

it("HTTP: other methods get 405 with Allow: GET; unknown paths get Go's 404 text, as etcd answers", async () => {
  const post = await fetch(httpUrl('/health'), { method: 'POST' });
  assert.is(post.status, 405);
  assert.is(post.headers.get('allow'), 'GET');
  assert.is(await post.text(), 'Method Not Allowed\n');
  const missing = await fetch(httpUrl('/nope'));
  assert.is(missing.status, 404);
  assert.is(await missing.text(), '404 page not found\n');
});

const rawConnect = (addr: string): Promise<net.Socket> =>
  new Promise((resolve, reject) => {
    const [host, port] = addr.split(':');
    const s = net.connect({ host: host ?? '127.0.0.1', port: Number(port) }, () => resolve(s));
    sockets.push(s);
    s.once('error', reject);
  });

const readUntil = (s: net.Socket, enough: (buf: Buffer) => boolean): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (enough(buf)) resolve(buf);
    });
    s.once('close', () => (enough(buf) ? resolve(buf) : reject(new Error(`closed after ${buf.length} bytes`))));
  });

it('an HTTP request whose first byte matches the HTTP/2 preface is still served as HTTP/1', async () => {
  const s = await rawConnect(f().addr);
  const reply = readUntil(s, (b) => b.includes('\r\n\r\n'));
  s.write('P');
  await new Promise((r) => setTimeout(r, 50));
  s.write('OST /version HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  const text = (await reply).toString('latin1');
  assert.match(text, /^HTTP\/1\.1 405 /);
});

it('an HTTP/2 preface split across packets still reaches gRPC', async () => {
  const s = await rawConnect(f().addr);
  const reply = readUntil(s, (b) => b.length >= 9);
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
  s.write(preface.subarray(0, 5));
  await new Promise((r) => setTimeout(r, 50));
  s.write(preface.subarray(5, 20));
  await new Promise((r) => setTimeout(r, 50));
  // rest of the preface, then an empty SETTINGS frame
  s.write(Buffer.concat([preface.subarray(20), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
  const frame = await reply;
  assert.is(frame[3], 4, 'server answers with a SETTINGS frame');
});

// --- etcdctl -----------------------------------------------------------------------------------------

needingTools(t, ['etcdctl'], it)('etcdctl put, get and endpoint status work against the port', async () => {
  const { addr } = f();
  const env = { ...process.env, ETCDCTL_API: '3' };
  const run = async (...args: string[]): Promise<string> => {
    const r = await runCommand('etcdctl', ['--endpoints', addr, '--command-timeout=5s', ...args], { env, timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  assert.is((await run('put', 'ctl-key', 'ctl-value')).trim(), 'OK');
  assert.is(await run('get', 'ctl-key'), 'ctl-key\nctl-value\n');
  const status = JSON.parse(await run('endpoint', 'status', '-w', 'json')) as Array<{
    Endpoint: string;
    Status: { header: { member_id: number }; version: string; leader: number };
  }>;
  assert.is(status[0]?.Endpoint, addr);
  assert.is(status[0]?.Status.version, '3.4.23');
  const empty = await runCommand('etcdctl', ['--endpoints', addr, 'put', '', 'v'], { env, timeoutMs: 20_000 });
  assert.ok(empty.code !== 0);
  assert.match(empty.stderr, /etcdserver: key is not provided/);
});

// --- lifecycle ---------------------------------------------------------------------------------------

it('a connection that never shows its protocol is dropped after the sniff timeout', async () => {
  const port = await startClientPort({ listenUrls: ['http://127.0.0.1:0'], api: new FakeServerApi(), protocolSniffTimeoutMs: 200, log: () => undefined });
  others.push(port);
  const a = port.addresses[0];
  const s = await rawConnect(`${a?.host}:${a?.port}`);
  const started = Date.now();
  await new Promise<void>((resolve) => s.once('close', () => resolve()));
  assert.ok(Date.now() - started < 2000);
});

it('close() ends open calls, frees the port promptly and is idempotent', async () => {
  const port = await startClientPort({ listenUrls: ['http://127.0.0.1:0'], api: new FakeServerApi(), closeGraceMs: 300, log: () => undefined });
  others.push(port);
  const a = port.addresses[0];
  if (!a) throw new Error('no address');
  const kv = new KVClient(`${a.host}:${a.port}`, credentials.createInsecure());
  clients.push(kv);
  await expectOk(call(kv.put.bind(kv), putReq('x')));
  const hanging = call(kv.range.bind(kv), rangeReq('!hang'), 20_000);
  const h = await fetch(`http://${a.host}:${a.port}/health`); // leaves a keep-alive HTTP connection
  await h.text();
  const started = Date.now();
  await Promise.all([port.close(), port.close()]);
  assert.ok(Date.now() - started < 2000, `close took ${Date.now() - started} ms`);
  const outcome = await hanging;
  assert.not.ok(outcome.ok);
  // the port can be bound again
  await new Promise<void>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(a.port, a.host, () => srv.close(() => resolve()));
  });
});

it('a listen URL that is in use makes startClientPort reject', async () => {
  const a = f().port.addresses[0];
  let failed = false;
  try {
    const p = await startClientPort({ listenUrls: [`http://127.0.0.1:${a?.port}`], api: new FakeServerApi(), log: () => undefined });
    others.push(p);
  } catch (err) {
    failed = true;
    assert.match(String(err), /EADDRINUSE/);
  }
  assert.ok(failed);
});

t.run();
