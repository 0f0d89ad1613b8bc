// The gRPC tenant admin service (lattice.tenants.v1.Tenants) against /api/tenants on one running
// Lattice per engine, driven by grpc-js: the same tenant fields (generation, source, pending,
// configState, usage) and the same refusals (FAILED_PRECONDITION with the text of HTTP's 409) for
// configured tenants, and Delete's generation removing a tenant taken out of the configuration. The
// server is restarted once with another tenants file, as a member is when its configuration changes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, makeGenericClientConstructor, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { decodeDeleteRequest, decodeTenant, encodeDeleteRequest, encodeTenant, encodeTenantName, TenantsService, type TenantDeleteRequest, type TenantMessage } from '../../src/tenants/tenant-admin-codec.js';
import { KVClient } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { engines, startLattice, type Engine, type LatticeServer } from '../helpers/lattice-server.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { waitUntil } from '../helpers/processes.js';
import { suiteStartTimeoutMs, withTimeout } from '../helpers/spec.js';
import { failure } from '../helpers/call-failure.js';

const FAILED_PRECONDITION = 9;
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const settleTimeoutMs = 10_000;

/** c stays configured; q is taken out of the file at the restart; d's generation goes down (stale); u's prefix will hold a key. */
const firstFile = [
  { name: 'c', prefix: '/tenants/c/', users: ['carl'], limits: { maxKeys: 10 }, generation: 1 },
  { name: 'q', prefix: '/tenants/q/', generation: 2 },
  { name: 'd', prefix: '/tenants/d/', generation: 2 },
];
const secondFile = [firstFile[0]!, { name: 'd', prefix: '/tenants/d/', generation: 1 }, { name: 'u', prefix: '/used/', generation: 1 }];

type Rpc = <T>(method: keyof typeof TenantsService, req: unknown) => Promise<T>;

interface Fixture {
  server: LatticeServer;
  dir: string;
  file: string;
  client: Client;
  rpc: Rpc;
}

function connect(server: LatticeServer): Pick<Fixture, 'client' | 'rpc'> {
  const Tenants = makeGenericClientConstructor(TenantsService, 'lattice.tenants.v1.Tenants');
  const client = new Tenants(server.endpoint.replace(/^https?:\/\//, ''), credentials.createInsecure()) as Client & Record<string, (req: unknown, md: Metadata, cb: (e: ServiceError | null, r: unknown) => void) => void>;
  const rpc: Rpc = (method, req) => new Promise((resolve, reject) => client[method]!(req, new Metadata(), (e, r) => (e !== null ? reject(e) : resolve(r as never))));
  return { client, rpc };
}

/** The JSON /api/tenants answers, and an error's message. */
async function http(f: Fixture, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${f.server.endpoint}/api/tenants${path}`, { method, headers: { 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}
const httpMessage = (r: { json: Record<string, unknown> }): string => (r.json['error'] as { message: string }).message;

/** Every tenant through gRPC List equals the one /api/tenants lists, field for field. */
async function listsAgree(f: Fixture): Promise<TenantMessage[]> {
  const viaGrpc = await f.rpc<TenantMessage[]>('list', {});
  const viaHttp = (await http(f, 'GET', '')).json['tenants'] as unknown[];
  const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);
  assert.equal([...viaGrpc].sort(byName), [...(viaHttp as TenantMessage[])].sort(byName));
  return viaGrpc;
}

async function settled(f: Fixture, ready: (ts: readonly TenantMessage[]) => boolean, what: string): Promise<void> {
  await waitUntil(async () => ready(await f.rpc<TenantMessage[]>('list', {})), { timeoutMs: settleTimeoutMs, what });
}

async function start(engine: Engine): Promise<Fixture> {
  const dir = makeTempDir('tenants-grpc');
  const file = join(dir, 'tenants.json');
  writeFileSync(file, JSON.stringify(firstFile));
  const server = await startLattice(engine, 'tenants-grpc', ['--tenants-file', file]);
  const f = { server, dir, file, ...connect(server) };
  await settled(f, (ts) => ts.length === 3 && ts.every((t) => t.configState === 'agrees'), 'the configured tenants to be enforced');
  return f;
}

const codec = suite('tenant admin messages');

codec('a Tenant keeps generation (0 included), pending and configState through the wire, and leaves them out when absent', () => {
  const full: TenantMessage = { name: 'a', prefix: '/a/', users: ['u'], certCommonNames: ['cn'], limits: { maxKeys: 3 }, generation: 0, source: 'config', pending: 'why', configState: 'pending' };
  assert.equal(decodeTenant(encodeTenant(full).finish()), full);
  const bare: TenantMessage = { name: 'b', prefix: '/b/', users: [], certCommonNames: [], limits: {} };
  assert.equal(decodeTenant(encodeTenant(bare).finish()), bare);
});

codec("Delete's request reads a TenantName as it was (no generation) and carries a generation of 0", () => {
  assert.equal(decodeDeleteRequest(encodeTenantName('a')), { name: 'a' });
  assert.equal(decodeDeleteRequest(encodeDeleteRequest({ name: 'a', generation: 0 })), { name: 'a', generation: 0 });
  // a caller still passing the old bare name is told, not sent a tenant named "undefined"
  assert.throws(() => encodeDeleteRequest('a' as unknown as TenantDeleteRequest), /takes \{ name, generation\? \}/);
});

codec.run();

for (const engine of engines) {
  const s = suite<{ f?: Fixture }>(`gRPC tenant admin service (${engine})`);
  s.before(async (ctx) => {
    ctx.f = await withTimeout(start(engine), suiteStartTimeoutMs, `starting Lattice (${engine}) with tenants`);
  });
  s.after(async (ctx) => {
    if (ctx.f === undefined) return;
    ctx.f.client.close();
    await ctx.f.server.stop();
    removeTempDir(ctx.f.dir);
  });
  const fx = (ctx: { f?: Fixture }): Fixture => {
    if (ctx.f === undefined) throw new Error('the server did not start');
    return ctx.f;
  };

  s('List and Get carry what /api/tenants shows: generation, source and configState for a configured tenant, none of them for an admin one', async (ctx) => {
    const f = fx(ctx);
    const made = await f.rpc<TenantMessage>('put', { name: 'm', prefix: '/tenants/m/', users: ['mia'], certCommonNames: [], limits: { maxKeys: 5 } });
    assert.is(made.source, 'admin');
    const all = await listsAgree(f);
    const c = all.find((t) => t.name === 'c');
    assert.equal(c, { name: 'c', prefix: '/tenants/c/', users: ['carl'], certCommonNames: [], limits: { maxKeys: 10 }, generation: 1, source: 'config', configState: 'agrees', usage: { keys: 0, bytes: 0, requests: 0, rejections: 0, watchers: 0 } });
    const m = await f.rpc<TenantMessage>('get', 'm');
    assert.equal(m, (await http(f, 'GET', '/m')).json);
    assert.is(m.generation, undefined);
    assert.is(m.configState, undefined);
    assert.is(m.pending, undefined);
  });

  s("Put and Delete of this member's configured tenant are FAILED_PRECONDITION with HTTP's 409 text, whatever the generation", async (ctx) => {
    const f = fx(ctx);
    const c = await f.rpc<TenantMessage>('get', 'c');
    const put = await failure(f.rpc('put', c));
    assert.is(put.code, FAILED_PRECONDITION);
    const httpPut = await http(f, 'PUT', '/c', { prefix: '/tenants/c/' });
    assert.is(httpPut.status, 409);
    assert.is(put.details, `tenants: ${httpMessage(httpPut)}`);
    for (const generation of [undefined, 0, 1]) {
      const req: TenantDeleteRequest = generation === undefined ? { name: 'c' } : { name: 'c', generation };
      const refused = await failure(f.rpc('delete', req));
      assert.is(refused.code, FAILED_PRECONDITION, `generation ${generation}`);
      const httpDelete = await http(f, 'DELETE', generation === undefined ? '/c' : `/c?generation=${generation}`);
      assert.is(httpDelete.status, 409);
      assert.is(refused.details, `tenants: ${httpMessage(httpDelete)}`);
    }
    assert.is((await f.rpc<TenantMessage>('get', 'c')).generation, 1, 'still there');
  });

  s('an admin tenant read and sent back is accepted unchanged; a Put giving a generation is INVALID_ARGUMENT', async (ctx) => {
    const f = fx(ctx);
    const m = await f.rpc<TenantMessage>('get', 'm');
    assert.equal(await f.rpc<TenantMessage>('put', m), m);
    const withGeneration = await failure(f.rpc('put', { ...m, generation: 3 }));
    assert.is(withGeneration.code, INVALID_ARGUMENT);
    assert.match(withGeneration.details, /generation is given only in the members' configuration/);
    assert.is((await f.rpc<TenantMessage>('get', 'm')).generation, undefined);
    // a generation names a configured spec: a retried delete must not remove an admin tenant made since
    const byGeneration = await failure(f.rpc('delete', { name: 'm', generation: 2 }));
    assert.is(byGeneration.code, FAILED_PRECONDITION);
    assert.is(byGeneration.details, `tenants: ${httpMessage(await http(f, 'DELETE', '/m?generation=2'))}`);
    assert.is((await f.rpc<TenantMessage>('get', 'm')).name, 'm', 'still there');
  });

  s('after a restart without it, a tenant stored with a generation is deleted only with that generation; pending and stale configured tenants say so', async (ctx) => {
    const f = fx(ctx);
    const kv = new KVClient(f.server.endpoint.replace(/^https?:\/\//, ''), credentials.createInsecure());
    await new Promise<void>((resolve, reject) => kv.put({ key: Buffer.from('/used/k'), value: Buffer.from('v'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false }, (e) => (e !== null ? reject(e) : resolve())));
    kv.close();
    f.client.close();
    writeFileSync(f.file, JSON.stringify(secondFile));
    await f.server.restart();
    Object.assign(f, connect(f.server));
    await settled(f, (ts) => ts.some((t) => t.name === 'u' && t.pending !== undefined && /already holds/.test(t.pending)), 'the tenant over a used prefix to be refused');

    const all = await listsAgree(f);
    const q = all.find((t) => t.name === 'q')!;
    assert.is(q.source, 'admin', 'no longer configured here');
    assert.is(q.generation, 2);
    assert.is(q.configState, undefined);
    const u = all.find((t) => t.name === 'u')!;
    assert.is(u.configState, 'pending');
    assert.match(u.pending ?? '', /prefix "\/used\/" already holds 1 keys/);
    assert.is(all.find((t) => t.name === 'd')?.configState, 'stale');
    assert.is(all.find((t) => t.name === 'd')?.generation, 2, "the cluster's spec");

    const putQ = await failure(f.rpc('put', { ...q, generation: undefined }));
    assert.is(putQ.code, FAILED_PRECONDITION);
    assert.is(putQ.details, `tenants: ${httpMessage(await http(f, 'PUT', '/q', { prefix: '/tenants/q/' }))}`);
    for (const req of [{ name: 'q' }, { name: 'q', generation: 1 }, { name: 'q', generation: 3 }]) {
      const refused = await failure(f.rpc('delete', req));
      assert.is(refused.code, FAILED_PRECONDITION, JSON.stringify(req));
      assert.match(refused.details, /generation 2.*Tenants\.Delete with generation 2/);
      const httpDelete = await http(f, 'DELETE', req.generation === undefined ? '/q' : `/q?generation=${req.generation}`);
      assert.is(refused.details, `tenants: ${httpMessage(httpDelete)}`);
    }
    assert.equal(await f.rpc('delete', { name: 'q', generation: 2 }), {});
    assert.is((await failure(f.rpc('get', 'q'))).code, NOT_FOUND);
    assert.is((await http(f, 'GET', '/q')).status, 404);
    assert.is((await failure(f.rpc('delete', { name: 'q', generation: 2 }))).code, NOT_FOUND);
  });

  s.run();
}
