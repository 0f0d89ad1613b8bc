// /api/openapi.json matches the server: every operation it lists is called (with good and bad input),
// each answer's status must be documented for that operation and its body must match the documented
// schema. Runs on both engines.
import * as assert from 'uvu/assert';
import { engines, startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { serverSuite } from '../helpers/spec.js';
import { call, openSse, type Answer } from './api-client.js';
import { validate, type JsonSchema } from './openapi-check.js';

interface Operation {
  readonly responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
}
interface Doc {
  readonly openapi: string;
  readonly paths: Record<string, Record<string, Operation>>;
  readonly components: { schemas: Record<string, JsonSchema> };
}

interface Sample {
  /** "get /api/kv/{key}": the operation in the document. */
  readonly op: string;
  readonly path: (s: State) => string;
  readonly init?: (s: State) => RequestInit;
  /** Remembers what later samples need (lease ID, lock key, leader). */
  readonly keep?: (a: Answer, s: State) => void;
}

interface State {
  lease: string;
  lockKey: string;
  leader: unknown;
}

const body = (o: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(o) });

const samples: Sample[] = [
  { op: 'get /api/openapi.json', path: () => '/api/openapi.json' },
  { op: 'put /api/kv/{key}', path: () => '/api/kv/doc/a', init: () => ({ method: 'PUT', body: 'v' }) },
  { op: 'put /api/kv/{key}', path: () => '/api/kv/doc/b?prev_kv', init: () => ({ method: 'PUT', body: 'v', headers: { 'If-None-Match': '*' } }) },
  { op: 'put /api/kv/{key}', path: () => '/api/kv/doc/b', init: () => ({ method: 'PUT', body: 'v', headers: { 'If-None-Match': '*' } }) },
  { op: 'put /api/kv/{key}', path: () => '/api/kv/doc/b', init: () => ({ method: 'PUT', body: 'v', headers: { 'If-Match': '1' } }) },
  { op: 'put /api/kv/{key}', path: () => '/api/kv/doc/c?lease=777', init: () => ({ method: 'PUT', body: 'v' }) },
  { op: 'put /api/kv/{key}', path: () => '/api/kv/doc/big', init: () => ({ method: 'PUT', body: Buffer.alloc(2 * 1024 * 1024) }) },
  { op: 'put /api/kv/{key}', path: () => '/api/kv/doc/a?nope', init: () => ({ method: 'PUT', body: 'v' }) },
  { op: 'put /api/kv/{key}', path: () => '/api/kv/doc/a', init: () => ({ method: 'PUT', body: 'v', headers: { Origin: 'http://evil.example' } }) },
  { op: 'get /api/kv/{key}', path: () => '/api/kv/doc/a?json' },
  { op: 'get /api/kv/{key}', path: () => '/api/kv/doc/?prefix&keys_only' },
  { op: 'get /api/kv/{key}', path: () => '/api/kv/doc/a?history' },
  { op: 'get /api/kv/{key}', path: () => '/api/kv/doc/a?raw' },
  { op: 'get /api/kv/{key}', path: () => '/api/kv/doc/missing' },
  { op: 'get /api/kv/{key}', path: () => '/api/kv/doc/a?revision=1000000' },
  { op: 'delete /api/kv/{key}', path: () => '/api/kv/doc/a', init: () => ({ method: 'DELETE', headers: { 'If-Match': '1' } }) },
  { op: 'delete /api/kv/{key}', path: () => '/api/kv/doc/a?prev_kv', init: () => ({ method: 'DELETE' }) },
  { op: 'delete /api/kv/{key}', path: () => '/api/kv/doc/a', init: () => ({ method: 'DELETE' }) },
  { op: 'delete /api/kv/{key}', path: () => '/api/kv/doc/?prefix', init: () => ({ method: 'DELETE' }) },
  { op: 'get /api/watch/{key}', path: () => '/api/watch/doc/a' },
  { op: 'get /api/watch/{key}', path: () => '/api/watch/doc/a?start_revision=1', init: () => ({ headers: { Accept: 'text/event-stream' } }) },
  { op: 'post /api/leases', path: () => '/api/leases', init: () => body({ ttl: 60 }), keep: (a, s) => (s.lease = String(a.json.id)) },
  { op: 'post /api/leases', path: () => '/api/leases', init: (s) => body({ ttl: 60, id: s.lease }) },
  { op: 'post /api/leases', path: () => '/api/leases', init: () => body({ ttl: 'x' }) },
  { op: 'get /api/leases', path: () => '/api/leases' },
  { op: 'get /api/leases/{id}', path: (s) => `/api/leases/${s.lease}` },
  { op: 'get /api/leases/{id}', path: () => '/api/leases/12345' },
  { op: 'post /api/leases/{id}/keepalive', path: (s) => `/api/leases/${s.lease}/keepalive`, init: () => ({ method: 'POST' }) },
  { op: 'post /api/leases/{id}/keepalive', path: () => '/api/leases/12345/keepalive', init: () => ({ method: 'POST' }) },
  { op: 'get /api/members', path: () => '/api/members' },
  { op: 'get /api/status', path: () => '/api/status' },
  { op: 'post /api/locks/{name}', path: () => '/api/locks/l', init: (s) => body({ lease: s.lease }), keep: (a, s) => (s.lockKey = String(a.json.key)) },
  { op: 'post /api/locks/{name}', path: () => '/api/locks/l', init: () => body({}) },
  { op: 'delete /api/locks/{name}', path: (s) => `/api/locks/${s.lockKey}`, init: () => ({ method: 'DELETE' }) },
  { op: 'get /api/elections/{name}', path: () => '/api/elections/e' },
  { op: 'post /api/elections/{name}/campaign', path: () => '/api/elections/e/campaign', init: (s) => body({ lease: s.lease, value: 'me' }), keep: (a, s) => (s.leader = a.json.leader) },
  { op: 'get /api/elections/{name}', path: () => '/api/elections/e' },
  { op: 'post /api/elections/{name}/proclaim', path: () => '/api/elections/e/proclaim', init: (s) => body({ leader: s.leader, value: 'me2' }) },
  { op: 'post /api/elections/{name}/proclaim', path: () => '/api/elections/e/proclaim', init: () => body({ leader: { name: 'e', key: 'e/none', rev: 1, lease: '1' }, value: 'x' }) },
  { op: 'post /api/elections/{name}/resign', path: () => '/api/elections/e/resign', init: (s) => body({ leader: s.leader }) },
  { op: 'get /api/tree/{key}', path: () => '/api/tree/doc/?limit=5' },
  { op: 'get /api/tree/{key}', path: () => '/api/tree?delimiter=' },
  { op: 'get /api/tree/{key}', path: () => '/api/tree/doc/?revision=1' },
  { op: 'get /api/export/{key}', path: () => '/api/export/doc/' },
  { op: 'get /api/export/{key}', path: () => '/api/export/doc/?revision=1' },
  { op: 'post /api/import', path: () => '/api/import', init: () => body({ kvs: [{ key: 'doc/i', value: 'x' }] }) },
  { op: 'post /api/import', path: () => '/api/import', init: () => body({ kvs: 'no' }) },
  { op: 'delete /api/leases/{id}', path: (s) => `/api/leases/${s.lease}`, init: () => ({ method: 'DELETE' }) },
  { op: 'delete /api/leases/{id}', path: (s) => `/api/leases/${s.lease}`, init: () => ({ method: 'DELETE' }) },
  { op: 'post /api/compaction', path: () => '/api/compaction', init: () => body({ revision: 3 }) },
  { op: 'post /api/compaction', path: () => '/api/compaction', init: () => body({ revision: 2 }) },
  { op: 'get /api/kv/{key}', path: () => '/api/kv/doc/b?revision=1' },
  { op: 'put /api/tenants/{name}', path: () => '/api/tenants/t1', init: () => ({ method: 'PUT', body: JSON.stringify({ prefix: '/tenant-t1/', users: ['u1'], limits: { maxKeys: 5, requestsPerSecond: 2.5 } }) }) },
  { op: 'put /api/tenants/{name}', path: () => '/api/tenants/t1', init: () => ({ method: 'PUT', body: JSON.stringify({ prefix: '/tenant-t1/', limits: { maxKeys: 6 } }) }) },
  { op: 'put /api/tenants/{name}', path: () => '/api/tenants/t2', init: () => ({ method: 'PUT', body: JSON.stringify({ prefix: 'doc/' }) }) },
  { op: 'put /api/tenants/{name}', path: () => '/api/tenants/t3', init: () => ({ method: 'PUT', body: JSON.stringify({ prefix: '/tenant-t1/x/' }) }) },
  { op: 'get /api/tenants', path: () => '/api/tenants' },
  { op: 'get /api/tenants/{name}', path: () => '/api/tenants/t1' },
  { op: 'get /api/tenants/{name}', path: () => '/api/tenants/none' },
  { op: 'delete /api/tenants/{name}', path: () => '/api/tenants/t1', init: () => ({ method: 'DELETE' }) },
  { op: 'delete /api/tenants/{name}', path: () => '/api/tenants/t1', init: () => ({ method: 'DELETE' }) },
];

for (const engine of engines) {
  const s = serverSuite(`api openapi document (${engine})`, async () => {
    const server: LatticeServer = await startLattice(engine);
    return { server, url: server.endpoint, stop: () => server.stop() };
  });

  s.it('every operation in /api/openapi.json answers only documented statuses with bodies of the documented shape', async ({ url }) => {
    const doc = (await call(`${url}/api/openapi.json`)).json as unknown as Doc;
    assert.match(doc.openapi, /^3\./);
    const operations = Object.entries(doc.paths).flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m} ${p}`));
    const sampled = new Set(samples.map((x) => x.op));
    assert.equal(operations.filter((o) => !sampled.has(o)), [], 'operations without a sample');
    assert.equal([...sampled].filter((o) => !operations.includes(o)), [], 'samples of undocumented operations');
    const state: State = { lease: '', lockKey: '', leader: null };
    const seen = new Set<string>();
    for (const sample of samples) {
      const [method, template] = sample.op.split(' ') as [string, string];
      const op = doc.paths[template]?.[method];
      assert.ok(op, sample.op);
      const path = sample.path(state);
      const init = sample.init?.(state) ?? {};
      const what = `${sample.op} (${path})`;
      if ((init.headers as Record<string, string> | undefined)?.Accept === 'text/event-stream') {
        const sse = await openSse(`${url}${path}`);
        assert.ok(op.responses[String(sse.status)], `${what}: status ${sse.status} not documented`);
        sse.close();
        seen.add(`${sample.op} ${sse.status}`);
        continue;
      }
      const a = await call(`${url}${path}`, init);
      const documented = op.responses[String(a.status)];
      assert.ok(documented, `${what}: status ${a.status} not documented (${a.text.slice(0, 200)})`);
      seen.add(`${sample.op} ${a.status}`);
      if (a.status === 204) {
        assert.is(documented!.content, undefined, `${what}: 204 documented with a body`);
        continue;
      }
      const type = (a.headers.get('content-type') ?? '').split(';')[0]!;
      const media = documented!.content?.[type];
      assert.ok(media, `${what}: content type ${type} not documented for ${a.status}`);
      if (type === 'application/json') {
        const errors = validate(JSON.parse(a.text) as unknown, media!.schema, doc.components.schemas);
        assert.equal(errors, [], `${what}: ${a.text.slice(0, 300)}`);
      }
      sample.keep?.(a, state);
    }
    // the samples reach the interesting answers, not only the 200s
    for (const expected of ['put /api/kv/{key} 412', 'put /api/kv/{key} 413', 'get /api/kv/{key} 404', 'post /api/leases 409', 'get /api/kv/{key} 410', 'put /api/kv/{key} 403', 'put /api/tenants/{name} 201', 'put /api/tenants/{name} 200', 'put /api/tenants/{name} 409', 'put /api/tenants/{name} 400', 'delete /api/tenants/{name} 204', 'delete /api/tenants/{name} 404']) {
      assert.ok(seen.has(expected), `no sample answered ${expected}`);
    }
  });

  s.run();
}
