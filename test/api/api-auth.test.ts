// /api with etcd auth enabled (by etcdctl): no credentials is 401, root by token or Basic password
// is served, and another user only within its role's key permissions (403 outside them, also for
// watches; locks and elections need root).
import * as assert from 'uvu/assert';
import { engines, startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { call, errorCode, openSse, openWs } from './api-client.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

for (const engine of engines) {
  const s = serverSuite(
    `api with auth enabled (${engine})`,
    async () => {
      const server: LatticeServer = await startLattice(engine);
      const url = server.endpoint;
      for (const args of [
        ['user', 'add', 'root', '--new-user-password=rootpw'],
        ['user', 'add', 'alice', '--new-user-password=alicepw'],
        ['role', 'add', 'reader'],
        ['role', 'grant-permission', 'reader', 'readwrite', 'a/', '--prefix=true'],
        ['user', 'grant-role', 'alice', 'reader'],
        ['auth', 'enable'],
      ]) {
        const r = await etcdctl(url, args);
        if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
      }
      return { server, url, stop: () => server.stop() };
    },
    missingTools(['etcdctl']),
  );

  s.it('without credentials /api answers 401; a bad token 401 with etcd text', async ({ url }) => {
    const none = await call(`${url}/api/kv/a/x`);
    assert.equal([none.status, errorCode(none)], [401, 'unauthenticated']);
    const bad = await call(`${url}/api/kv/a/x`, { headers: { Authorization: 'Bearer nope' } });
    assert.equal([bad.status, (bad.json.error as Record<string, unknown>).message], [401, 'etcdserver: invalid auth token']);
    const ws = await openWs(`${url.replace('http', 'ws')}/api/watch/a/x`);
    assert.is(ws.status, 401);
  });

  s.it('root is served with Basic credentials and with a token from Authenticate; its writes land', async ({ url }) => {
    const put = await call(`${url}/api/kv/a/x`, { method: 'PUT', body: 'v', headers: { Authorization: basic('root', 'rootpw') } });
    assert.is(put.status, 200);
    const auth = await call(`${url}/v3/auth/authenticate`, { method: 'POST', body: JSON.stringify({ name: 'root', password: 'rootpw' }) });
    const token = String(auth.json.token);
    const get = await call(`${url}/api/kv/a/x`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal([get.status, (get.json.kv as Record<string, unknown>).value], [200, 'v']);
    const wrongPw = await call(`${url}/api/kv/a/x`, { headers: { Authorization: basic('root', 'nope') } });
    assert.is(wrongPw.status, 401);
  });

  s.it("a user is served within its role's permissions and refused with 403 outside them", async ({ url }) => {
    const alice = { Authorization: basic('alice', 'alicepw') };
    const ok: [string, RequestInit][] = [
      ['/api/kv/a/y', { method: 'PUT', body: 'mine', headers: alice }],
      ['/api/kv/a/y', { headers: alice }],
      ['/api/kv/a/?prefix', { headers: alice }],
      ['/api/kv/a/y?history', { headers: alice }],
      ['/api/tree/a/', { headers: alice }],
      ['/api/export/a/', { headers: alice }],
      ['/api/status', { headers: alice }],
    ];
    for (const [path, init] of ok) assert.is((await call(`${url}${path}`, init)).status, 200, path);
    const refused: [string, RequestInit][] = [
      ['/api/kv/b/x', { headers: alice }],
      ['/api/kv/b/x', { method: 'PUT', body: 'x', headers: alice }],
      ['/api/kv/b/x', { method: 'DELETE', headers: alice }],
      ['/api/kv?prefix', { headers: alice }],
      ['/api/kv/b/x?history', { headers: alice }],
      ['/api/tree', { headers: alice }],
      ['/api/export/b/', { headers: alice }],
      ['/api/watch/b/x', { headers: { ...alice, Accept: 'text/event-stream' } }],
      ['/api/locks/l', { method: 'POST', body: '{"lease":"1"}', headers: alice }],
      ['/api/elections/e', { headers: alice }],
    ];
    for (const [path, init] of refused) {
      const r = await call(`${url}${path}`, init);
      assert.equal([r.status, errorCode(r)], [403, 'authPermissionDenied'], `${init.method ?? 'GET'} ${path}: ${r.text}`);
    }
    const sse = await openSse(`${url}/api/watch/a/?prefix`, alice);
    assert.is(sse.status, 200);
    sse.close();
    const ws = await openWs(`${url.replace('http', 'ws')}/api/watch/b/x`, alice);
    assert.is(ws.status, 403);
    assert.is((await call(`${url}/api/kv/b/x`, { headers: { Authorization: basic('root', 'rootpw') } })).status, 404);
  });

  s.it('repeated Basic requests reuse the verified credential: no Authenticate entry per request; a password change ends it', async ({ url }) => {
    const alice = { Authorization: basic('alice', 'alicepw') };
    const root = { Authorization: basic('root', 'rootpw') };
    assert.is((await call(`${url}/api/kv/a/c`, { headers: alice })).status, 404);
    const indexOf = async (): Promise<number> => Number((await call(`${url}/api/status`, { headers: alice })).json.raft_index);
    const before = await indexOf();
    for (let i = 0; i < 5; i++) assert.is((await call(`${url}/api/kv/a/c`, { headers: alice })).status, 404);
    assert.is(await indexOf(), before);
    const changed = await etcdctl(url, ['--user', 'root:rootpw', 'user', 'passwd', 'alice', '--interactive=false'], 'alicepw2\n');
    assert.is(changed.code, 0, changed.stderr);
    assert.is((await call(`${url}/api/kv/a/c`, { headers: alice })).status, 401);
    assert.is((await call(`${url}/api/kv/a/c`, { headers: { Authorization: basic('alice', 'alicepw2') } })).status, 404);
    const back = await etcdctl(url, ['--user', 'root:rootpw', 'user', 'passwd', 'alice', '--interactive=false'], 'alicepw\n');
    assert.is(back.code, 0, back.stderr);
    assert.is((await call(`${url}/api/kv/a/c`, { headers: root })).status, 404);
  });

  s.it('a lease shows its key names only to a caller who may read them all (CVE-2023-32082), on /api and gRPC; DELETE by a caller who may not write them is refused', async ({ url }) => {
    const root = { Authorization: basic('root', 'rootpw') };
    const alice = { Authorization: basic('alice', 'alicepw') };
    const grant = await call(`${url}/api/leases`, { method: 'POST', body: '{"ttl":600}', headers: root });
    const id = String(grant.json.id);
    const idHex = String(grant.json.id_hex);
    assert.is((await call(`${url}/api/kv/b/secret?lease=${id}`, { method: 'PUT', body: 's', headers: root })).status, 200);
    const refused = await call(`${url}/api/leases/${id}`, { headers: alice });
    assert.equal([refused.status, errorCode(refused)], [403, 'authPermissionDenied'], refused.text);
    const shown = await call(`${url}/api/leases/${id}`, { headers: root });
    assert.equal([shown.status, (shown.json.keys as unknown[]).length], [200, 1]);
    const grpcRefused = await etcdctl(url, ['--user', 'alice:alicepw', 'lease', 'timetolive', idHex, '--keys']);
    assert.ok(grpcRefused.code !== 0 && grpcRefused.stderr.includes('etcdserver: permission denied'), grpcRefused.stderr);
    const grpcNoKeys = await etcdctl(url, ['--user', 'alice:alicepw', 'lease', 'timetolive', idHex]);
    assert.is(grpcNoKeys.code, 0, grpcNoKeys.stderr);
    const grpcRoot = await etcdctl(url, ['--user', 'root:rootpw', 'lease', 'timetolive', idHex, '--keys']);
    assert.ok(grpcRoot.code === 0 && grpcRoot.stdout.includes('b/secret'), grpcRoot.stdout + grpcRoot.stderr);
    // DELETE: /api makes no check of its own; the revoke carries the caller and is refused when applied
    const revokeRefused = await call(`${url}/api/leases/${id}`, { method: 'DELETE', headers: alice });
    assert.equal([revokeRefused.status, errorCode(revokeRefused)], [403, 'authPermissionDenied'], revokeRefused.text);
    assert.is((await call(`${url}/api/kv/b/secret`, { headers: root })).status, 200);
    assert.is((await call(`${url}/api/leases/${id}`, { method: 'DELETE', headers: root })).status, 200);
    assert.is((await call(`${url}/api/kv/b/secret`, { headers: root })).status, 404);
  });

  s.run();
}
